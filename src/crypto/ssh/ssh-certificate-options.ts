import { SshKeyError } from "./ssh-key-error.js";
import { SshWireReader, SshWireWriter } from "./ssh-wire.js";

/**
 * PROTOCOL.certkeys critical options and extensions: a packed list of (string name, string data)
 * where data is itself a string holding the value, or empty for a flag. Names are sorted and
 * unique; OpenSSH refuses a certificate that breaks either rule.
 */

const utf8 = new TextEncoder();

export function encodeOptionList(what: string, options: Record<string, string>): Uint8Array {
  const entries = Object.entries(options).map(([name, value]) => ({ name, value, key: utf8.encode(name) }));
  // Byte order of the UTF-8 names, as OpenSSH compares them (strcmp), not JavaScript's UTF-16 order.
  entries.sort((a, b) => Buffer.compare(a.key, b.key));
  const out = new SshWireWriter();
  for (const { name, value } of entries) {
    if (name === "") throw new SshKeyError(`${what}: an option name cannot be empty`);
    out.utf8(name).string(value === "" ? new Uint8Array(0) : new SshWireWriter().utf8(value).bytes());
  }
  return out.bytes();
}

/** Extensions as a name list (all flags), refusing the duplicates a Record would silently merge. */
export function flagOptions(what: string, names: readonly string[]): Record<string, string> {
  const duplicate = names.find((name, i) => names.indexOf(name) !== i);
  if (duplicate !== undefined) throw new SshKeyError(`${what}: ${JSON.stringify(duplicate)} is listed twice`);
  return Object.fromEntries(names.map((name) => [name, ""]));
}

export function decodeOptionList(what: string, packed: Uint8Array): Record<string, string> {
  const reader = new SshWireReader(packed);
  const entries: [string, string][] = [];
  let previous: Uint8Array | undefined;
  while (reader.remaining > 0) {
    const name = reader.utf8();
    const key = utf8.encode(name);
    if (previous && Buffer.compare(previous, key) >= 0) throw new SshKeyError(`${what} are not sorted by name or repeat ${JSON.stringify(name)}`);
    previous = key;
    const data = reader.string();
    entries.push([name, data.length === 0 ? "" : innerString(data, `${what} ${name}`)]);
  }
  return Object.fromEntries(entries);
}

function innerString(data: Uint8Array, what: string): string {
  const reader = new SshWireReader(data);
  const value = reader.utf8();
  reader.end(what);
  return value;
}
