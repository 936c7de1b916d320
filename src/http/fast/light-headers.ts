import type { IncomingHttpHeaders } from "node:http";

/**
 * Headers for the fast path, without undici's Headers: a call's request headers are read a few
 * times (authorization, x-request-id) and its response headers set once or twice, so a Map over
 * lower-case names does the job at a fraction of the cost. Behaves as the Fetch Headers class for
 * everything Warden's handlers and interceptors do: names are case-insensitive, get() joins
 * repeated values with ", ", iteration is in name order.
 */
export class LightHeaders implements Headers {
  private entriesByName: Map<string, string[]> | undefined;

  constructor(init?: Iterable<[string, string]>) {
    if (init) for (const [name, value] of init) this.append(name, value);
  }

  /** Made on first write: a call's trailers and a request's headers are mostly never written. */
  protected get map(): Map<string, string[]> {
    return (this.entriesByName ??= new Map());
  }

  append(name: string, value: string): void {
    const key = name.toLowerCase();
    const values = this.map.get(key);
    if (values) values.push(normalized(value));
    else this.map.set(key, [normalized(value)]);
  }

  delete(name: string): void {
    this.entriesByName?.delete(name.toLowerCase());
  }

  get(name: string): string | null {
    const values = this.entriesByName?.get(name.toLowerCase());
    return values ? values.join(", ") : null;
  }

  getSetCookie(): string[] {
    return [...(this.map.get("set-cookie") ?? [])];
  }

  has(name: string): boolean {
    return this.entriesByName?.has(name.toLowerCase()) ?? false;
  }

  set(name: string, value: string): void {
    this.map.set(name.toLowerCase(), [normalized(value)]);
  }

  forEach(callback: (value: string, key: string, parent: Headers) => void, thisArg?: unknown): void {
    for (const [key, value] of this.entries()) callback.call(thisArg, value, key, this);
  }

  *entries(): HeadersIterator<[string, string]> {
    if (!this.entriesByName) return;
    for (const key of [...this.entriesByName.keys()].sort()) {
      const values = this.map.get(key)!;
      // set-cookie is the one header the Fetch standard never joins.
      if (key === "set-cookie") for (const v of values) yield [key, v];
      else yield [key, values.join(", ")];
    }
  }

  *keys(): HeadersIterator<string> {
    for (const [key] of this.entries()) yield key;
  }

  *values(): HeadersIterator<string> {
    for (const [, value] of this.entries()) yield value;
  }

  [Symbol.iterator](): HeadersIterator<[string, string]> {
    return this.entries();
  }

  /** For node's writeHead / respond, as connect-node converts Headers: values joined, set-cookie kept apart. */
  toNode(into: Record<string, string | string[]> = {}): Record<string, string | string[]> {
    if (this.entriesByName)
      for (const [key, values] of this.entriesByName) into[key] = key !== "set-cookie" ? values.join(", ") : values.length === 1 ? values[0]! : [...values];
    return into;
  }

  get size(): number {
    return this.entriesByName?.size ?? 0;
  }
}

/**
 * A request's headers as node parsed them, read in place: most calls only get() a few, so the
 * copy into a Map is made only when one is changed or listed. Pseudo-headers (:path...) are
 * not headers and are left out, as connect-node leaves them out.
 */
export class NodeRequestHeaders extends LightHeaders {
  private copied = false;

  constructor(private readonly raw: IncomingHttpHeaders) {
    super();
  }

  override get(name: string): string | null {
    if (this.copied) return super.get(name);
    const key = name.toLowerCase();
    if (key.charCodeAt(0) === 58 /* ":" */) return null;
    const value = this.raw[key];
    if (value === undefined) return null;
    return typeof value === "string" ? normalized(value) : value.map(normalized).join(", ");
  }

  override has(name: string): boolean {
    if (this.copied) return super.has(name);
    const key = name.toLowerCase();
    return key.charCodeAt(0) !== 58 && this.raw[key] !== undefined;
  }

  override append(name: string, value: string): void {
    this.copy();
    super.append(name, value);
  }

  override set(name: string, value: string): void {
    this.copy();
    super.set(name, value);
  }

  override delete(name: string): void {
    this.copy();
    super.delete(name);
  }

  override getSetCookie(): string[] {
    this.copy();
    return super.getSetCookie();
  }

  override *entries(): HeadersIterator<[string, string]> {
    this.copy();
    yield* super.entries();
  }

  private copy(): void {
    if (this.copied) return;
    this.copied = true;
    for (const [key, value] of Object.entries(this.raw)) {
      if (value === undefined || key.charCodeAt(0) === 58) continue;
      for (const v of typeof value === "string" ? [value] : value) super.append(key, v);
    }
  }
}

/** Fetch trims leading and trailing HTTP whitespace from every value. */
function normalized(value: string): string {
  const c0 = value.charCodeAt(0);
  const cn = value.charCodeAt(value.length - 1);
  return c0 === 32 || c0 === 9 || cn === 32 || cn === 9 || c0 === 10 || cn === 10 || c0 === 13 || cn === 13
    ? value.replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, "")
    : value;
}
