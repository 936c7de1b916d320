import type { ServiceImpl } from "@connectrpc/connect";
import type { JoinService } from "../../gen/warden/join/v1/join_service_pb.js";
import { DomainError } from "../domain/errors.js";

export type SpiffeMethods = Pick<ServiceImpl<typeof JoinService>, "authenticateSPIFFE">;

// PLACEHOLDER (being built): replaced by SPIFFE authentication.
export function spiffeHandlers(): SpiffeMethods {
  return {
    authenticateSPIFFE() {
      throw new DomainError("unimplemented", "UNIMPLEMENTED", "SPIFFE authentication is not built yet");
    },
  };
}
