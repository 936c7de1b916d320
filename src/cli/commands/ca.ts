import {
  CertificateAuthorityKind,
  CertificateAuthorityService,
  GetTrustedCAsResponseSchema,
  RotateCAResponseSchema,
  RotationPhase,
  type CertificateAuthority,
} from "../../../gen/warden/ca/v1/ca_service_pb.js";
import { oneOf, stringValue } from "../args.js";
import type { CommandSpec, Context } from "../command.js";
import { UsageError } from "../errors.js";
import { jsonOf, timeText } from "../output.js";
import { withFreshMfa } from "./fresh-mfa.js";

const KINDS = ["user", "host"] as const;
const PHASES = ["init", "update_clients", "update_servers", "standby", "rollback"] as const;

function phaseText(phase: RotationPhase): string {
  return phase === RotationPhase.UNSPECIFIED ? "settled" : RotationPhase[phase].toLowerCase();
}

function printAuthorities(ctx: Context, authorities: CertificateAuthority[]): void {
  ctx.out.table(
    ["KIND", "FINGERPRINT", "ROTATION", "SIGNING", "CREATED"],
    authorities.map((a) => [a.kind, a.fingerprint, phaseText(a.rotationPhase), a.signing ? "yes" : "no", timeText(a.createTime)]),
  );
}

const list: CommandSpec = {
  words: ["ca", "ls"],
  summary: "the cluster's SSH certificate authorities and the lines to trust them",
  async run(ctx) {
    const session = await ctx.signedIn();
    const r = await session.client(CertificateAuthorityService).getTrustedCAs({});
    if (ctx.out.json) return ctx.out.data(jsonOf(GetTrustedCAsResponseSchema, r));
    printAuthorities(ctx, r.authorities);
    ctx.out.line();
    ctx.out.line("For sshd (authorized_keys, or the key alone in TrustedUserCAKeys):");
    for (const line of r.userCaAuthorizedKeys) ctx.out.line(`  ${line}`);
    ctx.out.line("For ssh clients (known_hosts):");
    for (const line of r.hostCaKnownHosts) ctx.out.line(`  ${line}`);
  },
};

const rotate: CommandSpec = {
  words: ["ca", "rotate"],
  summary: "move the user or host CA to a rotation phase (asks for a TOTP code when the last proof is old)",
  options: {
    kind: { type: "string", value: "user|host", help: "which CA" },
    phase: { type: "string", value: PHASES.join("|"), help: "the phase to move to" },
  },
  async run(ctx) {
    const kindText = stringValue(ctx, "kind");
    const phaseArg = stringValue(ctx, "phase");
    if (!kindText || !phaseArg) throw new UsageError("--kind and --phase are needed");
    const kind = oneOf("kind", kindText, KINDS) === "user" ? CertificateAuthorityKind.USER : CertificateAuthorityKind.HOST;
    const phase = RotationPhase[oneOf("phase", phaseArg, PHASES).toUpperCase() as keyof typeof RotationPhase];
    const session = await ctx.signedIn();
    const cas = session.client(CertificateAuthorityService);
    const r = await withFreshMfa(ctx, session, () => cas.rotateCA({ kind, phase }));
    if (ctx.out.json) return ctx.out.data(jsonOf(RotateCAResponseSchema, r));
    ctx.out.line(`The ${kindText} CA is now in phase ${phaseText(r.phase)}.`);
    ctx.out.line();
    printAuthorities(ctx, r.authorities);
  },
};

export const caCommands = [list, rotate];
