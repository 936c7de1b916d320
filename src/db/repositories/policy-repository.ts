import type { DbOrTx } from "../client.js";
import type { PolicyStore } from "../../domain/store/policy-store.js";

export class PolicyRepository implements PolicyStore {
  constructor(private readonly db: DbOrTx) {}
}
