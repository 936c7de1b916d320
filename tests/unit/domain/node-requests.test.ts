import { describe, expect, it } from "vitest";
import { NodeRequestRules } from "../../../src/domain/access/node-requests.js";
import { DomainError } from "../../../src/domain/errors.js";
import type { RoleRow } from "../../../src/domain/records.js";

const AT = new Date("2030-01-01T00:00:00Z");

function role(name: string, env: string[], extra: Partial<RoleRow> = {}): RoleRow {
  return {
    name,
    description: "",
    rules: [],
    builtin: false,
    logins: [],
    nodeLabels: env.length ? { env } : {},
    maxSessionTtlSeconds: null,
    sshPermissions: {},
    requestRoles: [],
    reviewRoles: [],
    approvalsRequired: 1,
    createdAt: AT,
    updatedAt: AT,
    ...extra,
  } as RoleRow;
}

/** Nodes by id with their env label; a map reaches a node when its env values include the node's (as the SQL does for one key). */
function store(nodes: Record<string, { env: string; state?: string }>) {
  return {
    async reachedBy(ids: string[], maps: Record<string, string[]>[]) {
      return ids
        .filter((id) => nodes[id])
        .map((id) => ({ id, state: nodes[id]!.state ?? "registered", reached: maps.map((m) => (m.env ?? []).includes(nodes[id]!.env)) }));
    },
  };
}

async function failure(p: Promise<unknown>): Promise<DomainError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DomainError);
  return err as DomainError;
}

describe("NodeRequestRules", () => {
  const rules = new NodeRequestRules(store({ p1: { env: "prod" }, p2: { env: "prod" }, s1: { env: "stage" }, gone: { env: "prod", state: "deregistered" } }));
  const prodStrict = role("prod-strict", ["prod"], { approvalsRequired: 3, maxSessionTtlSeconds: 600 });
  const prodEasy = role("prod-easy", ["prod"], { approvalsRequired: 2, maxSessionTtlSeconds: 3600 });
  const stage = role("stage", ["stage"], { approvalsRequired: 1 });

  it("each node needs the fewest approvals among the roles reaching it; the request the most among its nodes; the tightest TTL", async () => {
    expect(await rules.termsFor(["p1"], [prodStrict, prodEasy], [])).toEqual({ approvalsRequired: 2, ttlCapSeconds: 600 });
    expect(await rules.termsFor(["s1"], [prodStrict, stage], [])).toEqual({ approvalsRequired: 1, ttlCapSeconds: undefined });
    expect(await rules.termsFor(["p1", "s1"], [prodEasy, stage], [])).toEqual({ approvalsRequired: 2, ttlCapSeconds: 3600 });
    expect(await rules.termsFor([], [], [])).toEqual({ approvalsRequired: 0 });
  });

  it("refuses nodes the held roles reach, and unknown, unregistered or unrequestable ones alike", async () => {
    expect((await failure(rules.termsFor(["p1"], [prodEasy], [role("mine", ["prod"])]))).reason).toBe("ACCESS_REQUEST_NODE_REACHABLE");
    for (const id of ["nope", "gone", "s1"]) expect((await failure(rules.termsFor([id], [prodEasy], []))).reason).toBe("ACCESS_REQUEST_NODE_NOT_REQUESTABLE");
  });

  it("a reviewer covers a request when a reviewable role reaches every node", async () => {
    expect(await rules.reviewable(["p1", "p2"], [prodEasy])).toBe(true);
    expect(await rules.reviewable(["p1", "s1"], [prodEasy])).toBe(false);
    expect(await rules.reviewable(["p1", "s1"], [prodEasy, stage])).toBe(true);
    expect(await rules.reviewable(["p1"], [])).toBe(false);
    expect(await rules.reviewable(["nope"], [prodEasy])).toBe(false);
    expect(await rules.reviewable([], [])).toBe(true);
  });
});
