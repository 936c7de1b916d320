import { Code, ConnectError } from "@connectrpc/connect";
import { MfaService } from "../../../gen/warden/mfa/v1/mfa_service_pb.js";
import type { Context } from "../command.js";
import { CliError, reasonOf } from "../errors.js";
import type { SignedIn } from "../session.js";

/**
 * Runs a call that may need a recent second factor (a method with fresh_mfa): when the server
 * answers MFA_REQUIRED, asks for a TOTP code, proves it for the session (MfaService/ValidateTotp)
 * and tries the call once more.
 */
export async function withFreshMfa<T>(ctx: Pick<Context, "prompt">, session: SignedIn, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (!(err instanceof ConnectError && err.code === Code.FailedPrecondition && reasonOf(err) === "MFA_REQUIRED")) throw err;
  }
  const code = (await ctx.prompt.line("TOTP code:")).trim();
  const { valid } = await session.client(MfaService).validateTotp({ code });
  if (!valid) throw new CliError("the TOTP code was not accepted", "MFA_CODE_INVALID");
  return call();
}
