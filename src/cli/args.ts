import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import { DurationSchema, type Duration } from "@bufbuild/protobuf/wkt";
import type { CommandSpec, Context, OptionSpec } from "./command.js";
import { UsageError } from "./errors.js";

/** Options every command takes; only these may come before the command words. */
export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  server: { type: "string", value: "URL", help: "the Warden server (else WARDEN_SERVER, else the profile's)" },
  "ca-file": { type: "string", value: "PEM", help: "trust these CA certificates for the server's TLS (else WARDEN_CA_FILE)" },
  json: { type: "boolean", help: "print the result as JSON" },
  help: { type: "boolean", short: "h", help: "show usage" },
};

export interface ParsedCommandLine {
  /** Undefined when no command was named (e.g. `warden --help`). */
  command?: CommandSpec;
  /** The command words given, even when they name no command (for the usage of a group). */
  words: string[];
  values: Context["values"];
  args: string[];
}

/** Leading words of argv, skipping global options (and the value of --server/--ca-file). */
export function leadingWords(argv: string[]): string[] {
  const words: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (!token.startsWith("-")) {
      words.push(token);
      continue;
    }
    const name = token.replace(/^--?/, "").split("=")[0]!;
    const global = Object.entries(GLOBAL_OPTIONS).find(([long, o]) => long === name || o.short === name);
    if (!global) break;
    if (global[1].type === "string" && !token.includes("=")) i++;
  }
  return words;
}

function findCommand(commands: CommandSpec[], words: string[]): CommandSpec | undefined {
  return commands.filter((c) => c.words.every((w, i) => words[i] === w)).sort((a, b) => b.words.length - a.words.length)[0];
}

export function parseCommandLine(argv: string[], commands: CommandSpec[]): ParsedCommandLine {
  const words = leadingWords(argv);
  const command = findCommand(commands, words);
  const options = { ...GLOBAL_OPTIONS, ...command?.options };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      options: Object.fromEntries(
        Object.entries(options).map(([name, o]) => [name, { type: o.type, multiple: o.multiple === true, ...(o.short ? { short: o.short } : {}) }]),
      ),
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message, words);
  }
  const values = parsed.values as Context["values"];
  if (!command) return { words, values, args: [] };
  const args = parsed.positionals.slice(command.words.length);
  const expected = command.argCount ?? 0;
  if (!values.help && args.length !== expected) throw new UsageError(expected === 0 ? `unexpected argument "${args[0]}"` : `expected ${command.args}`, words);
  return { command, words, values, args };
}

// ---------------------------------------------------------------- option values

/** "30m", "8h", "1h30m", "90s", "2d" or a number of seconds. */
export function durationArg(option: string, text: string): Duration {
  const units: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
  let seconds = 0;
  if (/^\d+$/.test(text)) seconds = Number(text);
  else if (/^(\d+[smhd])+$/.test(text)) for (const [, n, unit] of text.matchAll(/(\d+)([smhd])/g)) seconds += Number(n) * units[unit!]!;
  else throw new UsageError(`--${option}: "${text}" is not a duration (e.g. 90s, 30m, 8h, 1h30m)`);
  if (seconds <= 0) throw new UsageError(`--${option}: must be longer than zero`);
  return create(DurationSchema, { seconds: BigInt(seconds) });
}

export function countArg(option: string, text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new UsageError(`--${option}: "${text}" is not a positive whole number`);
  return Number(text);
}

/** KEY=VALUE pairs; a key given twice keeps the last value. */
export function labelsArg(option: string, pairs: string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf("=");
    if (at < 1) throw new UsageError(`--${option}: "${pair}" is not KEY=VALUE`);
    labels[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return labels;
}

export function oneOf<T extends string>(option: string, text: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(text)) throw new UsageError(`--${option}: must be one of ${choices.join(", ")}`);
  return text as T;
}

export function stringValue(ctx: Pick<Context, "values">, name: string): string | undefined {
  const v = ctx.values[name];
  return typeof v === "string" ? v : undefined;
}

export function listValue(ctx: Pick<Context, "values">, name: string): string[] {
  const v = ctx.values[name];
  return Array.isArray(v) ? v : typeof v === "string" ? [v] : [];
}

export function flagValue(ctx: Pick<Context, "values">, name: string): boolean {
  return ctx.values[name] === true;
}
