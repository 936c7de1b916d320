import type { ServiceImpl } from "@connectrpc/connect";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { CertificateAuthorityService } from "../../gen/warden/ca/v1/ca_service_pb.js";
import type { CertificateAuthorities } from "../domain/ca/certificate-authorities.js";

export function certificateAuthorityHandlers(authorities: Pick<CertificateAuthorities, "trusted">): ServiceImpl<typeof CertificateAuthorityService> {
  return {
    async getTrustedCAs() {
      const trusted = authorities.trusted();
      return {
        userCaAuthorizedKeys: trusted.filter((a) => a.kind === "user").map((a) => `cert-authority ${a.publicKeyLine}`),
        hostCaKnownHosts: trusted.filter((a) => a.kind === "host").map((a) => `@cert-authority * ${a.publicKeyLine}`),
        tlsCaPem: [],
        authorities: trusted.map((a) => ({ kind: a.kind, publicKey: a.publicKeyLine, fingerprint: a.fingerprint, createTime: timestampFromDate(a.createdAt) })),
      };
    },
  };
}
