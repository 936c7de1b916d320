import { execFile } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccessRequestService, AccessRequestState, ReviewDecision } from "../../gen/warden/access/v1/access_request_service_pb.js";
import { AgentService } from "../../gen/warden/agent/v1/agent_service_pb.js";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { JoinService } from "../../gen/warden/join/v1/join_service_pb.js";
import { LockService, LockTargetKind } from "../../gen/warden/lock/v1/lock_service_pb.js";
import { RoleService } from "../../gen/warden/rbac/v1/role_service_pb.js";
import { RecordingService } from "../../gen/warden/recording/v1/recording_service_pb.js";
import { UserService } from "../../gen/warden/user/v1/user_service_pb.js";
import { decodeCertificate } from "../../src/crypto/ssh/ssh-certificate.js";
import { localSession } from "../helpers/accounts.js";
import { expectError, expectFailure } from "../helpers/expect-error.js";
import { adminWithTotp, auditOf, freshProof, signUp, type Member, type TotpMember } from "../helpers/mfa-world.js";
import { bearer, createTestApp, STRONG_PASSWORD, type TestApp } from "../helpers/test-app.js";

const run = promisify(execFile);
const { APPROVE } = ReviewDecision;
const { PENDING, APPROVED, EXPIRED } = AccessRequestState;
const RULES = [{ resources: ["session"], verbs: ["get"], effect: 1 }];
const READ_REACHABLE = [{ resources: ["recording"], verbs: ["read_reachable"], effect: 1 }];

/** When a certificate stops being valid, in ms. */
function endOf(line: string): number {
  const end = decodeCertificate(line).validBefore;
  if (end === "forever") throw new Error("a certificate valid forever");
  return end.getTime();
}

/**
 * The rest of issue 14's access requests and recordings: requests for nodes (requestable and
 * reviewable through the roles that reach them, their threshold and TTL cap, the node listed and
 * certificates capped while the grant lasts), the expiry sweep (one audit event, whatever the
 * number of instances), role locks covering granted roles at sign-in, refresh and certificate
 * issue, and recordings read by node match (recording/read_reachable).
 */
describe("access grants for nodes, expiry, locks on granted roles, recordings by node", () => {
  let t: TestApp;
  let other: TestApp;
  let admin: TotpMember;
  let requests: Client<typeof AccessRequestService>;
  let roles: Client<typeof RoleService>;
  let auth: Client<typeof AuthService>;
  let agents: Client<typeof AgentService>;
  const dir = mkdtempSync(join(tmpdir(), "warden-grants-"));
  let sshKey: string;
  const nodes: Record<"prod" | "dev", { id: string; headers: Record<string, string> }> = {} as never;
  let requester: Member;
  let reviewers: [Member, Member];
  let devReviewer: Member;
  let outsider: Member;

  /** A signed-in user on a session bearer (clock moves do not end it), holding these roles. */
  async function member(tag: string, roleNames: string[]): Promise<Member> {
    const m = await signUp(t, tag);
    if (roleNames.length > 0) await t.client(UserService).updateUser({ id: m.userId, roles: roleNames, updateRoles: true }, admin.h);
    const session = await localSession(t, m.email, STRONG_PASSWORD);
    return { ...m, h: bearer(session) };
  }
  const ask = (m: Member, req: { roles?: string[]; nodeIds?: string[]; ttl?: bigint }) =>
    requests.createAccessRequest(
      { roles: req.roles ?? [], nodeIds: req.nodeIds ?? [], reason: "maintenance", requestedTtl: req.ttl ? { seconds: req.ttl, nanos: 0 } : undefined },
      m.h,
    );
  const review = (m: Member, id: string) => requests.reviewAccessRequest({ id, decision: APPROVE, reason: "" }, m.h);
  const listed = async (m: Member) => (await agents.listNodes({ pageSize: 100 }, m.h)).nodes.map((n) => n.id).sort();
  const certificate = (m: Member) => auth.issueUserCerts({ publicKey: sshKey }, m.h);
  const expireEvents = async (id: string) => (await auditOf(t, "access_request.expire", "access_expiry")).filter((e) => e.targetId === id);

  beforeAll(async () => {
    t = await createTestApp({}, { startAt: new Date(Date.now() - 60 * 60_000) });
    other = await createTestApp({}, { sameDatabaseAs: t });
    requests = t.client(AccessRequestService);
    roles = t.client(RoleService);
    auth = t.client(AuthService);
    agents = t.client(AgentService);
    admin = await adminWithTotp(t);
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "key")]);
    sshKey = readFileSync(join(dir, "key.pub"), "utf8").trim();

    const join_ = t.client(JoinService);
    for (const env of ["prod", "dev"] as const) {
      const { token } = await join_.createJoinToken({ uses: 1, ttl: { seconds: 600n }, labels: { env } }, admin.h);
      const r = await join_.registerAgent({ token, hostname: `gn-${env}.example.test`, version: "1.0.0" });
      nodes[env] = { id: r.agentId, headers: { "x-agent-id": r.agentId, authorization: `Bearer ${r.agentToken}` } };
    }

    const role = (name: string, extra: Record<string, unknown>) => roles.createRole({ role: { name, description: name, rules: RULES, ...extra } }, admin.h);
    // The requester's own role reaches dev; prod is reached by a role they may request (2 approvals, 30 minutes at most).
    await role("gn-dev", { logins: ["dev"], nodeLabels: { env: { values: ["dev"] } } });
    await role("gn-prod", { logins: ["prod"], nodeLabels: { env: { values: ["prod"] } }, approvalsRequired: 2, maxSessionTtl: { seconds: 1800n } });
    await role("gn-requester", { requestRoles: ["gn-prod"] });
    await role("gn-reviewer", { reviewRoles: ["gn-prod"] });
    await role("gn-dev-reviewer", { reviewRoles: ["gn-dev"] });
    requester = await member("gn-requester", ["gn-dev", "gn-requester"]);
    reviewers = [await member("gn-reviewer-1", ["gn-reviewer"]), await member("gn-reviewer-2", ["gn-reviewer"])];
    devReviewer = await member("gn-dev-reviewer", ["gn-dev-reviewer"]);
    outsider = await member("gn-outsider", ["gn-dev"]);
  }, 60_000);

  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await other?.close();
    await t?.close();
  });

  it("a node request: requestable only through a role that reaches it, nodes the caller reaches refused, at least one role or node", async () => {
    await expectFailure(ask(requester, { nodeIds: [nodes.dev.id] }), Code.FailedPrecondition, "ACCESS_REQUEST_NODE_REACHABLE");
    await expectFailure(ask(outsider, { nodeIds: [nodes.prod.id] }), Code.PermissionDenied, "ACCESS_REQUEST_NODE_NOT_REQUESTABLE");
    // An id that is no node reads the same as one the caller may not request.
    await expectFailure(ask(requester, { nodeIds: [randomUUID()] }), Code.PermissionDenied, "ACCESS_REQUEST_NODE_NOT_REQUESTABLE");
    await expectError(ask(requester, {}), Code.InvalidArgument);
    await expectError(ask(requester, { nodeIds: ["not-a-uuid"] }), Code.InvalidArgument);
    await expectError(ask(requester, { nodeIds: [nodes.prod.id, nodes.prod.id] }), Code.InvalidArgument);
  });

  it("approved with the threshold: the node is listed and certificates end with the grant; expiry ends it and is audited once", async () => {
    expect(await listed(requester)).toEqual([nodes.dev.id]);
    const created = (await ask(requester, { nodeIds: [nodes.prod.id], ttl: 7200n })).accessRequest!;
    expect(created).toMatchObject({ roles: [], nodeIds: [nodes.prod.id], state: PENDING, approvalsRequired: 2 });

    // Reviewers of a role reaching the node see and review it; a reviewer of other roles does not.
    await expectFailure(review(devReviewer, created.id), Code.PermissionDenied, "ACCESS_REQUEST_REVIEW_NOT_ALLOWED");
    await expectFailure(requests.getAccessRequest({ id: created.id }, devReviewer.h), Code.NotFound, "ACCESS_REQUEST_NOT_FOUND");
    expect((await requests.listAccessRequests({ pageSize: 100 }, devReviewer.h)).accessRequests.map((r) => r.id)).not.toContain(created.id);
    expect((await requests.listAccessRequests({ pageSize: 100 }, reviewers[0].h)).accessRequests.map((r) => r.id)).toContain(created.id);
    await expectFailure(review(requester, created.id), Code.PermissionDenied, "ACCESS_REQUEST_SELF_REVIEW");

    expect((await review(reviewers[0], created.id)).accessRequest!.state).toBe(PENDING);
    expect(await listed(requester)).toEqual([nodes.dev.id]);
    const before = endOf((await certificate(requester)).sshCertificate);
    const approved = (await review(reviewers[1], created.id)).accessRequest!;
    expect(approved.state).toBe(APPROVED);
    // Capped by the max_session_ttl of the role the node is requestable through.
    const ends = timestampDate(approved.accessExpireTime!).getTime();
    expect(ends - t.clock.now().getTime()).toBe(1800_000);

    // Widened at the next call, on every instance: the node is listed; certificates end with the grant.
    expect(await listed(requester)).toEqual([nodes.dev.id, nodes.prod.id].sort());
    expect((await other.client(AgentService).listNodes({ pageSize: 100 }, requester.h)).nodes.map((n) => n.id).sort()).toEqual(
      [nodes.dev.id, nodes.prod.id].sort(),
    );
    const cert = await certificate(requester);
    expect(cert.principals).toEqual(["dev"]);
    expect(endOf(cert.sshCertificate)).toBeLessThanOrEqual(ends);
    expect(before).toBeGreaterThan(ends);
    // Others are untouched.
    expect(await listed(outsider)).toEqual([nodes.dev.id]);
    const [create] = (await auditOf(t, "access_request.create", requester.userId)).filter((e) => e.targetId === created.id);
    expect(create?.details).toMatchObject({ node_ids: nodes.prod.id });

    // Expiry: gone at once by the clock, no reload, no restart.
    t.clock.advance(1801);
    expect(await listed(requester)).toEqual([nodes.dev.id]);
    expect(endOf((await certificate(requester)).sshCertificate)).toBeGreaterThan(ends);
    expect((await requests.getAccessRequest({ id: created.id }, requester.h)).accessRequest!.state).toBe(EXPIRED);
    // Both instances sweep at once (and again): the expiry is written down once.
    expect(await expireEvents(created.id)).toEqual([]);
    await Promise.all([t.app.hooks.accessExpiry.sweep(), other.app.hooks.accessExpiry.sweep()]);
    await t.app.hooks.accessExpiry.sweep();
    const events = await expireEvents(created.id);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ outcome: "success", targetType: "access_request" });
    expect(events[0]!.details).toMatchObject({ previous_state: "approved", requester_id: requester.userId, node_ids: nodes.prod.id });
    expect((await requests.getAccessRequest({ id: created.id }, requester.h)).accessRequest!.state).toBe(EXPIRED);
    await expectFailure(requests.cancelAccessRequest({ id: created.id }, requester.h), Code.FailedPrecondition, "ACCESS_REQUEST_NOT_CANCELLABLE");
  });

  it("cancelling a node grant ends it at once", async () => {
    const created = (await ask(requester, { nodeIds: [nodes.prod.id] })).accessRequest!;
    await review(reviewers[0], created.id);
    await review(reviewers[1], created.id);
    expect(await listed(requester)).toContain(nodes.prod.id);
    await requests.cancelAccessRequest({ id: created.id }, requester.h);
    expect(await listed(requester)).toEqual([nodes.dev.id]);
  });

  it("a role lock covers the role held through a grant: sign-in, refresh and certificates refused", async () => {
    const holder = await member("gn-holder", ["gn-dev", "gn-requester"]);
    const created = (await ask(holder, { roles: ["gn-prod"] })).accessRequest!;
    await review(reviewers[0], created.id);
    expect((await review(reviewers[1], created.id)).accessRequest!.state).toBe(APPROVED);
    expect((await certificate(holder)).principals).toEqual(["dev", "prod"]);

    await freshProof(t, admin);
    const lock = (await t.client(LockService).createLock({ target: { kind: LockTargetKind.ROLE, value: "gn-prod" }, message: "prod freeze" }, admin.h)).lock!;
    await expectFailure(certificate(holder), Code.PermissionDenied, "LOCKED");
    await expectFailure(auth.login({ email: holder.email, password: STRONG_PASSWORD }), Code.PermissionDenied, "LOCKED");
    await expectFailure(auth.refresh({ refreshToken: holder.refreshToken }), Code.PermissionDenied, "LOCKED");
    // A user holding neither the role nor a grant of it is untouched.
    expect((await auth.login({ email: outsider.email, password: STRONG_PASSWORD })).accessToken).not.toBe("");

    await freshProof(t, admin);
    await t.client(LockService).deleteLock({ id: lock.id }, admin.h);
    expect((await auth.refresh({ refreshToken: holder.refreshToken })).accessToken).not.toBe("");
    expect((await certificate(holder)).principals).toEqual(["dev", "prod"]);
    await requests.cancelAccessRequest({ id: created.id }, holder.h);
  });

  it("recordings are read by node match: recording/read_reachable of the same role as the node_labels", async () => {
    const upload = async (env: "prod" | "dev", sessionId: string) => {
      const data = Buffer.from(`session ${sessionId} on ${env}`);
      const session = { sessionId, user: "someone@example.test", login: "dev", startedAt: timestampFromDate(t.clock.now()) };
      const sha256 = createHash("sha256").update(data).digest();
      return (await t.client(RecordingService).uploadSessionRecording({ session, data, sha256 }, { headers: nodes[env].headers })).recordingId;
    };
    const prodRec = await upload("prod", "gn-rec-prod");
    const devRec = await upload("dev", "gn-rec-dev");
    await roles.createRole(
      { role: { name: "gn-rec-prod", description: "reads prod recordings", rules: READ_REACHABLE, nodeLabels: { env: { values: ["prod"] } } } },
      admin.h,
    );
    // The permission without node_labels reaches nothing, and gn-dev's node_labels come without the permission.
    await roles.createRole({ role: { name: "gn-rec-nowhere", description: "permission alone", rules: READ_REACHABLE } }, admin.h);
    const watcher = await member("gn-watcher", ["gn-rec-prod"]);
    const mixed = await member("gn-mixed", ["gn-rec-nowhere", "gn-dev"]);
    const recordings = t.client(RecordingService);
    const ids = async (m: Member) => (await recordings.listSessionRecordings({ pageSize: 100 }, m.h)).recordings.map((r) => r.id);
    const read = async (m: Member, id: string) => {
      const parts: string[] = [];
      for await (const part of recordings.getSessionRecording({ id }, m.h)) if (part.part.case === "data") parts.push(Buffer.from(part.part.value).toString());
      return parts.join("");
    };

    expect(await ids(watcher)).toEqual([prodRec]);
    expect(await read(watcher, prodRec)).toBe("session gn-rec-prod on prod");
    await expectFailure(read(watcher, devRec), Code.PermissionDenied, "RECORDING_READ_NOT_ALLOWED");
    expect(await ids(mixed)).toEqual([]);
    await expectFailure(read(mixed, devRec), Code.PermissionDenied, "RECORDING_READ_NOT_ALLOWED");
    // Neither permission: refused outright.
    await expectFailure(ids(outsider), Code.PermissionDenied, "PERMISSION_REQUIRED");
    await expectFailure(read(outsider, prodRec), Code.PermissionDenied, "PERMISSION_REQUIRED");
    // recording/read (the admin) reads every node's.
    expect(await ids(admin)).toEqual(expect.arrayContaining([prodRec, devRec]));
    expect(await read(admin, devRec)).toBe("session gn-rec-dev on dev");
    expect((await auditOf(t, "recording.read", watcher.userId)).map((e) => e.targetId)).toEqual([prodRec]);
  });

  it("a pending request lapses: the sweep marks it expired and audits it once", async () => {
    const created = (await ask(requester, { nodeIds: [nodes.prod.id] })).accessRequest!;
    t.clock.advance(24 * 3600 + 1);
    await Promise.all([t.app.hooks.accessExpiry.sweep(), other.app.hooks.accessExpiry.sweep()]);
    const events = await expireEvents(created.id);
    expect(events).toHaveLength(1);
    expect(events[0]!.details).toMatchObject({ previous_state: "pending" });
    const row = await t.app.hooks.store.accessRequests.find(created.id);
    expect(row?.state).toBe("expired");
  });
});
