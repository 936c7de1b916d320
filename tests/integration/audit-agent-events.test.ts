import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditService, ChainCheck, Outcome, SshAuditEventSchema, SshEventKind, type SshAuditEvent } from "../../gen/warden/audit/v1/audit_service_pb.js";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { JoinService } from "../../gen/warden/join/v1/join_service_pb.js";
import { errorOf, expectError } from "../helpers/expect-error.js";
import { signUp, type Member } from "../helpers/mfa-world.js";
import { ADMIN_EMAIL, ADMIN_PASSWORD, bearer, createTestApp, type TestApp } from "../helpers/test-app.js";

type Over = Omit<MessageInitShape<typeof SshAuditEventSchema>, "$typeName">;

const KINDS: [SshEventKind, string][] = [
  [SshEventKind.SESSION_START, "ssh.session.start"],
  [SshEventKind.EXEC, "ssh.exec"],
  [SshEventKind.PORT_FORWARD, "ssh.port_forward"],
  [SshEventKind.FILE_TRANSFER, "ssh.file_transfer"],
  [SshEventKind.SESSION_END, "ssh.session.end"],
];

/**
 * EmitAuditEvent: agents write SSH session events into the chain as their node; the limits on
 * time, metadata and size; only an agent's credential opens it; QueryAuditEvents by node and user.
 */
describe("audit events from agents", () => {
  let t: TestApp;
  let admin: ReturnType<typeof bearer>;
  let user: Member;
  const nodes: { id: string; auth: { headers: Record<string, string> } }[] = [];

  const audit = () => t.client(AuditService);
  const event = (over: Over = {}) =>
    create(SshAuditEventSchema, {
      kind: SshEventKind.SESSION_START,
      user: user.userId,
      login: "ubuntu",
      sessionId: "sess-1",
      occurredAt: timestampFromDate(t.clock.now()),
      outcome: Outcome.SUCCESS,
      ...over,
    });
  const emit = (ev: SshAuditEvent, node = nodes[0]!) => audit().emitAuditEvent({ event: ev }, node.auth);

  beforeAll(async () => {
    t = await createTestApp({ rate_class_budgets: "join_token=20,agent_token=20" });
    admin = bearer((await t.client(AuthService).login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD })).accessToken);
    user = await signUp(t, "ssh-user");
    const join = t.client(JoinService);
    for (const hostname of ["audit-node-a", "audit-node-b"]) {
      const { token } = await join.createJoinToken({ uses: 1, ttl: { seconds: 600n } }, admin);
      const r = await join.registerAgent({ token, hostname });
      nodes.push({ id: r.agentId, auth: { headers: { "x-agent-id": r.agentId, authorization: `Bearer ${r.agentToken}` } } });
    }
  });
  afterAll(async () => {
    await t?.close();
  });

  it("an agent emits each kind: chain links with the node as actor and the user as target", async () => {
    const reported = new Date(t.clock.now().getTime() - 60_000);
    for (const [kind] of KINDS)
      await emit(event({ kind, occurredAt: timestampFromDate(reported), metadata: kind === SshEventKind.EXEC ? { command: "uptime", exit_code: "0" } : {} }));
    const { events } = await audit().queryAuditEvents({ nodeId: nodes[0]!.id, pageSize: 50 }, admin);
    const mine = events.filter((e) => e.eventType.startsWith("ssh."));
    expect(mine.map((e) => e.eventType)).toEqual(KINDS.map(([, type]) => type));
    for (const e of mine) {
      expect(e).toMatchObject({ actorType: "node", actorId: nodes[0]!.id, targetType: "user", targetId: user.userId, outcome: Outcome.SUCCESS });
      expect(e.details).toMatchObject({
        node_id: nodes[0]!.id,
        hostname: "audit-node-a",
        login: "ubuntu",
        session_id: "sess-1",
        occurred_at: reported.toISOString(),
      });
      expect(e.keyId).toBe("v1");
    }
    expect(mine.find((e) => e.eventType === "ssh.exec")!.details).toMatchObject({ "meta.command": "uptime", "meta.exit_code": "0" });
    // A user certificate's key id names the same user; a failure is recorded as one.
    await emit(event({ kind: SshEventKind.SESSION_START, user: `${user.userId}@warden`, outcome: Outcome.FAILURE }), nodes[1]);
    const other = await audit().queryAuditEvents({ nodeId: nodes[1]!.id, eventTypes: ["ssh.session.start"] }, admin);
    expect(other.events).toHaveLength(1);
    expect(other.events[0]).toMatchObject({ targetId: user.userId, outcome: Outcome.FAILURE });
    const verified = await audit().verifyAuditChain({}, admin);
    expect(verified).toMatchObject({ intact: true, failedCheck: ChainCheck.UNSPECIFIED });
  });

  it("concurrent emits from two agents all land as links of one intact chain", async () => {
    const before = (await audit().queryAuditEvents({ userId: user.userId, eventTypes: ["ssh.exec"], pageSize: 500 }, admin)).events.length;
    await Promise.all(
      Array.from({ length: 40 }, (_, i) => emit(event({ kind: SshEventKind.EXEC, sessionId: `s-${i}`, metadata: { command: `echo ${i}` } }), nodes[i % 2])),
    );
    const after = await audit().queryAuditEvents({ userId: user.userId, eventTypes: ["ssh.exec"], pageSize: 500 }, admin);
    expect(after.events.length - before).toBe(40);
    await expect(audit().verifyAuditChain({}, admin)).resolves.toMatchObject({ intact: true });
  });

  it("QueryAuditEvents by user finds what they did and what was done to them; by node only that node's", async () => {
    const byUser = await audit().queryAuditEvents({ userId: user.userId, pageSize: 500 }, admin);
    const types = new Set(byUser.events.map((e) => e.eventType));
    // auth.register and auth.login: the user as actor; ssh.*: the user as target.
    expect([...types]).toEqual(expect.arrayContaining(["auth.register", "auth.login", "ssh.session.start", "ssh.exec"]));
    expect(byUser.events.every((e) => e.actorId === user.userId || e.targetId === user.userId)).toBe(true);
    const byNode = await audit().queryAuditEvents({ nodeId: nodes[1]!.id, pageSize: 500 }, admin);
    expect(byNode.events.length).toBeGreaterThan(0);
    expect(byNode.events.every((e) => e.actorId === nodes[1]!.id || e.targetId === nodes[1]!.id)).toBe(true);
    // Paged as before, by sequence.
    const first = await audit().queryAuditEvents({ userId: user.userId, pageSize: 2 }, admin);
    const second = await audit().queryAuditEvents({ userId: user.userId, pageSize: 2, pageToken: first.nextPageToken }, admin);
    expect(second.events[0]!.sequence).toBeGreaterThan(first.events[1]!.sequence);
    expect(await audit().queryAuditEvents({ userId: "nobody", pageSize: 5 }, admin)).toMatchObject({ events: [] });
  });

  it("refuses events outside the limits with INVALID_ARGUMENT, and writes none of them", async () => {
    const count = async () => t.app.hooks.store.audit.count();
    const before = await count();
    const now = t.clock.now().getTime();
    const big = "x".repeat(1024);
    const refused: [string, Over][] = [
      ["no kind", { kind: SshEventKind.UNSPECIFIED }],
      ["an unknown kind", { kind: 99 as SshEventKind }],
      ["no user", { user: "" }],
      ["no outcome", { outcome: Outcome.UNSPECIFIED }],
      ["no time", { occurredAt: undefined }],
      ["a time 10 minutes ahead", { occurredAt: timestampFromDate(new Date(now + 10 * 60_000)) }],
      ["a time 8 days old", { occurredAt: timestampFromDate(new Date(now - 8 * 86_400_000)) }],
      ["33 metadata entries", { metadata: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, "v"])) }],
      ["a 65-character key", { metadata: { ["k".repeat(65)]: "v" } }],
      ["a key with a space", { metadata: { "bad key": "v" } }],
      ["a 1025-character value", { metadata: { command: "x".repeat(1025) } }],
      ["more than 8 KiB in all", { metadata: Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`k${i}`, big])) }],
      ["a NUL character", { login: "ro\u0000ot" }],
      ["a 129-character user", { user: "u".repeat(129) }],
    ];
    for (const [name, over] of refused) {
      const err = await errorOf(emit(event(over)));
      expect(err ? Code[err.code] : "OK", name).toBe("InvalidArgument");
    }
    // Just inside the limits: 4 minutes ahead, 32 entries, 7 KiB.
    await emit(event({ occurredAt: timestampFromDate(new Date(now + 4 * 60_000)) }));
    await emit(event({ metadata: Object.fromEntries(Array.from({ length: 7 }, (_, i) => [`k${i}`, big])) }));
    await emit(event({ metadata: Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`k${i}`, "v"])) }));
    expect(await count()).toBe(before + 3);
  });

  it("only an agent's credential opens it: a user's token, an admin's, none, another agent's token", async () => {
    await expectError(audit().emitAuditEvent({ event: event() }, user.h), Code.Unauthenticated, "AGENT_CREDENTIAL_INVALID");
    await expectError(audit().emitAuditEvent({ event: event() }, admin), Code.Unauthenticated, "AGENT_CREDENTIAL_INVALID");
    await expectError(audit().emitAuditEvent({ event: event() }), Code.Unauthenticated, "AGENT_CREDENTIAL_INVALID");
    const stolen = { headers: { ...nodes[0]!.auth.headers, authorization: nodes[1]!.auth.headers.authorization! } };
    await expectError(audit().emitAuditEvent({ event: event() }, stolen), Code.Unauthenticated, "AGENT_CREDENTIAL_INVALID");
    // And agents' tokens open no admin method of the service.
    await expectError(audit().queryAuditEvents({}, nodes[0]!.auth), Code.Unauthenticated);
  });
});
