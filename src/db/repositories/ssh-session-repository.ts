import { and, asc, desc, eq, gt, lt, or, sql, type SQL } from "drizzle-orm";
import type { DbOrTx } from "../client.js";
import { rowsOf } from "../rows.js";
import { nodes, sshSessions } from "../schema/index.js";
import type { ReportedSshSession, SshSessionListing, SshSessionQuery, SshSessionStore } from "../../domain/store/ssh-session-store.js";

const s = sshSessions;
const n = nodes;
const listing = {
  nodeId: s.nodeId,
  sessionId: s.sessionId,
  user: s.user,
  userId: s.userId,
  login: s.login,
  startedAt: s.startedAt,
  remoteAddress: s.remoteAddress,
  terminateRequestedAt: s.terminateRequestedAt,
  hostname: n.hostname,
};

export class SshSessionRepository implements SshSessionStore {
  constructor(private readonly db: DbOrTx) {}

  async replace(nodeId: string, sessions: ReportedSshSession[]): Promise<{ terminate: string[]; changed: boolean }> {
    const rows = JSON.stringify(
      sessions.map((r) => ({
        session_id: r.sessionId,
        user_name: r.user,
        user_id: r.userId,
        login: r.login,
        started_at: r.startedAt.toISOString(),
        remote_address: r.remoteAddress,
      })),
    );
    // One statement: drop what is no longer reported, add or update (only when different) the
    // rest, and read the marks (the statement's snapshot: new rows carry none).
    const result = await this.db.execute(sql`
      with v as (
        select * from jsonb_to_recordset(${rows}::jsonb)
          as v(session_id text, user_name text, user_id uuid, login text, started_at timestamptz, remote_address text)
      ), gone as (
        delete from ssh_sessions where node_id = ${nodeId}::uuid
          and not exists (select 1 from v where v.session_id = ssh_sessions.session_id)
        returning 1
      ), written as (
        insert into ssh_sessions (node_id, session_id, user_name, user_id, login, started_at, remote_address)
          select ${nodeId}::uuid, session_id, user_name, user_id, login, started_at, remote_address from v
        on conflict (node_id, session_id) do update set
          user_name = excluded.user_name, user_id = excluded.user_id, login = excluded.login,
          started_at = excluded.started_at, remote_address = excluded.remote_address
        where (ssh_sessions.user_name, ssh_sessions.user_id, ssh_sessions.login, ssh_sessions.started_at, ssh_sessions.remote_address)
          is distinct from (excluded.user_name, excluded.user_id, excluded.login, excluded.started_at, excluded.remote_address)
        returning 1
      )
      select (select count(*) from gone)::int as gone, (select count(*) from written)::int as written,
        coalesce((select jsonb_agg(t.session_id order by t.session_id) from ssh_sessions t
          where t.node_id = ${nodeId}::uuid and t.terminate_requested_at is not null
            and exists (select 1 from v where v.session_id = t.session_id)), '[]'::jsonb) as terminate`);
    const row = rowsOf<{ gone: number; written: number; terminate: string[] }>(result)[0]!;
    return { terminate: row.terminate, changed: Number(row.gone) + Number(row.written) > 0 };
  }

  async listActive(q: SshSessionQuery): Promise<SshSessionListing[]> {
    const a = q.after;
    const conditions: (SQL | undefined)[] = [
      eq(n.state, "registered"),
      gt(n.lastHeartbeatAt, q.onlineSince),
      q.userId ? eq(s.userId, q.userId) : undefined,
      a
        ? or(lt(s.startedAt, a.startedAt), and(eq(s.startedAt, a.startedAt), sql`(${s.nodeId}, ${s.sessionId}) > (${a.nodeId}::uuid, ${a.sessionId})`))
        : undefined,
    ];
    return this.db
      .select(listing)
      .from(s)
      .innerJoin(n, eq(n.id, s.nodeId))
      .where(and(...conditions))
      .orderBy(desc(s.startedAt), asc(s.nodeId), asc(s.sessionId))
      .limit(q.limit);
  }

  async findActive(nodeId: string, sessionId: string, onlineSince: Date): Promise<SshSessionListing | undefined> {
    const [row] = await this.db
      .select(listing)
      .from(s)
      .innerJoin(n, eq(n.id, s.nodeId))
      .where(and(eq(s.nodeId, nodeId), eq(s.sessionId, sessionId), eq(n.state, "registered"), gt(n.lastHeartbeatAt, onlineSince)));
    return row;
  }

  async requestTermination(nodeId: string, sessionId: string, at: Date): Promise<boolean> {
    const marked = await this.db
      .update(s)
      .set({ terminateRequestedAt: sql`coalesce(${s.terminateRequestedAt}, ${at.toISOString()}::timestamptz)` })
      .where(and(eq(s.nodeId, nodeId), eq(s.sessionId, sessionId)))
      .returning({ id: s.sessionId });
    return marked.length > 0;
  }
}
