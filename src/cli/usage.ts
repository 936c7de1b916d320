import { GLOBAL_OPTIONS } from "./args.js";
import type { CommandSpec, OptionSpec } from "./command.js";

function optionSynopsis(name: string, o: OptionSpec): string {
  const flag = o.type === "string" ? `--${name} ${o.value ?? "VALUE"}` : `--${name}`;
  return o.multiple ? `[${flag}]...` : `[${flag}]`;
}

function optionLines(options: Record<string, OptionSpec>): string[] {
  const entries = Object.entries(options).map(([name, o]) => [
    `${o.short ? `-${o.short}, ` : ""}--${name}${o.type === "string" ? ` ${o.value ?? "VALUE"}` : ""}`,
    o.help,
  ]);
  const width = Math.max(...entries.map(([flag]) => flag!.length));
  return entries.map(([flag, help]) => `  ${flag!.padEnd(width)}  ${help}`);
}

/** The usage of one command: synopsis, what it does, its options. */
export function commandUsage(c: CommandSpec): string {
  const options = c.options ?? {};
  const synopsis = ["warden", ...c.words, ...(c.args ? [c.args] : []), ...Object.entries(options).map(([n, o]) => optionSynopsis(n, o))].join(" ");
  const lines = [`usage: ${synopsis}`, "", `${c.summary}`];
  if (Object.keys(options).length) lines.push("", "options:", ...optionLines(options));
  lines.push("", "global options:", ...optionLines(GLOBAL_OPTIONS));
  return lines.join("\n");
}

/** The usage of every command whose words begin with `prefix` (all of them for an empty prefix). */
export function overview(commands: CommandSpec[], prefix: string[] = []): string {
  const shown = commands.filter((c) => prefix.every((w, i) => c.words[i] === w));
  const list = shown.length ? shown : commands;
  const names = list.map((c) => [...c.words, ...(c.args ? [c.args] : [])].join(" "));
  const width = Math.max(...names.map((n) => n.length));
  return [
    "usage: warden <command> [options]",
    "",
    "commands:",
    ...list.map((c, i) => `  ${names[i]!.padEnd(width)}  ${c.summary}`),
    "",
    "global options:",
    ...optionLines(GLOBAL_OPTIONS),
    "",
    "`warden <command> --help` shows a command's options. The profile (server and session) is kept in",
    "$XDG_CONFIG_HOME/warden/profile.json (default ~/.config/warden/profile.json).",
  ].join("\n");
}
