import type { AuditRow } from "../records.js";
import type { AuditStore } from "../store/audit-store.js";
import { decodePageToken, pageOf, pageSize } from "../pagination.js";

export interface AuditFilter {
  start?: Date;
  end?: Date;
  eventTypes: string[];
  actorId: string;
  targetId: string;
  /** Actor or target. */
  userId?: string;
  /** Actor or target. */
  nodeId?: string;
  outcome?: "success" | "failure";
}

const sequenceCursor = (row: { sequence: number }) => ({ s: row.sequence });

/** Reading the audit log: newest first, or filtered in chain order; both paged by sequence. */
export class AuditQueries {
  constructor(private readonly store: { audit: Pick<AuditStore, "listNewestFirst" | "query"> }) {}

  async newestFirst(req: { pageSize: number; pageToken: string }): Promise<{ items: AuditRow[]; nextPageToken: string }> {
    const size = pageSize(req.pageSize);
    const cursor = decodePageToken<{ s: number }>(req.pageToken, ["s"]);
    return pageOf(await this.store.audit.listNewestFirst(size + 1, cursor?.s), size, sequenceCursor);
  }

  async query(filter: AuditFilter, req: { pageSize: number; pageToken: string }): Promise<{ items: AuditRow[]; nextPageToken: string }> {
    const size = pageSize(req.pageSize);
    const cursor = decodePageToken<{ s: number }>(req.pageToken, ["s"]);
    const rows = await this.store.audit.query({
      start: filter.start,
      end: filter.end,
      eventTypes: filter.eventTypes,
      actorId: filter.actorId || undefined,
      targetId: filter.targetId || undefined,
      userId: filter.userId || undefined,
      nodeId: filter.nodeId || undefined,
      outcome: filter.outcome,
      afterSequence: cursor?.s,
      limit: size + 1,
    });
    return pageOf(rows, size, sequenceCursor);
  }
}
