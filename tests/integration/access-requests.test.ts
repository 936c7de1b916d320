import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccessRequestService, AccessRequestState, ReviewDecision, type AccessRequest } from "../../gen/warden/access/v1/access_request_service_pb.js";
import { AdminService } from "../../gen/warden/admin/v1/admin_service_pb.js";
import { AuthService } from "../../gen/warden/auth/v1/auth_service_pb.js";
import { LockService, LockTargetKind } from "../../gen/warden/lock/v1/lock_service_pb.js";
import { RoleService } from "../../gen/warden/rbac/v1/role_service_pb.js";
import { UserService } from "../../gen/warden/user/v1/user_service_pb.js";
import { decodeCertificate } from "../../src/crypto/ssh/ssh-certificate.js";
import { localSession } from "../helpers/accounts.js";
import { expectError, expectFailure, violatedFields } from "../helpers/expect-error.js";
import { adminWithTotp, auditOf, freshProof, signUp, type Member, type TotpMember } from "../helpers/mfa-world.js";
import { bearer, createTestApp, STRONG_PASSWORD, type TestApp } from "../helpers/test-app.js";

const run = promisify(execFile);
const { APPROVE, DENY } = ReviewDecision;
const { PENDING, APPROVED, DENIED, CANCELLED, EXPIRED } = AccessRequestState;
const RULES = [{ resources: ["session"], verbs: ["get"], effect: 1 }];

/** When a certificate stops being valid, in ms. */
function endOf(line: string): number {
  const end = decodeCertificate(line).validBefore;
  if (end === "forever") throw new Error("a certificate valid forever");
  return end.getTime();
}

/**
 * AccessRequestService on one app: who may request and review (the roles' request_roles,
 * review_roles, approvals_required), thresholds, denial, self-review, one review per reviewer,
 * concurrent reviews, the widened access (IssueUserCerts and an API permission) and its end by
 * cancellation and by expiry, the audit trail, the state filter and pagination.
 */
describe("access requests", () => {
  let t: TestApp;
  let admin: TotpMember;
  let requests: Client<typeof AccessRequestService>;
  let roles: Client<typeof RoleService>;
  let auth: Client<typeof AuthService>;
  const dir = mkdtempSync(join(tmpdir(), "warden-access-"));
  let sshKey: string;
  // The role asked for (2 approvals), a threshold-1 one, and the roles that request and review them.
  const DB = "ar-db";
  const ONE = "ar-one";
  let requester: Member;
  let reviewers: Member[];
  let outsider: Member;

  /** A signed-in user on a session bearer (clock moves do not end it), holding these roles. */
  async function member(tag: string, roleNames: string[]): Promise<Member> {
    const m = await signUp(t, tag);
    if (roleNames.length > 0) await t.client(UserService).updateUser({ id: m.userId, roles: roleNames, updateRoles: true }, admin.h);
    const session = await localSession(t, m.email, STRONG_PASSWORD);
    return { ...m, token: session, h: bearer(session) };
  }
  const ask = (m: Member, roleNames: string[], extra: { ttl?: bigint; reason?: string } = {}) =>
    requests.createAccessRequest(
      { roles: roleNames, reason: extra.reason ?? "incident 7", requestedTtl: extra.ttl ? { seconds: extra.ttl, nanos: 0 } : undefined },
      m.h,
    );
  const review = (m: Member, id: string, decision: ReviewDecision, reason = "") => requests.reviewAccessRequest({ id, decision, reason }, m.h);
  const certificate = (m: Member) => auth.issueUserCerts({ publicKey: sshKey }, m.h);
  const stats = (m: Member) => t.client(AdminService).getSystemStats({}, m.h);

  beforeAll(async () => {
    t = await createTestApp({}, { startAt: new Date(Date.now() - 60 * 60_000) });
    requests = t.client(AccessRequestService);
    roles = t.client(RoleService);
    auth = t.client(AuthService);
    admin = await adminWithTotp(t);
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "key")]);
    sshKey = readFileSync(join(dir, "key.pub"), "utf8").trim();

    // The requested roles grant an SSH login and an API permission (stats/get).
    const granting = [...RULES, { resources: ["stats"], verbs: ["get"], effect: 1 }];
    await roles.createRole({ role: { name: DB, description: "db", rules: granting, logins: ["dbadmin"], approvalsRequired: 2 } }, admin.h);
    await roles.createRole({ role: { name: ONE, description: "one", rules: granting, logins: ["oncall"], maxSessionTtl: { seconds: 3600n } } }, admin.h);
    await roles.createRole({ role: { name: "ar-requester", description: "asks", rules: RULES, requestRoles: [DB, ONE] } }, admin.h);
    await roles.createRole({ role: { name: "ar-reviewer", description: "reviews", rules: RULES, reviewRoles: [DB, ONE] } }, admin.h);
    // The requester reviews too: their own request is still refused.
    requester = await member("ar-requester", ["ar-requester", "ar-reviewer"]);
    reviewers = await Promise.all([1, 2, 3].map((i) => member(`ar-reviewer-${i}`, ["ar-reviewer"])));
    outsider = await member("ar-outsider", []);
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await t?.close();
  });

  it("roles carry request_roles, review_roles and approvals_required; named roles must exist", async () => {
    const got = (await roles.getRole({ name: "ar-requester" }, admin.h)).role!;
    expect(got.requestRoles).toEqual([DB, ONE]);
    expect((await roles.getRole({ name: DB }, admin.h)).role!.approvalsRequired).toBe(2);
    // Unset: one approval.
    expect((await roles.getRole({ name: ONE }, admin.h)).role!.approvalsRequired).toBe(1);
    const unknown = await expectError(
      roles.createRole({ role: { name: "ar-bad", description: "", rules: RULES, reviewRoles: ["no-such-role"] } }, admin.h),
      Code.InvalidArgument,
      "ROLE_UNKNOWN",
    );
    expect(violatedFields(unknown)).toEqual(["role.review_roles"]);
    await expectError(roles.createRole({ role: { name: "ar-bad", description: "", rules: RULES, approvalsRequired: 11 } }, admin.h), Code.InvalidArgument);
  });

  it("only requestable roles not held already, with a reason", async () => {
    await expectFailure(ask(outsider, [DB]), Code.PermissionDenied, "ACCESS_REQUEST_ROLE_NOT_REQUESTABLE");
    await expectFailure(ask(requester, ["ar-reviewer"]), Code.FailedPrecondition, "ACCESS_REQUEST_ROLE_HELD");
    await expectError(ask(requester, ["no-such-role"]), Code.InvalidArgument, "ROLE_UNKNOWN");
    await expectError(ask(requester, [DB], { reason: "" }), Code.InvalidArgument);
    await expectError(ask(requester, []), Code.InvalidArgument);
  });

  it("at most 10 pending requests per user", async () => {
    const eager = await member("ar-eager", ["ar-requester"]);
    const pending = [];
    for (let i = 0; i < 10; i++) pending.push((await ask(eager, [DB])).accessRequest!);
    await expectFailure(ask(eager, [DB]), Code.ResourceExhausted, "ACCESS_REQUEST_LIMIT");
    await requests.cancelAccessRequest({ id: pending[0]!.id }, eager.h);
    pending.push((await ask(eager, [DB])).accessRequest!);
    for (const r of pending.slice(1)) await requests.cancelAccessRequest({ id: r.id }, eager.h);
  });

  it("2 approvals of 3 reviewers: self-review refused, a reviewer counts once, the access widens, cancel ends it at once", async () => {
    await expectFailure(certificate(requester), Code.PermissionDenied, "SSH_LOGINS_REQUIRED");
    await expectFailure(stats(requester), Code.PermissionDenied, "PERMISSION_REQUIRED");

    const created = (await ask(requester, [DB], { ttl: 7200n })).accessRequest!;
    expect(created).toMatchObject({ userId: requester.userId, roles: [DB], state: PENDING, approvalsRequired: 2, reason: "incident 7" });

    await expectFailure(review(requester, created.id, APPROVE), Code.PermissionDenied, "ACCESS_REQUEST_SELF_REVIEW");
    await expectFailure(review(outsider, created.id, APPROVE), Code.PermissionDenied, "ACCESS_REQUEST_REVIEW_NOT_ALLOWED");
    const [r1, r2, r3] = reviewers as [Member, Member, Member];
    expect((await review(r1, created.id, APPROVE, "ok")).accessRequest!.state).toBe(PENDING);
    await expectFailure(review(r1, created.id, APPROVE), Code.FailedPrecondition, "ACCESS_REQUEST_ALREADY_REVIEWED");
    // Still one approval: nothing widened.
    await expectFailure(certificate(requester), Code.PermissionDenied, "SSH_LOGINS_REQUIRED");
    const approved = (await review(r2, created.id, APPROVE, "ok too")).accessRequest!;
    expect(approved.state).toBe(APPROVED);
    expect(approved.reviews.map((r) => [r.reviewerId, r.decision])).toEqual([
      [r1.userId, APPROVE],
      [r2.userId, APPROVE],
    ]);
    const ends = timestampDate(approved.accessExpireTime!);
    expect(ends.getTime() - t.clock.now().getTime()).toBe(7200_000);
    await expectFailure(review(r3, created.id, DENY), Code.FailedPrecondition, "ACCESS_REQUEST_NOT_PENDING");

    // Widened at the next call: the certificate carries the role's login and ends with the grant.
    const cert = await certificate(requester);
    expect(cert.principals).toEqual(["dbadmin"]);
    expect(endOf(cert.sshCertificate)).toBeLessThanOrEqual(ends.getTime());
    expect((await stats(requester)).$typeName).toBeDefined();
    // A lock on the granted role covers the widened caller too.
    await freshProof(t, admin);
    const lock = (await t.client(LockService).createLock({ target: { kind: LockTargetKind.ROLE, value: DB }, message: "db freeze" }, admin.h)).lock!;
    await expectFailure(stats(requester), Code.PermissionDenied, "LOCKED");
    await freshProof(t, admin);
    await t.client(LockService).deleteLock({ id: lock.id }, admin.h);
    expect((await certificate(requester)).principals).toEqual(["dbadmin"]);
    // A granted role is held: asking again is refused.
    await expectFailure(ask(requester, [DB]), Code.FailedPrecondition, "ACCESS_REQUEST_ROLE_HELD");

    // The requester cancels: both stop at once.
    const cancelled = (await requests.cancelAccessRequest({ id: created.id }, requester.h)).accessRequest!;
    expect(cancelled.state).toBe(CANCELLED);
    await expectFailure(certificate(requester), Code.PermissionDenied, "SSH_LOGINS_REQUIRED");
    await expectFailure(stats(requester), Code.PermissionDenied, "PERMISSION_REQUIRED");
    await expectFailure(requests.cancelAccessRequest({ id: created.id }, requester.h), Code.FailedPrecondition, "ACCESS_REQUEST_NOT_CANCELLABLE");
    // Only one's own: another's request is not found.
    await expectFailure(requests.cancelAccessRequest({ id: created.id }, r1.h), Code.NotFound, "ACCESS_REQUEST_NOT_FOUND");

    // Every step is in the audit log.
    const [create] = await auditOf(t, "access_request.create", requester.userId);
    expect(create).toMatchObject({ targetId: created.id, outcome: "success" });
    expect((await auditOf(t, "access_request.review", r2.userId)).find((e) => e.targetId === created.id)?.details).toMatchObject({
      decision: "approve",
      state: "approved",
    });
    expect((await auditOf(t, "access_request.review", r3.userId)).find((e) => e.targetId === created.id)).toMatchObject({
      outcome: "failure",
      details: { reason: "ACCESS_REQUEST_NOT_PENDING" },
    });
    expect((await auditOf(t, "access_request.review", requester.userId)).find((e) => e.targetId === created.id)?.details).toMatchObject({
      reason: "ACCESS_REQUEST_SELF_REVIEW",
    });
    expect((await auditOf(t, "access_request.cancel", requester.userId)).map((e) => e.targetId)).toContain(created.id);
  });

  it("any denial denies, whatever the approvals", async () => {
    const [r1, r2] = reviewers as [Member, Member];
    const created = (await ask(requester, [DB])).accessRequest!;
    await review(r1, created.id, APPROVE);
    const denied = (await review(r2, created.id, DENY, "not now")).accessRequest!;
    expect(denied.state).toBe(DENIED);
    expect(denied.accessExpireTime).toBeUndefined();
    await expectFailure(certificate(requester), Code.PermissionDenied, "SSH_LOGINS_REQUIRED");
    await expectFailure(requests.cancelAccessRequest({ id: created.id }, requester.h), Code.FailedPrecondition, "ACCESS_REQUEST_NOT_CANCELLABLE");
  });

  it("10 concurrent reviews of a threshold-1 request: exactly one outcome", async () => {
    const crowd = [...reviewers, ...(await Promise.all([4, 5, 6, 7, 8, 9, 10].map((i) => member(`ar-reviewer-${i}`, ["ar-reviewer"]))))];
    const created = (await ask(requester, [ONE])).accessRequest!;
    const results = await Promise.allSettled(crowd.map((m, i) => review(m, created.id, i % 2 === 0 ? APPROVE : DENY)));
    const won = results.filter((r) => r.status === "fulfilled");
    expect(won).toHaveLength(1);
    for (const r of results) if (r.status === "rejected") expect(ConnectError.from(r.reason).code, String(r.reason)).toBe(Code.FailedPrecondition);
    const final = (await requests.getAccessRequest({ id: created.id }, requester.h)).accessRequest!;
    expect(final.reviews).toHaveLength(1);
    expect(final.state).toBe(final.reviews[0]!.decision === APPROVE ? APPROVED : DENIED);
    if (final.state === APPROVED) await requests.cancelAccessRequest({ id: created.id }, requester.h);
  });

  it("TTL expiry ends the widened access at once, without a restart", async () => {
    const [r1] = reviewers as [Member];
    const created = (await ask(requester, [ONE], { ttl: 600n })).accessRequest!;
    const approved = (await review(r1, created.id, APPROVE)).accessRequest!;
    expect(approved.state).toBe(APPROVED);
    expect((await certificate(requester)).principals).toEqual(["oncall"]);
    expect(endOf((await certificate(requester)).sshCertificate)).toBeLessThanOrEqual(timestampDate(approved.accessExpireTime!).getTime());
    t.clock.advance(599);
    expect((await certificate(requester)).principals).toEqual(["oncall"]);
    t.clock.advance(2);
    await expectFailure(certificate(requester), Code.PermissionDenied, "SSH_LOGINS_REQUIRED");
    await expectFailure(stats(requester), Code.PermissionDenied, "PERMISSION_REQUIRED");
    expect((await requests.getAccessRequest({ id: created.id }, requester.h)).accessRequest!.state).toBe(EXPIRED);
    await expectFailure(requests.cancelAccessRequest({ id: created.id }, requester.h), Code.FailedPrecondition, "ACCESS_REQUEST_NOT_CANCELLABLE");
  });

  it("a requested TTL is capped by the role's max_session_ttl", async () => {
    const created = (await ask(requester, [ONE], { ttl: 86_400n })).accessRequest!;
    const approved = (await review(reviewers[0]!, created.id, APPROVE)).accessRequest!;
    expect(timestampDate(approved.accessExpireTime!).getTime() - t.clock.now().getTime()).toBe(3600_000);
    await requests.cancelAccessRequest({ id: created.id }, requester.h);
  });

  it("who sees what; the state filter; pagination", async () => {
    t.clock.advance(1);
    const mine = (await ask(requester, [DB], { reason: "listing" })).accessRequest!;
    // Reviewers see requests for roles they review; others see only their own.
    expect((await requests.getAccessRequest({ id: mine.id }, reviewers[2]!.h)).accessRequest!.id).toBe(mine.id);
    await expectFailure(requests.getAccessRequest({ id: mine.id }, outsider.h), Code.NotFound, "ACCESS_REQUEST_NOT_FOUND");
    expect((await requests.listAccessRequests({}, outsider.h)).accessRequests).toEqual([]);
    // The admin (access_request/list) sees all.
    expect((await requests.getAccessRequest({ id: mine.id }, admin.h)).accessRequest!.id).toBe(mine.id);

    const all: AccessRequest[] = [];
    let pageToken = "";
    do {
      const page = await requests.listAccessRequests({ pageSize: 2, pageToken }, requester.h);
      expect(page.accessRequests.length).toBeLessThanOrEqual(2);
      all.push(...page.accessRequests);
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(all.length).toBeGreaterThanOrEqual(6);
    expect(new Set(all.map((r) => r.id)).size).toBe(all.length);
    expect(all[0]!.id).toBe(mine.id);

    const ids = async (state: AccessRequestState) => (await requests.listAccessRequests({ state, pageSize: 100 }, requester.h)).accessRequests.map((r) => r.id);
    expect(await ids(PENDING)).toEqual([mine.id]);
    for (const state of [APPROVED, DENIED, CANCELLED, EXPIRED]) {
      const listed = await ids(state);
      expect(listed).toEqual(all.filter((r) => r.state === state).map((r) => r.id));
    }
    expect(await ids(DENIED)).toHaveLength(all.filter((r) => r.state === DENIED).length);
    expect((await ids(EXPIRED)).length).toBeGreaterThanOrEqual(1);

    // A pending request lapses after a day (the sessions do too: new ones).
    t.clock.advance(24 * 3600 + 1);
    const again = async (m: Member) => ({ ...m, h: bearer(await localSession(t, m.email, STRONG_PASSWORD)) });
    const [asker, reviewer] = [await again(requester), await again(reviewers[0]!)];
    const lapsed = async (state: AccessRequestState) => (await requests.listAccessRequests({ state, pageSize: 100 }, asker.h)).accessRequests.map((r) => r.id);
    expect(await lapsed(PENDING)).toEqual([]);
    expect(await lapsed(EXPIRED)).toContain(mine.id);
    await expectFailure(review(reviewer, mine.id, APPROVE), Code.FailedPrecondition, "ACCESS_REQUEST_NOT_PENDING");
  });
});
