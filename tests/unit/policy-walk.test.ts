import { readdirSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { create, createFileRegistry, setExtension, type DescService } from "@bufbuild/protobuf";
import { file_google_protobuf_descriptor, FileDescriptorProtoSchema, MethodOptionsSchema, type MethodOptions } from "@bufbuild/protobuf/wkt";
import { Code, createClient, createRouterTransport } from "@connectrpc/connect";
import { beforeAll, describe, expect, it } from "vitest";
import { Access, file_warden_options_v1_options, policy, PolicySchema } from "../../gen/warden/options/v1/options_pb.js";
import { errorsInterceptor } from "../../src/interceptors/errors.js";
import { policyInterceptor } from "../../src/interceptors/policy.js";
import { createLogger } from "../../src/logger.js";
import { methodsWithoutPolicy, policyOf } from "../../src/policy.js";
import { SERVICES } from "../../src/routes.js";
import { expectError } from "../helpers/expect-error.js";

const GEN = fileURLToPath(new URL("../../gen/", import.meta.url));

/** Every service in every generated file under gen/warden and gen/grpc, found by walking the tree. */
async function generatedServices(): Promise<DescService[]> {
  const services: DescService[] = [];
  for (const root of ["warden", "grpc"]) {
    const files = readdirSync(GEN + root, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith("_pb.ts"));
    for (const file of files) {
      const mod = (await import(pathToFileURL(`${GEN}${root}/${file}`).href)) as Record<string, unknown>;
      for (const value of Object.values(mod))
        if (typeof value === "object" && value !== null && (value as { kind?: unknown }).kind === "service") services.push(value as DescService);
    }
  }
  return services;
}

describe("every generated RPC declares an access policy", () => {
  let services: DescService[];
  beforeAll(async () => {
    services = await generatedServices();
  });

  it("finds the generated services, the standard health service among them", () => {
    const names = services.map((s) => s.typeName);
    expect(names).toEqual(
      expect.arrayContaining(["grpc.health.v1.Health", "warden.auth.v1.AuthService", "warden.session.v1.SessionService", "warden.user.v1.UserService"]),
    );
    expect(new Set(names).size).toBe(names.length);
  });

  it("gives every method of every generated service a policy with a real access kind", () => {
    const missing: string[] = [];
    for (const service of services)
      for (const method of service.methods) {
        const p = policyOf(method);
        if (!p || Access[p.access] === undefined || p.access === Access.UNSPECIFIED) missing.push(`${service.typeName}/${method.name}`);
      }
    expect(missing).toEqual([]);
    expect(methodsWithoutPolicy(services)).toEqual([]);
  });

  it("covers every service the server registers", () => {
    const generated = new Set(services.map((s) => s.typeName));
    expect(SERVICES.length).toBeGreaterThan(0);
    for (const s of SERVICES) expect(generated, s.typeName).toContain(s.typeName);
    expect(methodsWithoutPolicy(SERVICES)).toEqual([]);
  });
});

/** A service built here, in a file that imports options.proto, with one method per policy shape. */
function probeService(): DescService {
  const withPolicy = (access: Access): MethodOptions => {
    const options = create(MethodOptionsSchema);
    setExtension(options, policy, create(PolicySchema, { access, audit: "probe.call" }));
    return options;
  };
  const method = (name: string, options?: MethodOptions) => ({ name, inputType: ".probe.v1.Empty", outputType: ".probe.v1.Empty", options });
  const file = create(FileDescriptorProtoSchema, {
    name: "probe/v1/probe.proto",
    package: "probe.v1",
    syntax: "proto3",
    dependency: ["warden/options/v1/options.proto"],
    messageType: [{ name: "Empty" }],
    service: [
      {
        name: "ProbeService",
        method: [
          method("NoOption"),
          method("Unspecified", withPolicy(Access.UNSPECIFIED)),
          method("Public", withPolicy(Access.PUBLIC)),
          method("Agent", withPolicy(Access.AGENT)),
          method("Dev", withPolicy(Access.DEV)),
        ],
      },
    ],
  });
  const deps = new Map([
    ["warden/options/v1/options.proto", file_warden_options_v1_options],
    ["google/protobuf/descriptor.proto", file_google_protobuf_descriptor],
  ]);
  return createFileRegistry(file, (name) => deps.get(name)).getService("probe.v1.ProbeService")!;
}

describe("a method without a usable policy is caught", () => {
  const probe = probeService();

  it("reads the policy of the methods that have one", () => {
    const byName = Object.fromEntries(probe.methods.map((m) => [m.name, policyOf(m)?.access]));
    expect(byName).toEqual({ NoOption: undefined, Unspecified: undefined, Public: Access.PUBLIC, Agent: Access.AGENT, Dev: Access.DEV });
  });

  it("lists a method with no option and a method with ACCESS_UNSPECIFIED as missing", () => {
    expect(methodsWithoutPolicy([probe])).toEqual(["probe.v1.ProbeService/NoOption", "probe.v1.ProbeService/Unspecified"]);
  });

  it("and the policy interceptor refuses them at call time (fail closed)", async () => {
    const impl = Object.fromEntries(probe.methods.map((m) => [m.localName, async () => ({})]));
    // None of these paths reaches organization checks, so dev mode is the only option needed.
    const opts = { dev: false } as Parameters<typeof policyInterceptor>[0];
    const transport = createRouterTransport((router) => router.service(probe, impl as never), {
      router: { interceptors: [errorsInterceptor(createLogger("silent")), policyInterceptor(opts)] },
    });
    const client = createClient(probe, transport) as unknown as Record<string, (req: object) => Promise<unknown>>;
    await expectError(client.noOption!({}), Code.PermissionDenied, "NO_POLICY");
    await expectError(client.unspecified!({}), Code.PermissionDenied, "NO_POLICY");
    await expectError(client.agent!({}), Code.Unauthenticated);
    await expectError(client.dev!({}), Code.Unimplemented, "DEV_MODE_OFF");
    await expect(client.public!({})).resolves.toBeDefined();
  });
});
