import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AuditService, Outcome, SshEventKind } from "../gen/warden/audit/v1/audit_service_pb.js";
import { AuthService } from "../gen/warden/auth/v1/auth_service_pb.js";
import { JoinService } from "../gen/warden/join/v1/join_service_pb.js";
import type { Operation } from "./load.js";
import { callOnce, pathOf, unaryOp, type Ratio, type Scenario } from "./scenarios.js";
import { BENCH_ADMIN } from "./ssh-scenarios.js";

/** Agents the events rotate over: each call is authenticated as one of them (issue 14). */
const EMITTING_AGENTS = 100;

/**
 * EmitAuditEvent: agents reporting SSH commands. Every call is an appended link of the audit
 * chain, so after each window VerifyAuditChain must find the chain intact and holding at least
 * every event the window wrote.
 */
function emitAuditEventScenario(): Scenario {
  let admin: Record<string, string> = {};
  let accepted = 0;
  let checkedEvents = 0;
  return {
    name: "EmitAuditEvent (100 agents)",
    measures:
      "warden.audit.v1.AuditService/EmitAuditEvent with `x-agent-id` and `authorization: Bearer <agent token>`, rotating over 100 agents registered at set-up: an ssh.exec event with 3 metadata entries (~200 bytes), one audit chain link per call (requests/s = events/s), appended outside any transaction so that concurrent calls share a statement (group commit). After each window VerifyAuditChain (admin) must find the chain intact and grown by every accepted event.",
    where: "server",
    async prepare({ pool }) {
      const login = await callOnce(pool, AuthService.method.login, BENCH_ADMIN);
      admin = { authorization: `Bearer ${login.accessToken}` };
      const { token } = await callOnce(pool, JoinService.method.createJoinToken, { uses: EMITTING_AGENTS }, admin);
      const ops: Operation[] = [];
      for (let i = 0; i < EMITTING_AGENTS; i++) {
        const r = await callOnce(pool, JoinService.method.registerAgent, { token, hostname: `audit-agent-${i}.bench.example.com` });
        const headers = { "x-agent-id": r.agentId, authorization: `Bearer ${r.agentToken}` };
        const event = {
          kind: SshEventKind.EXEC,
          user: login.user!.id,
          login: "ubuntu",
          sessionId: `bench-session-${i}`,
          occurredAt: timestampFromDate(new Date()),
          outcome: Outcome.SUCCESS,
          metadata: { command: "systemctl status nginx --no-pager", exit_code: "0", tty: "false" },
        };
        ops.push(unaryOp(pool, AuditService.method.emitAuditEvent, { event }, headers));
      }
      // A user's token must be refused, or the load would not measure the agent check.
      const refused = await pool.unary(pathOf(AuditService.method.emitAuditEvent), new Uint8Array(0), admin);
      if (refused.status !== 401) throw new Error(`EmitAuditEvent: an admin's token got HTTP ${refused.status}, not 401`);
      checkedEvents = Number((await callOnce(pool, AuditService.method.verifyAuditChain, {}, admin)).checkedEvents);
      let sent = 0;
      return async () => {
        await ops[sent++ % ops.length]!();
        accepted++;
      };
    },
    async verify({ pool }) {
      const started = Date.now();
      const r = await callOnce(pool, AuditService.method.verifyAuditChain, {}, admin);
      if (!r.intact) throw new Error(`VerifyAuditChain: not intact at sequence ${r.firstBrokenSequence}: ${r.problem}`);
      const grown = Number(r.checkedEvents) - checkedEvents;
      if (grown < accepted) throw new Error(`VerifyAuditChain: the chain grew by ${grown} events, but ${accepted} calls were accepted`);
      checkedEvents = Number(r.checkedEvents);
      const line = `VerifyAuditChain: intact, ${grown} new links for ${accepted} accepted calls (${r.checkedEvents} in all, checked in ${((Date.now() - started) / 1000).toFixed(1)} s)`;
      accepted = 0;
      return line;
    },
  };
}

export const AUDIT_SCENARIOS: Scenario[] = [emitAuditEventScenario()];

export const AUDIT_RATIOS: Ratio[] = [
  {
    numerator: "EmitAuditEvent (100 agents)",
    denominator: "HealthCheck",
    target: 0.5,
    why: "an agent's audit event is an authenticated call plus one chain link, and concurrent links share a statement (group commit)",
  },
];
