import { create, type DescMethod } from "@bufbuild/protobuf";
import { Access, PolicySchema, Scope, type Policy } from "../../gen/warden/options/v1/options_pb.js";
import { REFLECTION_SERVICES } from "../routes.js";

/**
 * The policies the `reflection` setting puts in place of the proto's ACCESS_PUBLIC: with
 * "authenticated", any signed-in caller may read the schema (an API key or service account
 * needs the read scope). "off" unregisters the services instead (servedServices).
 */
export function reflectionPolicies(mode: "public" | "authenticated" | "off"): Map<DescMethod, Policy> {
  if (mode !== "authenticated") return new Map();
  const policy = create(PolicySchema, { access: Access.AUTHENTICATED, scope: Scope.READ });
  return new Map(REFLECTION_SERVICES.flatMap((s) => s.methods.map((m) => [m, policy] as const)));
}
