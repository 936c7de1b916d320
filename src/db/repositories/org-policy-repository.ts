import type { DbOrTx } from "../client.js";
import type { OrgPolicyStore } from "../../domain/store/org-policy-store.js";

export class OrgPolicyRepository implements OrgPolicyStore {
  constructor(private readonly db: DbOrTx) {}
}
