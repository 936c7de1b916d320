import type { DbOrTx } from "../client.js";
import type { DeviceStore } from "../../domain/store/device-store.js";

export class DeviceRepository implements DeviceStore {
  constructor(private readonly db: DbOrTx) {}
}
