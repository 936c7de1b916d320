import { CaRotation } from "../domain/ca/ca-rotation.js";
import { CertificateAuthorities } from "../domain/ca/certificate-authorities.js";
import { ClusterTlsAuthority } from "../domain/ca/cluster-tls-authority.js";
import { UserCertificates } from "../domain/ca/user-certificates.js";
import { certificateAuthorityHandlers } from "../handlers/certificate-authority.js";
import type { ServiceHandlers } from "../routes.js";
import type { Core } from "./core.js";
import type { RbacArea } from "./rbac.js";

export interface SshCaArea {
  authorities: CertificateAuthorities;
  tlsAuthority: ClusterTlsAuthority;
  userCertificates: UserCertificates;
  handlers: Pick<ServiceHandlers, "certificateAuthority">;
}

/** The SSH certificate authorities (made on first start) and the user certificates they sign. */
export async function wireSshCa(core: Core, deps: { rbac: RbacArea }): Promise<SshCaArea> {
  const { config, store, box, clock, audit, bus } = core;
  const authorities = new CertificateAuthorities({ store, box, clock, bus });
  await authorities.init();
  const tlsAuthority = new ClusterTlsAuthority({ store, box, clock, clusterName: config.cluster_name });
  await tlsAuthority.init();
  const userCertificates = new UserCertificates({
    authorities,
    roles: deps.rbac.catalog,
    clock,
    audit,
    // Getters: UpdateClusterConfig changes these at run time, on every instance.
    get maxTtlSeconds() {
      return core.cluster.settings().sshCertMaxTtl;
    },
    get defaultTtlSeconds() {
      return core.cluster.settings().sshCertDefaultTtl;
    },
    locks: core.locks,
    grants: core.grants,
  });
  const rotation = new CaRotation({ store, authorities, audit, bus, clock });
  return {
    authorities,
    tlsAuthority,
    userCertificates,
    handlers: { certificateAuthority: certificateAuthorityHandlers(authorities, rotation, tlsAuthority) },
  };
}
