import type { ServiceImpl } from "@connectrpc/connect";
import type { AgentService } from "../../gen/warden/agent/v1/agent_service_pb.js";
import type { JoinService } from "../../gen/warden/join/v1/join_service_pb.js";
import { DomainError } from "../domain/errors.js";

export type AgentIdentityAdminMethods = Pick<ServiceImpl<typeof AgentService>, "createAgentIdentity" | "listAgentIdentities" | "deleteAgentIdentity">;
export type AgentIdentityJoinMethods = Pick<ServiceImpl<typeof JoinService>, "bootstrapAgentIdentity" | "renewAgentIdentity">;

const notYet = () => {
  throw new DomainError("unimplemented", "UNIMPLEMENTED", "agent identities are not built yet");
};

// PLACEHOLDER (being built): replaced by agent identities.
export function agentIdentityHandlers(): { admin: AgentIdentityAdminMethods; join: AgentIdentityJoinMethods } {
  return {
    admin: { createAgentIdentity: notYet, listAgentIdentities: notYet, deleteAgentIdentity: notYet },
    join: { bootstrapAgentIdentity: notYet, renewAgentIdentity: notYet },
  };
}
