import type { ServiceImpl } from "@connectrpc/connect";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { CertificateAuthorityKind, CertificateAuthorityService, RotationPhase } from "../../gen/warden/ca/v1/ca_service_pb.js";
import type { CaRotation, RotationStep } from "../domain/ca/ca-rotation.js";
import type { AuthorityKind, CertificateAuthorities } from "../domain/ca/certificate-authorities.js";
import type { ClusterTlsAuthority } from "../domain/ca/cluster-tls-authority.js";
import { invalidArgument } from "../domain/errors.js";
import { metaOf, principalOf } from "./call-context.js";

const PHASE_TO_PB: Record<RotationStep, RotationPhase> = {
  init: RotationPhase.INIT,
  update_clients: RotationPhase.UPDATE_CLIENTS,
  update_servers: RotationPhase.UPDATE_SERVERS,
  standby: RotationPhase.STANDBY,
  rollback: RotationPhase.ROLLBACK,
};
const STEP_FROM_PB = new Map(Object.entries(PHASE_TO_PB).map(([step, pb]) => [pb, step as RotationStep]));
const KIND_FROM_PB: Partial<Record<CertificateAuthorityKind, AuthorityKind>> = {
  [CertificateAuthorityKind.USER]: "user",
  [CertificateAuthorityKind.HOST]: "host",
};

export function certificateAuthorityHandlers(
  authorities: Pick<CertificateAuthorities, "trusted" | "signer" | "userCaAuthorizedKeys" | "hostCaKnownHosts">,
  rotation: Pick<CaRotation, "rotate">,
  tlsAuthority: Pick<ClusterTlsAuthority, "trustedPem">,
): ServiceImpl<typeof CertificateAuthorityService> {
  const authoritiesPb = () =>
    authorities.trusted().map((a) => ({
      kind: a.kind,
      publicKey: a.publicKeyLine,
      fingerprint: a.fingerprint,
      createTime: timestampFromDate(a.createdAt),
      rotationPhase: a.rotationPhase ? PHASE_TO_PB[a.rotationPhase] : RotationPhase.UNSPECIFIED,
      signing: authorities.signer(a.kind).id === a.id,
    }));
  return {
    async getTrustedCAs() {
      return {
        userCaAuthorizedKeys: authorities.userCaAuthorizedKeys(),
        hostCaKnownHosts: authorities.hostCaKnownHosts(),
        tlsCaPem: tlsAuthority.trustedPem(),
        authorities: authoritiesPb(),
      };
    },
    async rotateCA(req, ctx) {
      const kind = KIND_FROM_PB[req.kind];
      const step = STEP_FROM_PB.get(req.phase);
      if (!kind) throw invalidArgument("kind", "must be CERTIFICATE_AUTHORITY_KIND_USER or _HOST");
      if (!step) throw invalidArgument("phase", "must be a rotation phase");
      const phase = await rotation.rotate(principalOf(ctx), kind, step, metaOf(ctx));
      return { phase: PHASE_TO_PB[phase], authorities: authoritiesPb() };
    },
  };
}
