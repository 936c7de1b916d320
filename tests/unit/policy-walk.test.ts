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
import { methodsWithoutPolicy, policyOf, policyProblems, policyProblemsOf } from "../../src/policy.js";
import { PERMISSIONS } from "../../src/domain/rbac/permissions.js";
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

type PolicyInit = Parameters<typeof create<typeof PolicySchema>>[1];

/** A service built here, in a file that imports options.proto, with one method per policy shape. */
function probeService(): DescService {
  const withPolicy = (init: PolicyInit): MethodOptions => {
    const options = create(MethodOptionsSchema);
    setExtension(options, policy, create(PolicySchema, init));
    return options;
  };
  const method = (name: string, options?: MethodOptions, input = ".probe.v1.Empty") => ({ name, inputType: input, outputType: ".probe.v1.Empty", options });
  const orgRequest = ".probe.v1.OrgRequest";
  const file = create(FileDescriptorProtoSchema, {
    name: "probe/v1/probe.proto",
    package: "probe.v1",
    syntax: "proto3",
    dependency: ["warden/options/v1/options.proto"],
    messageType: [
      { name: "Empty" },
      {
        name: "OrgRequest",
        field: [
          { name: "organization_id", number: 1, type: 9 /* string */, label: 1, jsonName: "organizationId" },
          { name: "count", number: 2, type: 5 /* int32 */, label: 1, jsonName: "count" },
        ],
      },
    ],
    service: [
      {
        name: "ProbeService",
        method: [
          method("NoOption"),
          method("Unspecified", withPolicy({ access: Access.UNSPECIFIED })),
          method("Public", withPolicy({ access: Access.PUBLIC })),
          // A number no Access value has: no server can serve it.
          method("Reserved", withPolicy({ access: 99 as Access })),
          method("Agent", withPolicy({ access: Access.AGENT })),
          method("AgentWithPermission", withPolicy({ access: Access.AGENT, permission: { resource: "node", verb: "list" } })),
          method("Dev", withPolicy({ access: Access.DEV })),
          method("Admin", withPolicy({ access: Access.ADMIN, permission: { resource: "audit_log", verb: "list" } })),
          method("AdminWithoutPermission", withPolicy({ access: Access.ADMIN })),
          method("UnknownResource", withPolicy({ access: Access.ADMIN, permission: { resource: "audit_logs", verb: "list" } })),
          method("UnknownVerb", withPolicy({ access: Access.AUTHENTICATED, permission: { resource: "user", verb: "teleport" } })),
          method("Org", withPolicy({ access: Access.ORG_ADMIN, orgField: "organization_id" }), orgRequest),
          method("OrgMisspelled", withPolicy({ access: Access.ORG_ADMIN, orgField: "organisation_id" }), orgRequest),
          method("OrgFieldNotText", withPolicy({ access: Access.ORG_MEMBER, orgField: "count" }), orgRequest),
          method("OrgWithoutField", withPolicy({ access: Access.ORG_MEMBER }), orgRequest),
          method("FieldWithoutOrg", withPolicy({ access: Access.AUTHENTICATED, orgField: "organization_id" }), orgRequest),
          method("UnknownRateClass", withPolicy({ access: Access.PUBLIC, rateClass: 9 as never })),
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

describe("a method whose policy cannot be enforced stops the server at start", () => {
  const probe = probeService();

  it("reads the policy of the methods that have one", () => {
    const byName = Object.fromEntries(probe.methods.map((m) => [m.name, policyOf(m)?.access]));
    expect(byName).toMatchObject({ NoOption: undefined, Unspecified: undefined, Public: Access.PUBLIC, Reserved: 99, Dev: Access.DEV, Org: Access.ORG_ADMIN });
  });

  it("lists a method with no option and a method with ACCESS_UNSPECIFIED as missing", () => {
    expect(methodsWithoutPolicy([probe])).toEqual(["probe.v1.ProbeService/NoOption", "probe.v1.ProbeService/Unspecified"]);
  });

  it("names every problem: no policy, an access kind not served, permissions, org_field, rate class", () => {
    const problems = Object.fromEntries(probe.methods.map((m) => [m.name, policyProblemsOf(m)]));
    expect(problems).toEqual({
      NoOption: ["no access policy"],
      Unspecified: ["no access policy"],
      Public: [],
      Reserved: ["access 99 is not served"],
      Agent: [],
      AgentWithPermission: ["agent access takes no permission, scope or fresh_mfa"],
      Dev: [],
      Admin: [],
      AdminWithoutPermission: ["ACCESS_ADMIN needs a permission"],
      UnknownResource: ["unknown permission audit_logs/list"],
      UnknownVerb: ["unknown permission user/teleport"],
      Org: [],
      OrgMisspelled: ['org_field "organisation_id" is not a string field of probe.v1.OrgRequest'],
      OrgFieldNotText: ['org_field "count" is not a string field of probe.v1.OrgRequest'],
      OrgWithoutField: ["organization access needs org_field"],
      FieldWithoutOrg: ["org_field is only for organization access"],
      UnknownRateClass: ["unknown rate class 9"],
    });
    expect(policyProblems([probe])).toContain('probe.v1.ProbeService/OrgMisspelled: org_field "organisation_id" is not a string field of probe.v1.OrgRequest');
  });

  it("every served method passes the same check", () => {
    expect(policyProblems(SERVICES)).toEqual([]);
  });

  it("every permission a method declares is in the permission list, and each listed permission is used by a method", () => {
    const declared = new Set(
      SERVICES.flatMap((s) =>
        s.methods
          .map((m) => policyOf(m)?.permission)
          .filter((p) => p?.resource)
          .map((p) => `${p!.resource}/${p!.verb}`),
      ),
    );
    const listed = Object.entries(PERMISSIONS).flatMap(([resource, verbs]) => verbs.map((v) => `${resource}/${v}`));
    // role/assign is checked inside UserAdmin (granting roles), access_request/list inside
    // AccessRequests (widening what Get/ListAccessRequests show), recording/read_reachable inside
    // RecordingReaders (recordings of the role's own nodes), not by a method of their own.
    const inDomain = ["role/assign", "access_request/list", "recording/read_reachable"];
    expect([...declared].sort()).toEqual(listed.filter((p) => !inDomain.includes(p)).sort());
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
    await expectError(client.reserved!({}), Code.Unauthenticated);
    // No agent credential was established (the authn interceptor is not even here): refused.
    await expectError(client.agent!({}), Code.Unauthenticated, "AGENT_CREDENTIAL_INVALID");
    await expectError(client.dev!({}), Code.Unimplemented, "DEV_MODE_OFF");
    await expect(client.public!({})).resolves.toBeDefined();
  });
});
