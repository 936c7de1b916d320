import { SshWireError } from "./ssh-wire.js";

/** Why an SSH public key, key line or certificate was refused; the message says what was wrong. */
export class SshKeyError extends Error {
  override name = "SshKeyError";
}

/** Truncated or malformed wire data becomes an SshKeyError naming what was being read. */
export function describingWireErrors<T>(what: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof SshWireError) throw new SshKeyError(`malformed ${what}: ${e.message}`);
    throw e;
  }
}
