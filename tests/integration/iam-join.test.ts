import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, createClient, createRouterTransport, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentService } from "../../gen/warden/agent/v1/agent_service_pb.js";
import { AuditService } from "../../gen/warden/audit/v1/audit_service_pb.js";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import {
  JoinMethod,
  JoinService,
  type IamJoinChallenge,
  type IamJoinProofSchema,
  type IamJoinStartSchema,
  type RegisterAgentResponse,
  type RegisterUsingIAMMethodRequestSchema,
} from "../../gen/warden/join/v1/join_service_pb.js";
import type { IamJoin } from "../../src/domain/join/iam-join.js";
import type { JoinTokenRow } from "../../src/domain/records.js";
import { iamJoinHandlers } from "../../src/handlers/iam-join.js";
import { toConnectError } from "../../src/interceptors/errors.js";
import { createLogger } from "../../src/logger.js";
import { startServer, type RunningServer } from "../../src/server.js";
import { expectError, settleAll } from "../helpers/expect-error.js";
import { signGetCallerIdentity, startStsStandIn, type AwsPrincipal, type SignOptions, type StsStandIn } from "../helpers/sts-standin.js";
import { ADMIN_EMAIL, ADMIN_PASSWORD, bearer, createTestApp, type TestApp } from "../helpers/test-app.js";

type Start = MessageInitShape<typeof IamJoinStartSchema>;
type Proof = MessageInitShape<typeof IamJoinProofSchema>;
type Step = MessageInitShape<typeof RegisterUsingIAMMethodRequestSchema>;
type Joiner = Pick<Client<typeof JoinService>, "registerUsingIAMMethod">;

const ACCOUNT = "111122223333";
const OTHER_ACCOUNT = "444455556666";

/** Long-term keys of an IAM user. */
const alice: AwsPrincipal = {
  accessKeyId: "AKIAALICE0EXAMPLE001",
  secretAccessKey: "alice/secret/K7MDENG/bPxRfiCYEXAMPLEKEY",
  account: ACCOUNT,
  arn: `arn:aws:iam::${ACCOUNT}:user/alice`,
  userId: "AIDAALICE0EXAMPLE001",
};
/** Temporary credentials of an assumed role, as an EC2 instance has them (with a session token). */
const webNode: AwsPrincipal = {
  accessKeyId: "ASIAWEBNODE0EXAMPLE1",
  secretAccessKey: "webnode/secret/wJalrXUtnFEMI/K7MDENGbPxRfiCY",
  sessionToken: "IQoJb3JpZ2luX2VjEXAMPLE-session-token-web",
  account: ACCOUNT,
  arn: `arn:aws:sts::${ACCOUNT}:assumed-role/warden-node-web/i-0abc1234def567890`,
  userId: "AROAWEBNODE0EXAMPLE1:i-0abc1234def567890",
};
const billing: AwsPrincipal = {
  accessKeyId: "ASIABILLING0EXAMPLE1",
  secretAccessKey: "billing/secret/wJalrXUtnFEMI/K7MDENGbPxRfiCY",
  sessionToken: "IQoJb3JpZ2luX2VjEXAMPLE-session-token-billing",
  account: ACCOUNT,
  arn: `arn:aws:sts::${ACCOUNT}:assumed-role/billing/i-0fed1234def567890`,
  userId: "AROABILLING0EXAMPLE1:i-0fed1234def567890",
};
const mallory: AwsPrincipal = {
  accessKeyId: "AKIAMALLORY0EXAMPLE1",
  secretAccessKey: "mallory/secret/K7MDENG/bPxRfiCYEXAMPLEKEY",
  account: OTHER_ACCOUNT,
  arn: `arn:aws:iam::${OTHER_ACCOUNT}:user/mallory`,
  userId: "AIDAMALLORY0EXAMPLE1",
};

/**
 * One IAM join as an agent runs it: `start`, wait for the challenge, then the proof `prove`
 * makes for it. Resolves with the challenge and `registered`; rejects with the server's error.
 */
async function iamJoin(client: Joiner, start: Start, prove: (c: IamJoinChallenge) => Promise<Proof>) {
  let challenged!: (c: IamJoinChallenge | undefined) => void;
  const challenge = new Promise<IamJoinChallenge | undefined>((resolve) => (challenged = resolve));
  async function* requests(): AsyncGenerator<Step> {
    yield { step: { case: "start", value: start } };
    const c = await challenge;
    if (c) yield { step: { case: "proof", value: await prove(c) } };
  }
  let seen: IamJoinChallenge | undefined;
  try {
    for await (const res of client.registerUsingIAMMethod(requests())) {
      if (res.step.case === "challenge") challenged((seen = res.step.value));
      if (res.step.case === "registered") return { challenge: seen!, registered: res.step.value as RegisterAgentResponse };
    }
    throw new Error("the stream ended without `registered`");
  } finally {
    // A conversation the server ended early: the request side stops waiting too.
    challenged(undefined);
  }
}

/** Sends these messages as they come, without waiting for answers; the server's answers, or its error. */
async function converse(client: Joiner, steps: Step[]) {
  async function* requests() {
    yield* steps;
  }
  const answers: string[] = [];
  for await (const res of client.registerUsingIAMMethod(requests())) answers.push(res.step.case ?? "");
  return answers;
}

function agentAuth(r: RegisterAgentResponse) {
  return { headers: { "x-agent-id": r.agentId, authorization: `Bearer ${r.agentToken}` } };
}

describe("the IAM join (RegisterUsingIAMMethod)", () => {
  let sts: StsStandIn;
  let t: TestApp;
  let join_: Client<typeof JoinService>;
  let agents: Client<typeof AgentService>;
  let admin: ReturnType<typeof bearer>;
  let hostCount = 0;

  beforeAll(async () => {
    sts = await startStsStandIn([alice, webNode, billing, mallory]);
    // Budgets high: this file's refusals are not about rate limits (see the last describe).
    t = await createTestApp({ sts_endpoint: sts.url, sts_timeout_ms: 500, rate_class_budgets: "join_token=10000" });
    join_ = t.client(JoinService);
    agents = t.client(AgentService);
    admin = bearer((await t.client(AuthService).login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD })).accessToken);
  });
  afterAll(async () => {
    await t?.close();
    await sts?.close();
  });

  async function iamToken(allow: { awsAccount: string; awsArn?: string }[], uses = 1) {
    return join_.createJoinToken({ joinMethod: JoinMethod.IAM, allow, uses, labels: { cloud: "aws" }, ttl: { seconds: 600n } }, admin);
  }
  function start(token: string, extra: Partial<Start> = {}): Start {
    return { token, hostname: `iam-node-${++hostCount}.example`, addresses: ["10.1.2.3"], labels: { tier: "web" }, version: "1.2.3", ...extra };
  }
  /** The proof an agent with these credentials makes for the challenge, now, for the configured STS. */
  function proofBy(principal: AwsPrincipal, opts: Partial<SignOptions> = {}) {
    return (c: IamJoinChallenge) =>
      signGetCallerIdentity({ host: sts.host, principal, challenge: c.challenge, headerName: c.headerName, signingDate: t.clock.now(), ...opts });
  }

  it("an identity the token's rules admit joins: the node is listed (join_method iam), the use is spent, the agent token works", async () => {
    const { token, joinToken } = await iamToken([{ awsAccount: ACCOUNT }]);
    const answered = sts.answered.length;
    const { challenge, registered } = await iamJoin(join_, start(token, { hostname: "iam-web-1.example" }), proofBy(alice));
    expect(challenge.headerName).toBe("x-warden-challenge");
    expect(challenge.challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(registered).toMatchObject({ clusterName: "warden", agentToken: expect.stringMatching(/^wdn_a_/) });
    // STS (the stand-in) checked the SDK's signature and vouched for alice.
    expect(sts.answered.slice(answered)).toEqual([alice.arn]);

    const node = (await agents.listNodes({}, admin)).nodes.find((n) => n.id === registered.agentId)!;
    expect(node).toMatchObject({ hostname: "iam-web-1.example", joinMethod: "iam", addresses: ["10.1.2.3"], version: "1.2.3", roles: ["node"] });
    expect(node.labels).toMatchObject({ cloud: "aws", tier: "web" });
    const listed = (await join_.listJoinTokens({}, admin)).joinTokens.find((j) => j.id === joinToken!.id)!;
    expect(listed).toMatchObject({ usesRemaining: 0, spent: true });
    await expect(agents.agentHeartbeat({}, agentAuth(registered))).resolves.toBeDefined();

    // The token is spent: a second join with it is refused before any challenge.
    await expectError(iamJoin(join_, start(token), proofBy(alice)), Code.Unauthenticated, "JOIN_TOKEN_USED_UP");

    // The registration is audited with the AWS identity that proved itself, never the secrets.
    const events = await t.client(AuditService).queryAuditEvents({ eventTypes: ["node.register"], targetId: registered.agentId }, admin);
    expect(events.events).toHaveLength(1);
    expect(events.events[0]!.details).toMatchObject({ join_method: "iam", aws_account: ACCOUNT, aws_arn: alice.arn });
    expect(JSON.stringify(events.events[0]!.details)).not.toMatch(/wdn_[ja]_|Signature=|x-warden/);
  });

  it("temporary credentials (X-Amz-Security-Token) work, and STS's XML answer reads like its JSON one", async () => {
    const { token } = await iamToken([{ awsAccount: ACCOUNT }], 2);
    await expect(iamJoin(join_, start(token), proofBy(webNode))).resolves.toBeDefined();
    sts.mode = "xml-only";
    try {
      await expect(iamJoin(join_, start(token), proofBy(webNode))).resolves.toBeDefined();
    } finally {
      sts.mode = "sts";
    }
    expect(sts.answered.slice(-2)).toEqual([webNode.arn, webNode.arn]);
  });

  it("another account is refused (IAM_IDENTITY_NOT_ALLOWED) and the token keeps its use", async () => {
    const { token, joinToken } = await iamToken([{ awsAccount: ACCOUNT }]);
    await expectError(iamJoin(join_, start(token), proofBy(mallory)), Code.PermissionDenied, "IAM_IDENTITY_NOT_ALLOWED");
    const listed = (await join_.listJoinTokens({}, admin)).joinTokens.find((j) => j.id === joinToken!.id)!;
    expect(listed.usesRemaining).toBe(1);
    await expect(iamJoin(join_, start(token), proofBy(alice))).resolves.toBeDefined();
  });

  it("ARN patterns: `*` matches any run of characters, the whole ARN must match, an empty pattern admits the account", async () => {
    const { token } = await iamToken([{ awsAccount: ACCOUNT, awsArn: `arn:aws:sts::${ACCOUNT}:assumed-role/warden-node-*/*` }], 5);
    await expect(iamJoin(join_, start(token), proofBy(webNode))).resolves.toBeDefined();
    await expectError(iamJoin(join_, start(token), proofBy(billing)), Code.PermissionDenied, "IAM_IDENTITY_NOT_ALLOWED");
    await expectError(iamJoin(join_, start(token), proofBy(alice)), Code.PermissionDenied, "IAM_IDENTITY_NOT_ALLOWED");
    // A pattern is not a prefix.
    const { token: exact } = await iamToken([{ awsAccount: ACCOUNT, awsArn: `arn:aws:iam::${ACCOUNT}:user/ali` }]);
    await expectError(iamJoin(join_, start(exact), proofBy(alice)), Code.PermissionDenied, "IAM_IDENTITY_NOT_ALLOWED");
    // Rules are alternatives: mallory's account by its own rule.
    const { token: either } = await iamToken(
      [
        { awsAccount: ACCOUNT, awsArn: "arn:aws:iam::*:user/nobody" },
        { awsAccount: OTHER_ACCOUNT, awsArn: "" },
      ],
      2,
    );
    await expectError(iamJoin(join_, start(either), proofBy(alice)), Code.PermissionDenied, "IAM_IDENTITY_NOT_ALLOWED");
    await expect(iamJoin(join_, start(either), proofBy(mallory))).resolves.toBeDefined();
  });

  it("a proof whose signature does not cover the challenge, or carries another conversation's challenge, is refused before STS is asked", async () => {
    const { token } = await iamToken([{ awsAccount: ACCOUNT }]);
    const before = sts.requests;
    // The header is there, but outside SignedHeaders: anyone could have added it to a captured request.
    await expectError(iamJoin(join_, start(token), proofBy(alice, { signChallenge: false })), Code.Unauthenticated, "IAM_PROOF_INVALID");
    // Signed, but over a challenge of its own choosing.
    await expectError(
      iamJoin(join_, start(token), (c) => proofBy(alice)({ ...c, challenge: `${c.challenge.slice(1)}A` })),
      Code.Unauthenticated,
      "IAM_PROOF_INVALID",
    );
    // A good proof from one conversation replayed in another.
    let captured: Proof | undefined;
    await expectError(
      iamJoin(join_, start(token), async (c) => {
        captured = await proofBy(alice)(c);
        return { headers: {}, body: new Uint8Array() };
      }),
      Code.Unauthenticated,
      "IAM_PROOF_INVALID",
    );
    await expectError(
      iamJoin(join_, start(token), async () => captured!),
      Code.Unauthenticated,
      "IAM_PROOF_INVALID",
    );
    expect(sts.requests).toBe(before);
  });

  it("other local checks: the STS host, X-Amz-Date within 15 minutes, a GetCallerIdentity body and nothing else, the challenge's lifetime", async () => {
    const { token } = await iamToken([{ awsAccount: ACCOUNT }]);
    const before = sts.requests;
    const refused = (prove: (c: IamJoinChallenge) => Promise<Proof>) =>
      expectError(iamJoin(join_, start(token), prove), Code.Unauthenticated, "IAM_PROOF_INVALID");
    // Signed for the real STS: the signature would be good there, not at our endpoint.
    await refused(proofBy(alice, { host: "sts.amazonaws.com" }));
    await refused((c) => proofBy(alice, { signingDate: new Date(t.clock.now().getTime() - 16 * 60_000) })(c));
    await refused(proofBy(alice, { body: "Action=AssumeRole&Version=2011-06-15&RoleArn=arn:aws:iam::111122223333:role/admin" }));
    await refused(proofBy(alice, { body: "Action=GetCallerIdentity&Version=2011-06-15&Action=GetCallerIdentity" }));
    // A header sent twice under two spellings.
    await refused(async (c) => {
      const p = await proofBy(alice)(c);
      return { ...p, headers: { ...p.headers, Host: "attacker.example" } };
    });
    // The challenge answers within 60 seconds of being issued.
    await refused(async (c) => {
      t.clock.advance(61);
      return proofBy(alice)(c);
    });
    expect(sts.requests).toBe(before);
    // The body order does not matter.
    await expect(iamJoin(join_, start(token), proofBy(alice, { body: "Version=2011-06-15&Action=GetCallerIdentity" }))).resolves.toBeDefined();
  });

  it("a signature STS refuses (wrong secret, unknown key) is IAM_PROOF_INVALID", async () => {
    const { token } = await iamToken([{ awsAccount: ACCOUNT }]);
    const before = sts.requests;
    await expectError(iamJoin(join_, start(token), proofBy({ ...alice, secretAccessKey: "not-alice's-secret" })), Code.Unauthenticated, "IAM_PROOF_INVALID");
    await expectError(iamJoin(join_, start(token), proofBy({ ...alice, accessKeyId: "AKIAUNKNOWN0EXAMPLE1" })), Code.Unauthenticated, "IAM_PROOF_INVALID");
    // A session token that is not the role's.
    await expectError(iamJoin(join_, start(token), proofBy({ ...webNode, sessionToken: "forged" })), Code.Unauthenticated, "IAM_PROOF_INVALID");
    // These went to STS: only it can tell a bad signature.
    expect(sts.requests).toBe(before + 3);
  });

  it("STS hanging past sts_timeout_ms, or failing, refuses the join (STS_UNAVAILABLE); the token keeps its use", async () => {
    const { token, joinToken } = await iamToken([{ awsAccount: ACCOUNT }]);
    for (const mode of ["hang", "fail"] as const) {
      sts.mode = mode;
      try {
        const started = performance.now();
        await expectError(iamJoin(join_, start(token), proofBy(alice)), Code.Unavailable, "STS_UNAVAILABLE");
        if (mode === "hang") expect(performance.now() - started).toBeGreaterThanOrEqual(450);
      } finally {
        sts.mode = "sts";
      }
    }
    const listed = (await join_.listJoinTokens({}, admin)).joinTokens.find((j) => j.id === joinToken!.id)!;
    expect(listed.usesRemaining).toBe(1);
  });

  it("STS that cannot be reached refuses the join (fail closed)", async () => {
    const { token } = await iamToken([{ awsAccount: ACCOUNT }]);
    await sts.setDown(true);
    try {
      await expectError(iamJoin(join_, start(token), proofBy(alice)), Code.Unavailable, "STS_UNAVAILABLE");
    } finally {
      await sts.setDown(false);
    }
    await expect(iamJoin(join_, start(token), proofBy(alice))).resolves.toBeDefined();
  });

  it("tokens: one of the token method is JOIN_METHOD_MISMATCH, unknown ones JOIN_TOKEN_INVALID, and IAM tokens do not work for RegisterAgent", async () => {
    const { token: plain } = await join_.createJoinToken({ ttl: { seconds: 600n } }, admin);
    await expectError(iamJoin(join_, start(plain), proofBy(alice)), Code.FailedPrecondition, "JOIN_METHOD_MISMATCH");
    await expectError(iamJoin(join_, start(`wdn_j_${"Q".repeat(43)}`), proofBy(alice)), Code.Unauthenticated, "JOIN_TOKEN_INVALID");
    const { token } = await iamToken([{ awsAccount: ACCOUNT }]);
    await expectError(join_.registerAgent({ token, hostname: "sneaky.example" }), Code.FailedPrecondition, "JOIN_METHOD_MISMATCH");
  });

  it("a 1-use IAM token used by 3 conversations at once admits exactly 1", async () => {
    const { token } = await iamToken([{ awsAccount: ACCOUNT }]);
    const { ok, failures } = await settleAll([1, 2, 3].map(() => iamJoin(join_, start(token), proofBy(alice))));
    expect(ok).toHaveLength(1);
    expect(failures.map((f) => `${Code[f.code]}:${f.reason}`)).toEqual(["Unauthenticated:JOIN_TOKEN_USED_UP", "Unauthenticated:JOIN_TOKEN_USED_UP"]);
    const nodes = (await agents.listNodes({}, admin)).nodes.filter((n) => n.id === ok[0]!.registered.agentId);
    expect(nodes).toHaveLength(1);
  });

  it("out of order: a proof first, two starts, a stream closed before the proof; each ends with INVALID_ARGUMENT", async () => {
    const { token } = await iamToken([{ awsAccount: ACCOUNT }]);
    const proof: Step = { step: { case: "proof", value: { headers: {}, body: new Uint8Array() } } };
    const started: Step = { step: { case: "start", value: start(token) } };
    const err = await expectError(converse(join_, [proof]), Code.InvalidArgument, "INVALID_ARGUMENT");
    expect(err.rawMessage).toContain("expected `start`, got `proof`");
    await expectError(converse(join_, [started, started]), Code.InvalidArgument, "INVALID_ARGUMENT");
    const early = await expectError(converse(join_, [started]), Code.InvalidArgument, "INVALID_ARGUMENT");
    expect(early.rawMessage).toContain("ended before `proof`");
    // A message that breaks the proto's rules is refused like any other.
    await expectError(converse(join_, [{ step: { case: "start", value: { ...start(token), hostname: "bad host" } } }]), Code.InvalidArgument);
    // None of this spent the token.
    await expect(iamJoin(join_, start(token), proofBy(alice))).resolves.toBeDefined();
  });

  it("over real HTTP/2 gRPC (grpc transport of connect-node) the conversation runs the same", async () => {
    const server: RunningServer = await startServer(t.app, "127.0.0.1:0");
    try {
      const grpc = createClient(JoinService, createGrpcTransport({ baseUrl: server.url }));
      const { token } = await iamToken([{ awsAccount: ACCOUNT }]);
      const { registered } = await iamJoin(grpc, start(token), proofBy(webNode));
      await expect(agents.agentHeartbeat({}, agentAuth(registered))).resolves.toBeDefined();
      await expectError(iamJoin(grpc, start(token), proofBy(webNode)), Code.Unauthenticated, "JOIN_TOKEN_USED_UP");
    } finally {
      await server.drain(200);
    }
  });
});

describe("the IAM join conversation is bounded in time", () => {
  it("a node that never sends its proof is cut off (DEADLINE_EXCEEDED)", async () => {
    // The stream's own mechanics, with the domain stood in for: the bound is 60 s in the app.
    const iam: Pick<IamJoin, "begin" | "finish"> = {
      begin: async (s) => ({ challenge: "c".repeat(43), headerName: "x-warden-challenge", issuedAt: new Date(), start: s, token: {} as JoinTokenRow }),
      finish: async () => {
        throw new Error("not reached");
      },
    };
    const log = createLogger("silent");
    const transport = createRouterTransport((router) =>
      router.service(JoinService, iamJoinHandlers(iam, { conversationTimeoutMs: 300, toWireError: (err, id) => toConnectError(err, log, id) })),
    );
    const client = createClient(JoinService, transport);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    async function* requests(): AsyncGenerator<Step> {
      yield { step: { case: "start", value: { token: "wdn_j_x", hostname: "slow.example" } } };
      await held;
    }
    const started = performance.now();
    const seen: string[] = [];
    try {
      await expectError(
        (async () => {
          for await (const r of client.registerUsingIAMMethod(requests())) seen.push(r.step.case ?? "");
        })(),
        Code.DeadlineExceeded,
        "DEADLINE_EXCEEDED",
      );
    } finally {
      release();
    }
    expect(seen).toEqual(["challenge"]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(280);
  });
});

describe("the IAM join and the join-token rate class", () => {
  let t: TestApp;
  let sts: StsStandIn;
  beforeAll(async () => {
    sts = await startStsStandIn([alice]);
    t = await createTestApp({ sts_endpoint: sts.url, rate_class_budgets: "join_token=3" });
  });
  afterAll(async () => {
    await t?.close();
    await sts?.close();
  });
  const badStart = (): Start => ({ token: `wdn_j_${"R".repeat(43)}`, hostname: "rate.example" });
  const never = async (): Promise<Proof> => ({ headers: {}, body: new Uint8Array() });

  it("a stream is refused when it opens once the address's join-token budget is spent (RATE_LIMITED)", async () => {
    const join_ = t.client(JoinService);
    for (let i = 0; i < 3; i++) await expectError(join_.validateJoinToken({ token: badStart().token }), Code.Unauthenticated);
    await expectError(iamJoin(join_, badStart(), never), Code.ResourceExhausted, "RATE_LIMITED");
  });

  // The rate-limit interceptor settles a call when `next` returns, which for a stream is when it
  // opens, before the handler ran: the point is always given back, so refused IAM proofs never
  // count. Flip to `it` once the interceptor settles streams at their end.
  it("refused IAM joins count against that budget", async () => {
    const other = await createTestApp({ sts_endpoint: sts.url, rate_class_budgets: "join_token=3" });
    try {
      const join_ = other.client(JoinService);
      for (let i = 0; i < 3; i++) await expectError(iamJoin(join_, badStart(), never), Code.Unauthenticated, "JOIN_TOKEN_INVALID");
      await expectError(iamJoin(join_, badStart(), never), Code.ResourceExhausted, "RATE_LIMITED");
    } finally {
      await other.close();
    }
  });
});
