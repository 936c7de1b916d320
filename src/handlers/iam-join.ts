import type { ServiceImpl } from "@connectrpc/connect";
import type { JoinService } from "../../gen/warden/join/v1/join_service_pb.js";
import { DomainError } from "../domain/errors.js";

export type IamJoinMethods = Pick<ServiceImpl<typeof JoinService>, "registerUsingIAMMethod">;

// PLACEHOLDER (being built): replaced by the IAM join.
export function iamJoinHandlers(): IamJoinMethods {
  return {
    // eslint-disable-next-line require-yield
    async *registerUsingIAMMethod() {
      throw new DomainError("unimplemented", "UNIMPLEMENTED", "the IAM join is not built yet");
    },
  };
}
