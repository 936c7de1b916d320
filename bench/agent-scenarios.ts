import { timestampDate } from "@bufbuild/protobuf/wkt";
import { AgentService } from "../gen/warden/agent/v1/agent_service_pb.js";
import { AuthService } from "../gen/warden/auth/v1/auth_service_pb.js";
import { JoinService } from "../gen/warden/join/v1/join_service_pb.js";
import type { H2Pool } from "./h2-client.js";
import type { Operation } from "./load.js";
import { callOnce, pathOf, unaryOp, type Ratio, type Scenario } from "./scenarios.js";
import { BENCH_ADMIN } from "./ssh-scenarios.js";

/** Simulated agents the heartbeats rotate over (issue 13). */
export const BENCH_AGENTS = 1000;
/** Uses per join token: registration locks its token's row, so four tokens let four registrations run at once. */
const USES_PER_TOKEN = 250;
/** Registered with this version and no labels, so only a heartbeat that landed sets the labels and version below. */
const REGISTERED_VERSION = "bench-agent/0.0.0";
const HEARTBEAT = { labels: { env: "bench" }, version: "bench-agent/1.0.0" };

interface BenchAgent {
  id: string;
  headers: Record<string, string>;
}

type Auth = Record<string, string>;

/** An admin's bearer header (logged in again for every check, so a long run cannot outlive the token). */
async function adminAuth(pool: H2Pool): Promise<Auth> {
  const login = await callOnce(pool, AuthService.method.login, BENCH_ADMIN);
  return { authorization: `Bearer ${login.accessToken}` };
}

/** Registers BENCH_AGENTS agents with the token join (token only, distinct hostnames), one lane per join token. */
async function registerAgents(pool: H2Pool, auth: Auth): Promise<BenchAgent[]> {
  const lanes = Math.ceil(BENCH_AGENTS / USES_PER_TOKEN);
  const byLane = await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      const uses = Math.min(USES_PER_TOKEN, BENCH_AGENTS - lane * USES_PER_TOKEN);
      const { token } = await callOnce(pool, JoinService.method.createJoinToken, { uses }, auth);
      const agents: BenchAgent[] = [];
      for (let i = 0; i < uses; i++) {
        const n = lane * USES_PER_TOKEN + i;
        const r = await callOnce(pool, JoinService.method.registerAgent, { token, hostname: `agent-${n}.bench.example.com`, version: REGISTERED_VERSION });
        agents.push({ id: r.agentId, headers: { "x-agent-id": r.agentId, authorization: `Bearer ${r.agentToken}` } });
      }
      return agents;
    }),
  );
  return byLane.flat();
}

/** Ids among `expected` not listed online with the heartbeat's labels and version and a heartbeat at or after `since`. */
async function agentsNotBeating(pool: H2Pool, auth: Auth, expected: string[], since: Date): Promise<number> {
  const beating = new Set<string>();
  let pageToken = "";
  do {
    const page = await callOnce(pool, AgentService.method.listNodes, { labelSelector: "env=bench", online: true, pageSize: 500, pageToken }, auth);
    for (const n of page.nodes)
      if (n.online && n.version === HEARTBEAT.version && n.lastHeartbeatTime && timestampDate(n.lastHeartbeatTime) >= since) beating.add(n.id);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return expected.filter((id) => !beating.has(id)).length;
}

/**
 * How long the check waits for the writer. Its flushes run once a second, but they fall behind
 * under load (see the README); a node counts as offline only after node_offline_after (90 s).
 */
const CHECK_DEADLINE_MS = 30_000;

/**
 * The agent fixtures and the rotation live from prepare to the checks after each window, so the
 * scenario is made by a function that holds them.
 */
function agentHeartbeatScenario(): Scenario {
  let agents: BenchAgent[] = [];
  /** Calls sent so far: call k went to agents[k % agents.length]. */
  let sent = 0;
  /** The calls of the last window start here; heartbeats written before `since` do not count. */
  let checkedUpTo = 0;
  let since = new Date(0);
  return {
    name: "AgentHeartbeat (1,000 agents)",
    measures:
      "warden.agent.v1.AgentService/AgentHeartbeat with `x-agent-id` and `authorization: Bearer <agent token>`, rotating over 1,000 agents registered at set-up (RegisterAgent, token join), labels {env: bench} and a version: the agent credential (cached per instance for session_cache_ttl, then one row read) and its SHA-256, the heartbeat merged into the batch the writer flushes once a second. After each window ListNodes (admin) must list every agent the window reached online, with the heartbeat's labels and version.",
    where: "server",
    async prepare({ pool }) {
      agents = await registerAgents(pool, await adminAuth(pool));
      const first = agents[0]!;
      const r = await callOnce(pool, AgentService.method.agentHeartbeat, HEARTBEAT, first.headers);
      if (!r.heartbeatInterval) throw new Error("AgentHeartbeat: the answer has no heartbeat_interval");
      // Another agent's token for this id must be refused, or the load would not measure the credential check.
      const stolen = { ...first.headers, authorization: agents[1]!.headers.authorization! };
      const refused = await pool.unary(pathOf(AgentService.method.agentHeartbeat), new Uint8Array(0), stolen);
      if (refused.status !== 401) throw new Error(`AgentHeartbeat: another agent's token got HTTP ${refused.status}, not 401`);
      since = new Date();
      const ops: Operation[] = agents.map((a) => unaryOp(pool, AgentService.method.agentHeartbeat, HEARTBEAT, a.headers));
      return () => ops[sent++ % ops.length]!();
    },
    async verify({ pool }) {
      // Every call has returned (the load waits for its workers): these agents got a heartbeat in.
      const reached = agents.length === 0 ? 0 : Math.min(agents.length, sent - checkedUpTo);
      const expected = Array.from({ length: reached }, (_, k) => agents[(checkedUpTo + k) % agents.length]!.id);
      const started = Date.now();
      const auth = await adminAuth(pool);
      for (;;) {
        const missing = await agentsNotBeating(pool, auth, expected, since);
        if (missing === 0) break;
        if (Date.now() - started > CHECK_DEADLINE_MS)
          throw new Error(
            `ListNodes: ${missing} of the ${reached} agents the window reached are not online with the heartbeat's labels and version since ${since.toISOString()} (${CHECK_DEADLINE_MS / 1000} s after the window)`,
          );
        await new Promise((r) => setTimeout(r, 250));
      }
      checkedUpTo = sent;
      since = new Date();
      return `ListNodes: all ${reached} agents reached listed online within ${((Date.now() - started) / 1000).toFixed(1)} s after the window`;
    },
  };
}

export const AGENT_SCENARIOS: Scenario[] = [agentHeartbeatScenario()];

export const AGENT_RATIOS: Ratio[] = [
  {
    numerator: "AgentHeartbeat (1,000 agents)",
    denominator: "HealthCheck",
    target: 0.6,
    why: "a heartbeat is an authenticated call whose write is batched: it should cost little more than the RPC stack itself",
  },
];
