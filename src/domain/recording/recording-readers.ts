import { DomainError, permissionDenied } from "../errors.js";
import { hasSystemAccess, type Principal } from "../principal.js";
import { evaluateRules } from "../rbac/rules.js";
import type { RoleCatalog } from "../rbac/role-catalog.js";
import type { NodeStore } from "../store/join-store.js";

/** Reads recordings of the nodes the granting role's own node_labels match. */
export const READ_REACHABLE = { resource: "recording", verb: "read_reachable" } as const;

/** Which recordings a caller may read: all (undefined), or those of nodes these role node_labels match. */
export type RecordingScope = Record<string, string[]>[] | undefined;

/**
 * Who reads which recordings. recording/read (the method's permission, so the policy marked the
 * call system-wide) reads every one. Otherwise a role reads those of the nodes its own
 * node_labels match when its own rules allow recording/read_reachable: the permission and the
 * node scope come from the same role, so one role's permission never reaches another role's
 * nodes. A deny of recording/read_reachable in any role wins, as for every permission.
 */
export class RecordingReaders {
  constructor(
    private readonly d: {
      roles: Pick<RoleCatalog, "find">;
      nodes: Pick<NodeStore, "reachedBy">;
    },
  ) {}

  /** Refuses (PERMISSION_DENIED) callers who may read no recording at all. */
  async scopeOf(caller: Principal): Promise<RecordingScope> {
    if (hasSystemAccess(caller)) return undefined;
    if (caller.kind !== "user" || !caller.permissions.allows(READ_REACHABLE)) throw required();
    const roles = (await Promise.all(caller.roles.map((n) => this.d.roles.find(n)))).filter((r) => r !== undefined);
    return roles.filter((r) => evaluateRules(r.rules, READ_REACHABLE.resource, READ_REACHABLE.verb).allowed).map((r) => r.nodeLabels);
  }

  /** Refuses (PERMISSION_DENIED) a recording of a node the scope does not reach. */
  async requireReadable(scope: RecordingScope, nodeId: string): Promise<void> {
    if (scope === undefined) return;
    const [node] = await this.d.nodes.reachedBy([nodeId], scope);
    if (!node?.reached.some(Boolean)) throw permissionDenied("RECORDING_READ_NOT_ALLOWED", "none of your roles may read recordings of this node");
  }
}

function required(): DomainError {
  return new DomainError("permission_denied", "PERMISSION_REQUIRED", "the caller's roles allow neither recording/read nor recording/read_reachable", {
    metadata: { resource: "recording", verb: "read" },
  });
}
