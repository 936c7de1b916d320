import type { Clock } from "../../clock.js";
import type { AgentPrincipal } from "../agent/agent-credentials.js";
import type { RequestMeta } from "../auth/request-meta.js";
import { invalidArgument } from "../errors.js";
import { whereFrom } from "./audit-actor.js";
import type { Outcome } from "./audit-event.js";
import type { AuditEventType } from "./audit-events.js";
import type { AuditLog } from "./audit-log.js";

/** The event types agents may write (EmitAuditEvent's kinds). */
export type SshEventType = Extract<AuditEventType, "ssh.session.start" | "ssh.session.end" | "ssh.exec" | "ssh.port_forward" | "ssh.file_transfer">;

export interface AgentEvent {
  eventType: SshEventType;
  user: string;
  login: string;
  sessionId: string;
  occurredAt: Date;
  outcome: Outcome;
  metadata: Record<string, string>;
}

/** The node's clock may run this far ahead of ours. */
export const MAX_CLOCK_AHEAD_MS = 5 * 60_000;
/** Events older than this are refused: an agent that was offline longer has lost them anyway, and a replay of old events is no use. */
export const MAX_EVENT_AGE_MS = 7 * 24 * 3600_000;
/** The whole event: every string and metadata key and value, in UTF-8 bytes. */
export const MAX_EVENT_BYTES = 8 * 1024;
/** The proto's limits, checked again here for callers that do not go through protovalidate. */
const MAX_METADATA = 32;
const METADATA_KEY = /^[A-Za-z0-9_.-]{1,64}$/;
const MAX_METADATA_VALUE = 1024;
/** A user certificate's key id ("<user id>@warden", see user-certificates.ts) names the user id. */
const CERT_KEY_ID = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})@warden$/i;

/**
 * EmitAuditEvent: what an agent (or the proxy on its node) reports about SSH sessions becomes a
 * link of the chain. The node is the actor, the session's user the target; the node's own time
 * goes into the details (the event's time is when it was written, so the chain's times stay in
 * order). Appended on its own, it shares a statement with concurrent appends (group commit).
 */
export class AgentAuditEvents {
  constructor(private readonly d: { audit: Pick<AuditLog, "recordAlone">; clock: Clock }) {}

  async emit(agent: AgentPrincipal, e: AgentEvent, meta: RequestMeta): Promise<void> {
    const now = this.d.clock.now().getTime();
    const at = e.occurredAt.getTime();
    if (Number.isNaN(at) || at > now + MAX_CLOCK_AHEAD_MS) throw invalidArgument("event.occurred_at", "is more than 5 minutes in the future");
    if (at < now - MAX_EVENT_AGE_MS) throw invalidArgument("event.occurred_at", "is more than 7 days old");
    const entries = Object.entries(e.metadata);
    if (entries.length > MAX_METADATA) throw invalidArgument("event.metadata", `at most ${MAX_METADATA} entries`);
    for (const [k, v] of entries) {
      if (!METADATA_KEY.test(k)) throw invalidArgument("event.metadata", "keys are 1-64 characters [A-Za-z0-9_.-]");
      if (v.length > MAX_METADATA_VALUE) throw invalidArgument("event.metadata", `values are at most ${MAX_METADATA_VALUE} characters`);
    }
    const strings = [e.user, e.login, e.sessionId, ...entries.flat()];
    // PostgreSQL text and jsonb refuse NUL: say so here rather than fail the statement.
    if (strings.some((s) => s.includes("\u0000"))) throw invalidArgument("event", "no field may hold a NUL character");
    const bytes = strings.reduce((n, s) => n + Buffer.byteLength(s), 0);
    if (bytes > MAX_EVENT_BYTES) throw invalidArgument("event", `the event's fields and metadata are ${bytes} bytes, more than ${MAX_EVENT_BYTES}`);

    const details: Record<string, string> = {
      node_id: agent.agentId,
      hostname: agent.hostname,
      login: e.login,
      session_id: e.sessionId,
      occurred_at: e.occurredAt.toISOString(),
    };
    for (const [k, v] of entries) details[`meta.${k}`] = v;
    await this.d.audit.recordAlone({
      eventType: e.eventType,
      outcome: e.outcome,
      actorType: "node",
      actorId: agent.agentId,
      targetType: "user",
      targetId: CERT_KEY_ID.exec(e.user)?.[1]?.toLowerCase() ?? e.user,
      ...whereFrom(meta),
      details,
    });
  }
}
