import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { JoinService } from "../../gen/warden/join/v1/join_service_pb.js";
import { invalidArgument } from "../domain/errors.js";
import type { SpiffeAuthentication } from "../domain/join/spiffe-authentication.js";
import { joinAttempt, metaOf } from "./call-context.js";

export type SpiffeMethods = Pick<ServiceImpl<typeof JoinService>, "authenticateSPIFFE">;

export function spiffeHandlers(spiffe: SpiffeAuthentication): SpiffeMethods {
  return {
    async authenticateSPIFFE(req, ctx) {
      if (req.ttl && req.ttl.nanos !== 0) throw invalidArgument("ttl", "must be whole seconds");
      const r = await joinAttempt(ctx, () =>
        spiffe.authenticate(
          {
            svid: req.svid,
            sshPublicKey: req.sshPublicKey,
            challengeId: req.challengeId,
            signature: req.signature,
            ttlSeconds: req.ttl ? Number(req.ttl.seconds) : undefined,
          },
          metaOf(ctx),
        ),
      );
      if (r.kind === "challenge") return { challenge: { challengeId: r.challengeId, payload: r.payload, expireTime: timestampFromDate(r.expiresAt) } };
      return {
        sshCertificate: r.certificate,
        trustedHostCas: r.hostCaKnownHosts,
        spiffeId: r.spiffeId,
        role: r.role,
        validBefore: timestampFromDate(r.validBefore),
      };
    },
  };
}
