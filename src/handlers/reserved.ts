import type { ServiceImpl } from "@connectrpc/connect";
import { PluginService } from "../../gen/warden/plugin/v1/plugin_service_pb.js";
import { DomainError } from "../domain/errors.js";

/**
 * The seed's reserved methods still not built (plugins; notification channels are, in
 * handlers/notification.ts): in the contract, with their access policies (checked before this
 * runs, so an unauthorised caller learns nothing more). They answer UNIMPLEMENTED with reason
 * RESERVED_RPC and say what is missing.
 */
function reserved(what: string): () => never {
  return () => {
    throw new DomainError("unimplemented", "RESERVED_RPC", `${what} are reserved in this version of Warden: the method is part of the API but not built yet`);
  };
}

export function pluginHandlers(): ServiceImpl<typeof PluginService> {
  const plugins = reserved("plugins");
  return { configurePlugin: plugins, listPlugins: plugins, setPluginEnabled: plugins };
}
