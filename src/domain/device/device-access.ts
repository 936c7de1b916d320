import { DomainError, notFound } from "../errors.js";
import type { OrgAccess } from "../org/org-access.js";
import { hasSystemAccess, type Principal } from "../principal.js";
import type { DeviceRow } from "../records.js";
import type { DeviceStore } from "../store/device-store.js";

/** How a caller stands to a device: an admin of its organization (or of the system), its owner, or neither. */
export type DeviceStanding = "admin" | "owner";

/**
 * Who may see and manage a device. Anyone who is neither its owner nor an admin of its
 * organization hears DEVICE_NOT_FOUND whether or not it exists, so device ids cannot be probed.
 */
export class DeviceAccess {
  constructor(
    private readonly d: {
      store: { devices: Pick<DeviceStore, "findById"> };
      orgAccess: OrgAccess;
    },
  ) {}

  /** The device and the caller's standing, for callers who may see it; DEVICE_NOT_FOUND otherwise. */
  async visible(caller: Principal, id: string): Promise<{ device: DeviceRow; standing: DeviceStanding }> {
    const device = await this.d.store.devices.findById(id);
    if (!device) throw notFound("DEVICE_NOT_FOUND", "device");
    if (await this.isAdmin(caller, device)) return { device, standing: "admin" };
    if (caller.kind === "user" && caller.userId === device.userId) return { device, standing: "owner" };
    throw notFound("DEVICE_NOT_FOUND", "device");
  }

  /** The device, for admins of its organization; its owner (who sees it anyway) hears DEVICE_ACCESS_DENIED. */
  async administered(caller: Principal, id: string): Promise<DeviceRow> {
    const { device, standing } = await this.visible(caller, id);
    if (standing !== "admin") throw new DomainError("permission_denied", "DEVICE_ACCESS_DENIED", "only an admin of the device's organization may do this");
    return device;
  }

  private async isAdmin(caller: Principal, device: DeviceRow): Promise<boolean> {
    if (hasSystemAccess(caller)) return true;
    try {
      await this.d.orgAccess.require(caller, device.organizationId, "admin");
      return true;
    } catch (err) {
      if (err instanceof DomainError && err.reason === "ORGANIZATION_ROLE_REQUIRED") return false;
      // Suspension or a missing second factor is raised only after the admin role was confirmed.
      // The device's own user still reaches it as its owner.
      if (err instanceof DomainError && caller.kind === "user" && caller.userId === device.userId) return false;
      throw err;
    }
  }
}
