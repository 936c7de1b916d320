import { create, createFileRegistry, fromBinary, hasOption } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { Code, createClient, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { ServerReflection as ReflectionV1, type ServerReflectionResponse } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { policy as policyExtension } from "../../gen/warden/options/v1/options_pb.js";
import { MAX_REFLECTION_REQUESTS } from "../../src/handlers/reflection.js";
import { newUser } from "../helpers/accounts.js";
import { expectError } from "../helpers/expect-error.js";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

type Question = Parameters<Client<typeof ReflectionV1>["serverReflectionInfo"]>[0] extends AsyncIterable<infer Q> ? Q : never;

/** Sends the questions on one reflection stream and collects its answers. */
async function ask(
  client: Client<typeof ReflectionV1> | Client<typeof ReflectionV1alpha>,
  questions: object[],
  opts = {},
): Promise<ServerReflectionResponse[]> {
  async function* send() {
    for (const q of questions) yield q as Question;
  }
  const answers: ServerReflectionResponse[] = [];
  for await (const a of (client as Client<typeof ReflectionV1>).serverReflectionInfo(send(), opts)) answers.push(a);
  return answers;
}

function filesOf(answer: ServerReflectionResponse): FileDescriptorProto[] {
  if (answer.messageResponse.case !== "fileDescriptorResponse")
    throw new Error(`expected files, got ${answer.messageResponse.case}: ${JSON.stringify(answer.messageResponse.value)}`);
  return answer.messageResponse.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b));
}

/** The files with each one's imports before it; throws when an import is not among them. */
function importsFirst(files: FileDescriptorProto[]): FileDescriptorProto[] {
  const byName = new Map(files.map((f) => [f.name, f]));
  const ordered: FileDescriptorProto[] = [];
  const visit = (f: FileDescriptorProto) => {
    if (ordered.includes(f)) return;
    for (const dep of f.dependency) {
      const d = byName.get(dep);
      if (!d) throw new Error(`${f.name} imports ${dep}, which the answer left out`);
      visit(d);
    }
    ordered.push(f);
  };
  files.forEach(visit);
  return ordered;
}

function errorOf(answer: ServerReflectionResponse): { errorCode: number; errorMessage: string } {
  if (answer.messageResponse.case !== "errorResponse") throw new Error(`expected an error, got ${answer.messageResponse.case}`);
  return answer.messageResponse.value;
}

describe("server reflection (public, the default)", () => {
  let t: TestApp;
  let v1: Client<typeof ReflectionV1>;
  beforeAll(async () => {
    t = await createTestApp();
    v1 = createClient(ReflectionV1, t.transport);
  });
  afterAll(() => t.close());

  it("lists exactly the services the server registered, reflection included", async () => {
    const [answer] = await ask(v1, [{ host: "", messageRequest: { case: "listServices", value: "" } }]);
    expect(answer!.messageResponse.case).toBe("listServicesResponse");
    const names = answer!.messageResponse.case === "listServicesResponse" ? answer!.messageResponse.value.service.map((s) => s.name) : [];
    // DevService answers nothing outside dev mode, so it is not advertised there.
    expect(names.sort()).toEqual(
      t.app.services
        .map((s) => s.typeName)
        .filter((n) => n !== "warden.dev.v1.DevService")
        .sort(),
    );
    expect(names).toEqual(
      expect.arrayContaining([
        "warden.auth.v1.AuthService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
      ]),
    );
  });

  it("answers a symbol with its file and every file it imports, enough to build the schema", async () => {
    const [answer] = await ask(v1, [{ host: "", messageRequest: { case: "fileContainingSymbol", value: "warden.auth.v1.AuthService" } }]);
    const files = filesOf(answer!);
    expect(files[0]!.name).toBe("warden/auth/v1/auth_service.proto");
    expect(files.map((f) => f.name)).toEqual(expect.arrayContaining(["warden/options/v1/options.proto", "google/protobuf/descriptor.proto"]));
    // A client builds its registry from nothing but these files: every import must be among them.
    const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: importsFirst(files) }));
    const auth = registry.getService("warden.auth.v1.AuthService");
    expect(auth?.methods.map((m) => m.name)).toEqual(expect.arrayContaining(["Register", "Login", "Refresh", "Logout"]));
    // The per-RPC policy option travels with the descriptors.
    const login = auth!.methods.find((m) => m.name === "Login")!;
    expect(hasOption(login, policyExtension)).toBe(true);
  });

  it("finds methods, nested types and fields by their full names; sends each file once per stream", async () => {
    const answers = await ask(v1, [
      { host: "", messageRequest: { case: "fileContainingSymbol", value: "warden.auth.v1.AuthService.Login" } },
      { host: "", messageRequest: { case: "fileContainingSymbol", value: "grpc.health.v1.HealthCheckResponse.ServingStatus" } },
      { host: "", messageRequest: { case: "fileContainingSymbol", value: "warden.auth.v1.LoginRequest.email" } },
    ]);
    expect(filesOf(answers[0]!)[0]!.name).toBe("warden/auth/v1/auth_service.proto");
    const health = filesOf(answers[1]!);
    expect(health[0]!.name).toBe("grpc/health/v1/health.proto");
    // options.proto (and descriptor.proto) went with the first answer: not again.
    expect(health.map((f) => f.name)).not.toContain("warden/options/v1/options.proto");
    // The file asked for always comes, even when sent before.
    expect(filesOf(answers[2]!).map((f) => f.name)).toEqual(["warden/auth/v1/auth_service.proto"]);
  });

  it("answers files by name, extensions by number, and NOT_FOUND for what it does not have", async () => {
    const answers = await ask(v1, [
      { host: "", messageRequest: { case: "fileByFilename", value: "grpc/health/v1/health.proto" } },
      { host: "", messageRequest: { case: "allExtensionNumbersOfType", value: "google.protobuf.MethodOptions" } },
      {
        host: "",
        messageRequest: {
          case: "fileContainingExtension",
          value: { containingType: "google.protobuf.MethodOptions", extensionNumber: policyExtension.number },
        },
      },
      { host: "", messageRequest: { case: "fileContainingSymbol", value: "warden.nope.v1.Missing" } },
      { host: "", messageRequest: { case: "fileByFilename", value: "../../etc/passwd" } },
      { host: "", messageRequest: { case: "fileContainingExtension", value: { containingType: "google.protobuf.MethodOptions", extensionNumber: 1 } } },
      { host: "", messageRequest: { case: "allExtensionNumbersOfType", value: "warden.nope.v1.Missing" } },
      { host: "", messageRequest: { case: undefined } },
    ]);
    expect(filesOf(answers[0]!)[0]!.name).toBe("grpc/health/v1/health.proto");
    expect(answers[1]!.messageResponse).toEqual({
      case: "allExtensionNumbersResponse",
      value: expect.objectContaining({ baseTypeName: "google.protobuf.MethodOptions", extensionNumber: expect.arrayContaining([policyExtension.number]) }),
    });
    expect(filesOf(answers[2]!)[0]!.name).toBe("warden/options/v1/options.proto");
    for (const i of [3, 4, 5, 6]) expect(errorOf(answers[i]!).errorCode).toBe(Code.NotFound);
    expect(errorOf(answers[7]!).errorCode).toBe(Code.InvalidArgument);
    expect(answers[3]!.originalRequest?.messageRequest).toEqual({ case: "fileContainingSymbol", value: "warden.nope.v1.Missing" });
  });

  it("answers the same under its older name, v1alpha", async () => {
    const alpha = createClient(ReflectionV1alpha, t.transport);
    const answers = await ask(alpha, [
      { host: "h", messageRequest: { case: "listServices", value: "" } },
      { host: "h", messageRequest: { case: "fileContainingSymbol", value: "warden.user.v1.UserService" } },
    ]);
    expect(answers[0]!.validHost).toBe("h");
    expect(answers[0]!.messageResponse.case).toBe("listServicesResponse");
    expect(filesOf(answers[1] as unknown as ServerReflectionResponse)[0]!.name).toBe("warden/user/v1/user_service.proto");
  });

  it(`ends a stream that asks more than ${MAX_REFLECTION_REQUESTS} questions with RESOURCE_EXHAUSTED`, async () => {
    const questions = Array.from({ length: MAX_REFLECTION_REQUESTS + 1 }, () => ({ host: "", messageRequest: { case: "listServices", value: "" } }));
    await expectError(ask(v1, questions), Code.ResourceExhausted);
  });
});

describe("reflection settings", () => {
  it("authenticated: anonymous callers are refused, a signed-in user is answered", async () => {
    const t = await createTestApp({ reflection: "authenticated" });
    try {
      const v1 = createClient(ReflectionV1, t.transport);
      const list = [{ host: "", messageRequest: { case: "listServices", value: "" } }];
      await expectError(ask(v1, list), Code.Unauthenticated);
      await expectError(ask(createClient(ReflectionV1alpha, t.transport), list), Code.Unauthenticated);
      const user = await newUser(t, { tag: "reflect" });
      const [answer] = await ask(v1, list, user.auth);
      expect(answer!.messageResponse.case).toBe("listServicesResponse");
    } finally {
      await t.close();
    }
  });

  it("off: reflection is not served, not listed and unknown to health", async () => {
    const t = await createTestApp({ reflection: "off" });
    try {
      const list = [{ host: "", messageRequest: { case: "listServices", value: "" } }];
      await expectError(ask(createClient(ReflectionV1, t.transport), list), Code.Unimplemented);
      expect(t.app.services.map((s) => s.typeName)).not.toContain("grpc.reflection.v1.ServerReflection");
      await expectError(createClient(Health, t.transport).check({ service: "grpc.reflection.v1.ServerReflection" }), Code.NotFound);
    } finally {
      await t.close();
    }
  });
});

describe("grpc.health.v1.Health as its spec reads", () => {
  let t: TestApp;
  let health: Client<typeof Health>;
  beforeAll(async () => {
    t = await createTestApp();
    health = createClient(Health, t.transport);
  });
  afterAll(() => t.close());

  it("knows the server, 'warden' and every registered service; NOT_FOUND for any other name", async () => {
    for (const service of ["", "warden", ...t.app.services.map((s) => s.typeName)])
      expect((await health.check({ service })).status, service).toBe(Status.SERVING);
    await expectError(health.check({ service: "warden.nope.v1.Missing" }), Code.NotFound);
  });

  it("Watch of an unknown service reports SERVICE_UNKNOWN and stays open; a passed deadline ends it with DEADLINE_EXCEEDED", async () => {
    const seen: Status[] = [];
    const watch = (async () => {
      for await (const r of health.watch({ service: "warden.nope.v1.Missing" }, { timeoutMs: 400 })) seen.push(r.status);
    })();
    await expectError(watch, Code.DeadlineExceeded);
    expect(seen).toEqual([Status.SERVICE_UNKNOWN]);
  });

  it("Watch of the server ends with DEADLINE_EXCEEDED, not OK, when its deadline passes", async () => {
    const seen: Status[] = [];
    const watch = (async () => {
      for await (const r of health.watch({ service: "" }, { timeoutMs: 400 })) seen.push(r.status);
    })();
    await expectError(watch, Code.DeadlineExceeded);
    expect(seen).toEqual([Status.SERVING]);
  });
});
