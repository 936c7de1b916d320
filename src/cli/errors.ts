import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";

/** A mistake in the command line: exit code 2, with the usage of the command `words` name. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly words: string[] = [],
  ) {
    super(message);
  }
}

/** A failure the CLI itself detected; `reason` follows the server's catalogue when one fits. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly reason?: string,
  ) {
    super(message);
  }
}

/** "PermissionDenied" -> "PERMISSION_DENIED": the canonical code name, for errors without an ErrorInfo. */
function codeName(code: Code): string {
  return Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

/** The google.rpc.ErrorInfo reason a Warden error carries, or "" when there is none. */
export function reasonOf(err: ConnectError): string {
  return err.findDetails(ErrorInfoSchema)[0]?.reason ?? "";
}

/** A server answer that asks for a new access token. */
export function isTokenExpired(err: unknown): boolean {
  return err instanceof ConnectError && err.code === Code.Unauthenticated && reasonOf(err) === "TOKEN_EXPIRED";
}

/** Node's codes for a TLS certificate that does not verify (unknown issuer, self-signed, wrong name, expired). */
const TLS_TRUST_CODES = /CERT|SIGNATURE|ISSUER/;

/** The code of the TLS failure somewhere in the error's causes, if there is one. */
function tlsFailureOf(err: unknown): string | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === "string" && TLS_TRUST_CODES.test(code)) return code;
  }
  return undefined;
}

/**
 * The stderr line(s) for an error: `error: <message> (<REASON>)`; for a command that used the
 * stored session, a refused credential adds how to get a new one.
 */
export function describeError(err: unknown, usedSession: boolean): string {
  if (err instanceof CliError) return err.reason ? `error: ${err.message} (${err.reason})` : `error: ${err.message}`;
  if (err instanceof ConnectError && tlsFailureOf(err))
    return `error: the server's TLS certificate is not trusted: ${err.rawMessage} (${tlsFailureOf(err)})\nhint: pass --ca-file with the CA certificate (PEM) that signed it`;
  if (err instanceof ConnectError) {
    // No ErrorInfo and a network code: the call never reached Warden.
    const unreached = !reasonOf(err) && err.code === Code.Unavailable && (err.cause as NodeJS.ErrnoException | undefined)?.code;
    const line = `error: ${unreached ? "cannot reach the server: " : ""}${err.rawMessage} (${reasonOf(err) || codeName(err.code)})`;
    return usedSession && err.code === Code.Unauthenticated ? `${line}\nhint: run \`warden login\` to sign in again` : line;
  }
  return `error: ${err instanceof Error ? err.message : String(err)}`;
}
