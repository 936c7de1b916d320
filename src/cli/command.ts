import type { Output } from "./output.js";
import type { Profile } from "./profile.js";
import type { Prompter } from "./prompt.js";
import type { Connection, SignedIn } from "./session.js";

export interface OptionSpec {
  type: "string" | "boolean";
  /** May be given more than once (values collected in order). */
  multiple?: boolean;
  short?: string;
  /** The placeholder usage shows for the value, e.g. "URL". */
  value?: string;
  help: string;
}

/** What a command is given: its parsed command line and the ways to reach the server. */
export interface Context {
  /** Option values by long name: a string, true, or a list for `multiple` options. */
  values: Record<string, string | boolean | string[] | undefined>;
  /** The arguments after the command words. */
  args: string[];
  out: Output;
  prompt: Prompter;
  env: NodeJS.ProcessEnv;
  /** The server from --server, WARDEN_SERVER or the profile, without credentials. */
  connection(): Promise<Connection>;
  /** The stored session (refreshed when its access token has expired). */
  signedIn(): Promise<SignedIn>;
  profile(): Promise<Profile | undefined>;
}

export interface CommandSpec {
  /** The words that name it: ["tokens", "add"]. */
  words: string[];
  /** Synopsis of its arguments, e.g. "ID|EMAIL". */
  args?: string;
  /** How many arguments it takes. */
  argCount?: number;
  summary: string;
  options?: Record<string, OptionSpec>;
  run(ctx: Context): Promise<void>;
}
