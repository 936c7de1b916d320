import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentService, SshSessionSchema, type SshSession } from "../../gen/warden/agent/v1/agent_service_pb.js";
import { JoinService } from "../../gen/warden/join/v1/join_service_pb.js";
import { SessionService } from "../../gen/warden/session/v1/session_service_pb.js";
import { localSession } from "../helpers/accounts.js";
import { expectError, expectFailure } from "../helpers/expect-error.js";
import { auditOf, signUp, type Member } from "../helpers/mfa-world.js";
import { ADMIN_EMAIL, ADMIN_PASSWORD, bearer, createTestApp, type TestApp } from "../helpers/test-app.js";

function agentAuth(agentId: string, token: string) {
  return { headers: { "x-agent-id": agentId, authorization: `Bearer ${token}` } };
}

/**
 * SSH sessions agents report with their heartbeats: listed by ListActiveSessions (every one for
 * an admin, a user's own for them), revoked with RevokeSession (the node's heartbeat replies
 * then tell the agent to end it), gone when the agent stops reporting them or its node goes
 * offline, and the report's limits.
 */
describe("SSH sessions", () => {
  let t: TestApp;
  let admin: ReturnType<typeof bearer>;
  let adminId: string;
  let user: Member;
  let other: Member;
  let agents: Client<typeof AgentService>;
  let sessions: Client<typeof SessionService>;
  let count = 0;

  beforeAll(async () => {
    t = await createTestApp({ rate_class_budgets: "join_token=50,agent_token=200" });
    agents = t.client(AgentService);
    sessions = t.client(SessionService);
    // A session bearer: the offline test moves the clock on.
    admin = bearer(await localSession(t, ADMIN_EMAIL, ADMIN_PASSWORD));
    adminId = (await sessions.validateSession({}, admin)).userId;
    user = await signUp(t, "ssh-user");
    other = await signUp(t, "ssh-other");
  });
  afterAll(async () => {
    await t?.close();
  });

  async function joinedNode() {
    const hostname = `ssh-${++count}.example`;
    const { token } = await t.client(JoinService).createJoinToken({ uses: 1, ttl: { seconds: 600n } }, admin);
    const r = await t.client(JoinService).registerAgent({ token, hostname, version: "1.0.0" });
    return { id: r.agentId, hostname, auth: agentAuth(r.agentId, r.agentToken) };
  }
  const ssh = (id: string, userRef: string, login: string, minutesAgo: number): SshSession =>
    create(SshSessionSchema, {
      id,
      user: userRef,
      login,
      startedAt: timestampFromDate(new Date(t.clock.now().getTime() - minutesAgo * 60_000)),
      remoteAddress: "192.0.2.7:50022",
    });
  const listed = async (h: ReturnType<typeof bearer>, nodeId: string) =>
    (await sessions.listActiveSessions({}, h)).sshSessions.filter((s) => s.nodeId === nodeId).map((s) => s.id);

  it("an admin sees every node's sessions with the user sessions; a user only theirs; a revoked one is ended through the heartbeat", async () => {
    const node = await joinedNode();
    const mine = ssh("sess-1", `${user.userId}@warden`, "deploy", 5);
    const theirs = ssh("sess-2", other.userId, "ops", 1);
    expect((await agents.agentHeartbeat({ sshSessions: [mine, theirs] }, node.auth)).terminateSshSessions).toEqual([]);

    const all = await sessions.listActiveSessions({}, admin);
    expect(all.sessions.some((s) => s.userId === adminId)).toBe(true);
    const onNode = all.sshSessions.filter((s) => s.nodeId === node.id);
    // Newest first.
    expect(onNode.map((s) => s.id)).toEqual([`ssh:${node.id}:sess-2`, `ssh:${node.id}:sess-1`]);
    expect(onNode[1]).toMatchObject({
      hostname: node.hostname,
      user: `${user.userId}@warden`,
      userId: user.userId,
      login: "deploy",
      remoteAddress: "192.0.2.7:50022",
      terminating: false,
    });
    expect(onNode[1]!.startTime).toEqual(mine.startedAt);

    // A user: their own SSH sessions only; another user's needs the permission.
    const own = await sessions.listActiveSessions({}, user.h);
    expect(own.sshSessions.map((s) => s.id)).toEqual([`ssh:${node.id}:sess-1`]);
    expect(own.sessions.every((s) => s.userId === user.userId)).toBe(true);
    await expectFailure(sessions.listActiveSessions({ userId: other.userId }, user.h), Code.PermissionDenied, "NOT_OWN_SESSION");
    expect((await sessions.listActiveSessions({ userId: other.userId }, admin)).sshSessions.map((s) => s.id)).toEqual([`ssh:${node.id}:sess-2`]);

    // A user cannot end another's (nor learn that it exists); the admin can.
    await expectFailure(sessions.revokeSession({ id: `ssh:${node.id}:sess-2` }, user.h), Code.PermissionDenied, "NOT_OWN_SESSION");
    await expectFailure(sessions.revokeSession({ id: `ssh:${node.id}:nope` }, user.h), Code.PermissionDenied, "NOT_OWN_SESSION");
    await expectFailure(sessions.revokeSession({ id: `ssh:${node.id}:nope` }, admin), Code.NotFound, "SESSION_NOT_FOUND");
    await sessions.revokeSession({ id: `ssh:${node.id}:sess-2` }, admin);
    const [event] = (await auditOf(t, "ssh.session.revoke", adminId)).filter((e) => e.targetId === `ssh:${node.id}:sess-2`);
    expect(event).toMatchObject({ targetType: "ssh_session", outcome: "success" });
    expect((await sessions.listActiveSessions({}, admin)).sshSessions.find((s) => s.id === `ssh:${node.id}:sess-2`)?.terminating).toBe(true);

    // Every reply names it while the agent still reports it.
    expect((await agents.agentHeartbeat({ sshSessions: [mine, theirs] }, node.auth)).terminateSshSessions).toEqual(["sess-2"]);
    expect((await agents.agentHeartbeat({ sshSessions: [mine, theirs] }, node.auth)).terminateSshSessions).toEqual(["sess-2"]);
    expect((await agents.agentHeartbeat({ sshSessions: [mine] }, node.auth)).terminateSshSessions).toEqual([]);
    expect(await listed(admin, node.id)).toEqual([`ssh:${node.id}:sess-1`]);

    // A user ends their own.
    await sessions.revokeSession({ id: `ssh:${node.id}:sess-1` }, user.h);
    expect((await agents.agentHeartbeat({ sshSessions: [mine] }, node.auth)).terminateSshSessions).toEqual(["sess-1"]);
    expect((await agents.agentHeartbeat({}, node.auth)).terminateSshSessions).toEqual([]);
    expect(await listed(admin, node.id)).toEqual([]);
  });

  it("another instance's report and revocation reach this one", async () => {
    const second = await createTestApp({}, { sameDatabaseAs: t });
    try {
      const node = await joinedNode();
      const s = ssh("x-1", user.userId, "deploy", 2);
      await agents.agentHeartbeat({ sshSessions: [s] }, node.auth);
      // The agent beats to the other instance with a new set, then back here with the old one.
      await second.client(AgentService).agentHeartbeat({ sshSessions: [] }, node.auth);
      await expect.poll(() => listed(admin, node.id)).toEqual([]);
      await agents.agentHeartbeat({ sshSessions: [s] }, node.auth);
      expect(await listed(admin, node.id)).toEqual([`ssh:${node.id}:x-1`]);
      // Revoked on the other instance: this one's next reply says so.
      await second.client(SessionService).revokeSession({ id: `ssh:${node.id}:x-1` }, admin);
      await expect.poll(async () => (await agents.agentHeartbeat({ sshSessions: [s] }, node.auth)).terminateSshSessions).toEqual(["x-1"]);
    } finally {
      await second.close();
    }
  });

  it("an offline node's sessions are not active", async () => {
    const gone = await joinedNode();
    const alive = await joinedNode();
    await agents.agentHeartbeat({ sshSessions: [ssh("a", user.userId, "deploy", 1)] }, gone.auth);
    await agents.agentHeartbeat({ sshSessions: [ssh("b", user.userId, "deploy", 1)] }, alive.auth);
    expect(await listed(admin, gone.id)).toEqual([`ssh:${gone.id}:a`]);

    t.clock.advance(91);
    await agents.agentHeartbeat({ sshSessions: [ssh("b", user.userId, "deploy", 2)] }, alive.auth);
    await t.app.hooks.heartbeats.flush();
    expect(await listed(admin, gone.id)).toEqual([]);
    expect(await listed(admin, alive.id)).toEqual([`ssh:${alive.id}:b`]);
    expect((await sessions.listActiveSessions({}, user.h)).sshSessions.map((s) => s.nodeId)).not.toContain(gone.id);
    await expectFailure(sessions.revokeSession({ id: `ssh:${gone.id}:a` }, admin), Code.NotFound, "SESSION_NOT_FOUND");
  });

  it("SSH sessions page on their own token", async () => {
    const node = await joinedNode();
    await agents.agentHeartbeat({ sshSessions: [1, 2, 3].map((i) => ssh(`p-${i}`, other.userId, "ops", 10 + i)) }, node.auth);
    const first = await sessions.listActiveSessions({ userId: other.userId, pageSize: 2 }, admin);
    expect(first.sshSessions.map((s) => s.id)).toEqual([`ssh:${node.id}:p-1`, `ssh:${node.id}:p-2`]);
    const second = await sessions.listActiveSessions({ userId: other.userId, pageSize: 2, sshPageToken: first.nextSshPageToken }, admin);
    expect(second.sshSessions.map((s) => s.id)).toEqual([`ssh:${node.id}:p-3`]);
    expect(second.nextSshPageToken).toBe("");
    await expectError(sessions.listActiveSessions({ sshPageToken: "forged" }, admin), Code.InvalidArgument);
  });

  it("limits: too many, too long, duplicate ids, no start, a start in the future, a malformed id", async () => {
    const node = await joinedNode();
    const ok = ssh("lim", user.userId, "deploy", 1);
    const many = Array.from({ length: 1001 }, (_, i) => ssh(`m-${i}`, user.userId, "deploy", 1));
    await expectError(agents.agentHeartbeat({ sshSessions: many }, node.auth), Code.InvalidArgument);
    await expectError(agents.agentHeartbeat({ sshSessions: [{ ...ok, id: "x".repeat(129) }] }, node.auth), Code.InvalidArgument);
    await expectError(agents.agentHeartbeat({ sshSessions: [{ ...ok, login: "a\u0000b" }] }, node.auth), Code.InvalidArgument);
    await expectError(agents.agentHeartbeat({ sshSessions: [{ ...ok, startedAt: undefined }] }, node.auth), Code.InvalidArgument);
    await expectError(agents.agentHeartbeat({ sshSessions: [ok, ok] }, node.auth), Code.InvalidArgument);
    await expectError(agents.agentHeartbeat({ sshSessions: [ssh("future", user.userId, "deploy", -60)] }, node.auth), Code.InvalidArgument);
    await expectError(sessions.revokeSession({ id: "ssh:not-a-node:x" }, admin), Code.InvalidArgument);
    expect(await listed(admin, node.id)).toEqual([]);
    // A thousand is fine.
    await agents.agentHeartbeat({ sshSessions: many.slice(0, 1000) }, node.auth);
    expect((await sessions.listActiveSessions({ userId: user.userId, pageSize: 500 }, admin)).nextSshPageToken).not.toBe("");
  });
});
