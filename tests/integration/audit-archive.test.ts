import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditService, ChainCheck, type ArchiveAuditEventsResponse } from "../../gen/warden/audit/v1/audit_service_pb.js";
import { newUser } from "../helpers/accounts.js";
import { auditRows, disableTriggers, execute } from "../helpers/audit-attack.js";
import { expectError } from "../helpers/expect-error.js";
import { adminWithTotp, freshProof, signUpWithTotp, type TotpMember } from "../helpers/mfa-world.js";
import { createTestApp, type TestApp } from "../helpers/test-app.js";

type Line = Record<string, unknown>;
const linesOf = (text: string): Line[] =>
  text
    .trimEnd()
    .split("\n")
    .map((l) => JSON.parse(l) as Line);
const textOf = (lines: Line[]) => lines.map((l) => JSON.stringify(l)).join("\n") + "\n";

/**
 * ArchiveAuditEvents and VerifyAuditArchive: a prefix of the chain is exported with its proof,
 * deleted only when the caller confirms the file's hash, and the live chain still verifies from
 * the archive head; any change to an archive file is found; non-prefix ranges are refused.
 */
describe("archiving the audit chain", () => {
  let t: TestApp;
  let admin: TotpMember;
  /** The first archive, as the server answered it when it deleted its events. */
  let archived: ArchiveAuditEventsResponse;

  const audit = () => t.client(AuditService);
  const fresh = () => freshProof(t, admin);
  const archive = (end: Date, more: { confirmSha256?: string; start?: Date; maxEvents?: number } = {}) =>
    audit().archiveAuditEvents(
      { endTime: timestampFromDate(end), startTime: more.start && timestampFromDate(more.start), confirmSha256: more.confirmSha256, maxEvents: more.maxEvents },
      admin.h,
    );
  const verifyChain = () => audit().verifyAuditChain({}, admin.h);
  const verifyArchive = (text: string) => audit().verifyAuditArchive({ archive: text }, admin.h);

  beforeAll(async () => {
    // The clock moves over 15 minutes in all: the admin's token outlives it.
    t = await createTestApp({ access_token_ttl: "4h" });
    admin = await adminWithTotp(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  it("needs the archive permission and a fresh second factor", async () => {
    const user = await signUpWithTotp(t, "archive-user");
    await freshProof(t, user);
    await expectError(audit().archiveAuditEvents({ endTime: timestampFromDate(t.clock.now()) }, user.h), Code.PermissionDenied, "PERMISSION_REQUIRED");
    t.clock.advance(11 * 60);
    await expectError(archive(t.clock.now()), Code.FailedPrecondition, "MFA_REQUIRED");
    expect(await auditRows(t)).not.toHaveLength(0);
  });

  it("exports a prefix, deletes it only on confirmation, and the live chain verifies from the archive head", async () => {
    for (let i = 0; i < 3; i++) await newUser(t, { tag: "archived" });
    const checkpoint = (await audit().createAuditCheckpoint({}, admin.h)).checkpoint!;
    await newUser(t, { tag: "archived" });
    t.clock.advance(60);
    const end = t.clock.now();
    t.clock.advance(60);
    await newUser(t, { tag: "kept" });
    await fresh();

    const rowsBefore = await auditRows(t);
    const inRange = rowsBefore.filter((r) => r.occurredAt < end);
    const exported = await archive(end);
    expect(exported).toMatchObject({ deleted: false, more: false, firstSequence: 1n, eventCount: BigInt(inRange.length) });
    expect(exported.lastSequence).toBe(BigInt(inRange.at(-1)!.sequence));
    expect(exported.headHash).toBe(inRange.at(-1)!.hash);
    expect(exported.checkpointCount).toBeGreaterThanOrEqual(1n);
    const lines = linesOf(exported.archive);
    expect(lines[0]).toMatchObject({ type: "header", format: "warden-audit-archive/1", after: { sequence: 0, hash: "0".repeat(64) } });
    expect(lines.filter((l) => l.type === "event")).toHaveLength(inRange.length);
    expect(lines.find((l) => l.type === "checkpoint" && l.number === Number(checkpoint.number))).toMatchObject({ jws: checkpoint.jws });
    expect(lines.at(-1)).toMatchObject({ type: "footer", head: { sequence: Number(exported.lastSequence), hash: exported.headHash } });
    // An export deletes nothing and is not (yet) a recorded archive.
    expect(await auditRows(t)).toHaveLength(rowsBefore.length);
    await expect(verifyArchive(exported.archive)).resolves.toMatchObject({ intact: true, recorded: false, checkedEvents: BigInt(inRange.length) });

    await expectError(archive(end, { confirmSha256: "0".repeat(64) }), Code.FailedPrecondition, "AUDIT_ARCHIVE_MISMATCH");
    expect(await auditRows(t)).toHaveLength(rowsBefore.length);

    archived = await archive(end, { confirmSha256: exported.sha256 });
    expect(archived).toMatchObject({ deleted: true, sha256: exported.sha256, archive: exported.archive });
    const live = await auditRows(t);
    expect(live[0]!.sequence).toBe(Number(archived.lastSequence) + 1);
    expect(live[0]!.prevHash).toBe(archived.headHash);
    const record = live.find((r) => r.eventType === "audit.archive")!;
    expect(record).toMatchObject({ actorId: admin.userId, targetType: "audit_archive", targetId: "1" });
    expect(record.details).toEqual({
      number: "1",
      first_sequence: "1",
      head_sequence: String(archived.lastSequence),
      head_hash: archived.headHash,
      head_key_id: "v1",
      events: String(archived.eventCount),
      sha256: archived.sha256,
    });

    const chain = await verifyChain();
    expect(chain).toMatchObject({ intact: true, failedCheck: ChainCheck.UNSPECIFIED, checkedEvents: BigInt(live.length) });
    expect(chain.checkedCheckpoints).toBeGreaterThanOrEqual(1n);
    await expect(verifyArchive(archived.archive)).resolves.toMatchObject({ intact: true, recorded: true, checkedEvents: archived.eventCount });
    // Nothing left in that range.
    await expectError(archive(end), Code.FailedPrecondition, "AUDIT_ARCHIVE_EMPTY");
  });

  it("a second archive continues from the first; max_events archives part of a range", async () => {
    t.clock.advance(60);
    for (let i = 0; i < 3; i++) await newUser(t, { tag: "second" });
    t.clock.advance(60);
    await fresh();
    const end = t.clock.now();
    const part = await archive(end, { maxEvents: 2 });
    expect(part).toMatchObject({ eventCount: 2n, more: true, firstSequence: archived.lastSequence + 1n });
    expect(linesOf(part.archive)[0]).toMatchObject({ after: { sequence: Number(archived.lastSequence), hash: archived.headHash } });
    const second = await archive(end, { maxEvents: 2, confirmSha256: part.sha256 });
    expect(second.deleted).toBe(true);
    await expect(verifyChain()).resolves.toMatchObject({ intact: true });
    await expect(verifyArchive(second.archive)).resolves.toMatchObject({ intact: true, recorded: true });
    // The first archive is still the recorded one for its range.
    await expect(verifyArchive(archived.archive)).resolves.toMatchObject({ intact: true, recorded: true });
  });

  it("finds any change to an archive file: a field, a removed line, a reordered line, header, footer, checkpoint", async () => {
    const lines = linesOf(archived.archive);
    const events = lines.map((l, i) => [l, i] as const).filter(([l]) => l.type === "event");
    const [, mid] = events[Math.floor(events.length / 2)]!;
    const edit = (i: number, change: (l: Line) => Line) => textOf(lines.map((l, j) => (j === i ? change({ ...l }) : l)));
    const fields: [string, unknown][] = [
      ["sequence", (lines[mid]!.sequence as number) + 1],
      ["occurred_at", new Date(Date.parse(lines[mid]!.occurred_at as string) + 1).toISOString()],
      ["event_type", "tampered"],
      ["outcome", lines[mid]!.outcome === "success" ? "failure" : "success"],
      ["actor_type", "tampered"],
      ["actor_id", "someone-else"],
      ["target_type", "tampered"],
      ["target_id", "someone-else"],
      ["client_ip", "203.0.113.9"],
      ["request_id", "forged"],
      ["details", { reason: "nothing to see" }],
      ["prev_hash", "f".repeat(64)],
      ["hash", "e".repeat(64)],
      ["key_id", "legacy"],
      // The event id is not part of the link: the recorded SHA-256 covers it.
      ["id", "00000000-0000-4000-8000-000000000000"],
    ];
    for (const [field, value] of fields) expect(lines[mid]![field], field).not.toEqual(value);
    const tampered: [string, string][] = fields.map(([field, value]) => [`event field ${field}`, edit(mid, (l) => ({ ...l, [field]: value }))]);
    const cp = lines.findIndex((l) => l.type === "checkpoint");
    tampered.push(
      ["a removed event line", textOf(lines.filter((_, i) => i !== mid))],
      ["the first event removed", textOf(lines.filter((_, i) => i !== events[0]![1]))],
      ["the last event removed", textOf(lines.filter((_, i) => i !== events.at(-1)![1]))],
      ["two event lines swapped", textOf(lines.map((l, i) => (i === mid ? lines[mid + 1]! : i === mid + 1 ? lines[mid]! : l)))],
      ["the checkpoint line removed", textOf(lines.filter((_, i) => i !== cp))],
      ["the checkpoint's jws of another", edit(cp, (l) => ({ ...l, jws: (l.jws as string).replace(/\.[^.]+$/, ".AAAA") }))],
      ["the checkpoint's hash", edit(cp, (l) => ({ ...l, hash: "d".repeat(64) }))],
      ["the header's range", edit(0, (l) => ({ ...l, first_sequence: 2 }))],
      ["the header's link", edit(0, (l) => ({ ...l, after: { sequence: 0, hash: "1".repeat(64) } }))],
      ["the footer's head", edit(lines.length - 1, (l) => ({ ...l, head: { ...(l.head as Line), hash: "c".repeat(64) } }))],
      ["the footer removed", textOf(lines.slice(0, -1))],
      ["cut mid-line", archived.archive.slice(0, archived.archive.length - 20)],
      ["a line that is not JSON", archived.archive.replace('"type":"event"', '"type":"event",,')],
      ["the same JSON, spaced differently (the recorded SHA-256 differs)", archived.archive.replace('{"type":"header"', '{ "type":"header"')],
    );
    for (const [name, text] of tampered) {
      const r = await verifyArchive(text);
      expect(r.intact, `${name}: ${r.problem}`).toBe(false);
      expect(r.problem, name).not.toBe("");
      expect(r.failedCheck, name).not.toBe(ChainCheck.UNSPECIFIED);
    }
    const spaced = await verifyArchive(tampered.at(-1)![1]);
    expect(spaced).toMatchObject({ failedCheck: ChainCheck.ARCHIVE });
    expect(spaced.problem).toMatch(/SHA-256/);
    const edited = await verifyArchive(tampered[0]![1]);
    expect(edited.failedCheck).not.toBe(ChainCheck.FORMAT);
  });

  it("the append-only triggers still refuse every other delete or change", async () => {
    const refused = async (query: ReturnType<typeof sql>) => {
      const err = (await execute(t, query).then(
        () => undefined,
        (e: unknown) => e,
      )) as (Error & { cause?: Error }) | undefined;
      expect(err?.cause?.message ?? err?.message).toMatch(/append-only/);
    };
    const [first] = await auditRows(t);
    await refused(sql`delete from audit_events where sequence = ${first!.sequence}`);
    // The setting alone, outside the archive's transaction, lasts one statement.
    await execute(t, sql`select set_config('warden.audit_archive_through', ${String(first!.sequence)}, true)`);
    await refused(sql`delete from audit_events where sequence = ${first!.sequence}`);
    await refused(sql`update audit_events set outcome = 'success' where sequence = ${first!.sequence}`);
    await refused(sql`update audit_archives set head_hash = ${"0".repeat(64)}`);
    await refused(sql`delete from audit_archives`);
    await expect(verifyChain()).resolves.toMatchObject({ intact: true });
  });

  it("refuses ranges that are not a prefix, and empty ones", async () => {
    await fresh();
    const [oldest] = await auditRows(t);
    await expectError(archive(t.clock.now(), { start: new Date(oldest!.occurredAt.getTime() + 1) }), Code.FailedPrecondition, "AUDIT_ARCHIVE_NOT_PREFIX");
    await expectError(archive(new Date(oldest!.occurredAt.getTime() - 1000)), Code.FailedPrecondition, "AUDIT_ARCHIVE_EMPTY");
    await expectError(archive(oldest!.occurredAt, { start: new Date(oldest!.occurredAt.getTime() + 5000) }), Code.InvalidArgument);
    // A link whose time is older than the one before it: a range ending between them would
    // leave a hole in the chain.
    t.clock.advance(60);
    const late = t.clock.now();
    const entry = { eventType: "user.update", outcome: "success", actorType: "system", actorId: "test" } as const;
    await t.app.hooks.store.audit.append(entry, late);
    await t.app.hooks.store.audit.append(entry, new Date(late.getTime() - 30_000));
    await expectError(archive(new Date(late.getTime() - 10_000)), Code.FailedPrecondition, "AUDIT_ARCHIVE_NOT_PREFIX");
    await expect(verifyChain()).resolves.toMatchObject({ intact: true });
  });
});

/** Someone who can bypass the triggers, after an archive: a forged or removed archive record is found. */
describe("VerifyAuditChain after an archive finds a forged archive record", () => {
  it.each(["a forged newer archive record hiding removed events", "the archive record removed"])("%s", async (attack) => {
    const t = await createTestApp();
    try {
      const admin = await adminWithTotp(t);
      for (let i = 0; i < 2; i++) await newUser(t, { tag: "history" });
      t.clock.advance(60);
      const end = t.clock.now();
      for (let i = 0; i < 3; i++) await newUser(t, { tag: "later" });
      await freshProof(t, admin);
      const audit = t.client(AuditService);
      const exported = await audit.archiveAuditEvents({ endTime: timestampFromDate(end) }, admin.h);
      await audit.archiveAuditEvents({ endTime: timestampFromDate(end), confirmSha256: exported.sha256 }, admin.h);
      await expect(audit.verifyAuditChain({}, admin.h)).resolves.toMatchObject({ intact: true });

      await disableTriggers(t);
      await execute(t, sql`alter table audit_archives disable trigger user`);
      const live = await auditRows(t);
      if (attack.startsWith("a forged")) {
        // Remove the next two events and record them as archived: no audit.archive link vouches for it.
        const hidden = live.slice(0, 2);
        await execute(t, sql`delete from audit_events where sequence <= ${hidden[1]!.sequence}`);
        await execute(
          t,
          sql`insert into audit_archives (number, first_sequence, head_sequence, head_hash, head_key_id, event_count, sha256, archived_at)
              values (2, ${hidden[0]!.sequence}, ${hidden[1]!.sequence}, ${hidden[1]!.hash}, 'v1', 2, ${"a".repeat(64)}, now())`,
        );
        const r = await audit.verifyAuditChain({}, admin.h);
        expect(r).toMatchObject({ intact: false, failedCheck: ChainCheck.ARCHIVE });
      } else {
        await execute(t, sql`delete from audit_archives`);
        const r = await audit.verifyAuditChain({}, admin.h);
        expect(r).toMatchObject({ intact: false, failedCheck: ChainCheck.SEQUENCE_GAP, firstBrokenSequence: BigInt(live[0]!.sequence) });
      }
    } finally {
      await t.close();
    }
  });
});
