import { getOption, hasOption, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { Access, policy as policyExtension, type Policy } from "../gen/warden/options/v1/options_pb.js";

const policies = new WeakMap<DescMethod, Policy | null>();

/** The policy declared in the proto for a method, or undefined when there is none (read once per method). */
export function policyOf(method: DescMethod): Policy | undefined {
  let p = policies.get(method);
  if (p === undefined) {
    const declared = hasOption(method, policyExtension) ? getOption(method, policyExtension) : undefined;
    p = declared && declared.access !== Access.UNSPECIFIED ? declared : null;
    policies.set(method, p);
  }
  return p ?? undefined;
}

/** Every method without a usable policy; the server refuses to start unless this is empty. */
export function methodsWithoutPolicy(services: DescService[]): string[] {
  return services.flatMap((s) => s.methods.filter((m) => !policyOf(m)).map((m) => `${s.typeName}/${m.name}`));
}
