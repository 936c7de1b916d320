import type { Clock } from "../../clock.js";
import type { AuditLog } from "../audit/audit-log.js";
import { auditActor } from "../audit/audit-actor.js";
import type { RequestMeta } from "../auth/request-meta.js";
import { DomainError } from "../errors.js";
import type { InvalidationBus } from "../invalidation.js";
import type { Principal } from "../principal.js";
import type { CertificateAuthorityStore, RotationPhase } from "../store/certificate-authority-store.js";
import type { AuthorityKind, CertificateAuthorities } from "./certificate-authorities.js";

/** What RotateCA may ask for: the next phase, or rollback. */
export type RotationStep = RotationPhase | "standby" | "rollback";

export interface CaRotationDeps {
  store: { certificateAuthorities: CertificateAuthorityStore };
  authorities: Pick<CertificateAuthorities, "create" | "load" | "trusted">;
  audit: AuditLog;
  bus: InvalidationBus;
  clock: Clock;
}

/** The phase each step starts from (standby: no rotation under way). */
const FROM: Record<Exclude<RotationStep, "rollback">, RotationPhase | "standby"> = {
  init: "standby",
  update_clients: "init",
  update_servers: "update_clients",
  standby: "update_servers",
};

/**
 * RotateCA walks a kind's CA through a rotation, one phase per call:
 * - init: a new CA is made and trusted beside the old one (GetTrustedCAs lists both), so hosts
 *   and clients can learn it before anything is signed with it;
 * - update_clients: the new CA signs from now on (user certificates, or host certificates);
 *   certificates of the old one still work, since both are trusted;
 * - update_servers: the same, while servers and agents pick up what the new CA signed;
 * - standby: the old CA is retired; only the new one is trusted.
 * rollback, from any phase before standby, retires the new CA: the old one signs again, alone.
 * A step out of order is FAILED_PRECONDITION and changes nothing. Every step is audited, and
 * every instance reloads the CAs (topic "ca").
 */
export class CaRotation {
  constructor(private readonly d: CaRotationDeps) {}

  /** The kind's phase now: "standby", or the rotating CA's phase. */
  phaseOf(kind: AuthorityKind): RotationPhase | "standby" {
    return this.d.authorities.trusted(kind).find((a) => a.rotationPhase)?.rotationPhase ?? "standby";
  }

  async rotate(caller: Principal, kind: AuthorityKind, step: RotationStep, meta: RequestMeta): Promise<RotationPhase | "standby"> {
    await this.d.authorities.load();
    const before = this.phaseOf(kind);
    const done = await this.apply(kind, step, before);
    if (!done)
      throw new DomainError(
        "failed_precondition",
        "CA_ROTATION_OUT_OF_ORDER",
        step === "rollback"
          ? `no rotation of the ${kind} CA is under way`
          : `the ${kind} CA is in phase ${before}; ${step} follows ${FROM[step]} (init -> update_clients -> update_servers -> standby, or rollback)`,
      );
    await this.d.audit.recordAlone({
      eventType: "ca.rotate",
      outcome: "success",
      ...auditActor(caller, meta),
      targetType: "certificate_authority",
      targetId: kind,
      details: { from: before, step },
    });
    await this.d.bus.publish([{ topic: "ca", id: kind }]);
    await this.d.authorities.load();
    return this.phaseOf(kind);
  }

  private async apply(kind: AuthorityKind, step: RotationStep, before: RotationPhase | "standby"): Promise<boolean> {
    const store = this.d.store.certificateAuthorities;
    const now = this.d.clock.now();
    switch (step) {
      case "init":
        return before === "standby" && this.d.authorities.create(kind, "init");
      case "update_clients":
        return store.advance(kind, "init", "update_clients");
      case "update_servers":
        return store.advance(kind, "update_clients", "update_servers");
      case "standby":
        return store.complete(kind, "update_servers", now);
      case "rollback":
        return store.abandon(kind, now);
    }
  }
}
