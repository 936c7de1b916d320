import { CaRotation } from "../domain/ca/ca-rotation.js";
import { CertificateAuthorities } from "../domain/ca/certificate-authorities.js";
import { UserCertificates } from "../domain/ca/user-certificates.js";
import { certificateAuthorityHandlers } from "../handlers/certificate-authority.js";
import type { ServiceHandlers } from "../routes.js";
import type { Core } from "./core.js";
import type { RbacArea } from "./rbac.js";

export interface SshCaArea {
  authorities: CertificateAuthorities;
  userCertificates: UserCertificates;
  handlers: Pick<ServiceHandlers, "certificateAuthority">;
}

/** The SSH certificate authorities (made on first start) and the user certificates they sign. */
export async function wireSshCa(core: Core, deps: { rbac: RbacArea }): Promise<SshCaArea> {
  const { config, store, box, clock, audit, bus } = core;
  const authorities = new CertificateAuthorities({ store, box, clock, bus });
  await authorities.init();
  const userCertificates = new UserCertificates({
    authorities,
    roles: deps.rbac.catalog,
    clock,
    audit,
    maxTtlSeconds: config.ssh_cert_max_ttl,
    defaultTtlSeconds: Math.min(config.ssh_cert_default_ttl, config.ssh_cert_max_ttl),
  });
  const rotation = new CaRotation({ store, authorities, audit, bus, clock });
  return { authorities, userCertificates, handlers: { certificateAuthority: certificateAuthorityHandlers(authorities, rotation) } };
}
