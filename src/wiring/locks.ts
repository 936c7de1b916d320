import { Locks } from "../domain/lock/locks.js";
import { lockHandlers } from "../handlers/lock.js";
import type { ServiceHandlers } from "../routes.js";
import type { Core } from "./core.js";

/** LockService: the admin calls. The lock check itself (core.locks) is shared by every credential path. */
export function wireLocks(core: Core): Pick<ServiceHandlers, "lock"> {
  const { store, clock, audit, bus, locks: registry } = core;
  return { lock: lockHandlers(new Locks({ store, clock, audit, bus, registry })) };
}
