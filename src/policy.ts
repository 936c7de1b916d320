import { getOption, hasOption, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { Access, policy as policyExtension, type Policy } from "../gen/warden/options/v1/options_pb.js";

/** The policy declared in the proto for a method, or undefined when there is none. */
export function policyOf(method: DescMethod): Policy | undefined {
  if (!hasOption(method, policyExtension)) return undefined;
  const p = getOption(method, policyExtension);
  return p.access === Access.UNSPECIFIED ? undefined : p;
}

/** Every method without a usable policy; the server refuses to start unless this is empty. */
export function methodsWithoutPolicy(services: DescService[]): string[] {
  return services.flatMap((s) => s.methods.filter((m) => !policyOf(m)).map((m) => `${s.typeName}/${m.name}`));
}
