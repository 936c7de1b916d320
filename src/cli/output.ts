import { toJson, type DescMessage, type JsonValue, type MessageShape } from "@bufbuild/protobuf";
import { timestampDate, type Duration, type Timestamp } from "@bufbuild/protobuf/wkt";

/** Where a command's result goes: stdout, as aligned columns for people or JSON for programs. */
export class Output {
  constructor(
    private readonly stdout: NodeJS.WritableStream,
    readonly json: boolean,
  ) {}

  line(text = ""): void {
    this.stdout.write(`${text}\n`);
  }

  /** Pretty-printed JSON: the --json answer of a command. */
  data(value: unknown): void {
    this.line(JSON.stringify(value, null, 2));
  }

  /** Columns padded to their widest cell, two spaces apart. */
  table(headers: string[], rows: string[][]): void {
    const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
    for (const row of [headers, ...rows])
      this.line(
        row
          .map((cell, i) => (cell ?? "").padEnd(widths[i]!))
          .join("  ")
          .trimEnd(),
      );
  }

  /** "Name:  value" lines, the names aligned. */
  fields(pairs: [string, string][]): void {
    const width = Math.max(...pairs.map(([name]) => name.length + 1));
    for (const [name, value] of pairs) this.line(`${`${name}:`.padEnd(width)}  ${value}`);
  }
}

/** A message as proto JSON, with its unset fields too: a script can rely on every key being there. */
export function jsonOf<D extends DescMessage>(schema: D, message: MessageShape<D>): JsonValue {
  return toJson(schema, message, { alwaysEmitImplicit: true });
}

/** RFC 3339 in UTC to the second, "-" when unset. */
export function timeText(ts: Timestamp | undefined): string {
  return ts
    ? timestampDate(ts)
        .toISOString()
        .replace(/\.\d{3}Z$/, "Z")
    : "-";
}

/** 5400 s -> "1h30m"; "-" when unset. */
export function durationText(d: Duration | undefined): string {
  if (!d) return "-";
  let left = Number(d.seconds);
  const parts: string[] = [];
  for (const [unit, size] of [
    ["d", 86400],
    ["h", 3600],
    ["m", 60],
  ] as const) {
    if (left >= size) parts.push(`${Math.floor(left / size)}${unit}`);
    left %= size;
  }
  if (left > 0 || parts.length === 0) parts.push(`${left}s`);
  return parts.join("");
}

/** "env=prod,team=db", sorted by key; "-" when empty. */
export function labelsText(labels: Record<string, string>): string {
  const entries = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b));
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(",") : "-";
}

export function listText(items: readonly string[]): string {
  return items.length ? items.join(",") : "-";
}
