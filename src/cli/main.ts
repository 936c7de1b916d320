import { resolve } from "node:path";
import { leadingWords, parseCommandLine, stringValue } from "./args.js";
import type { CommandSpec, Context } from "./command.js";
import { allCommands, commandsFor } from "./commands/index.js";
import { CliError, describeError, UsageError } from "./errors.js";
import { Output } from "./output.js";
import { readProfile, writeProfile, type Profile } from "./profile.js";
import { createPrompter } from "./prompt.js";
import { Connection, normalizeServer, SignedIn } from "./session.js";
import { commandUsage, overview } from "./usage.js";

export interface Io {
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

/** Exit codes: 0 done, 1 the call or the command failed, 2 the command line was wrong. */
const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** The usage for a mistake: the command's own, or the overview of the group its words begin. */
function usageFor(commands: CommandSpec[], words: string[]): string {
  const command = commands.find((c) => c.words.join(" ") === words.slice(0, c.words.length).join(" "));
  return command ? commandUsage(command) : overview(commands, words.slice(0, 1));
}

/** Runs one command line; resolves to the process exit code. */
export async function main(argv: string[], io: Io): Promise<number> {
  const commands = await commandsFor(leadingWords(argv)[0]);
  let parsed: ReturnType<typeof parseCommandLine>;
  try {
    parsed = parseCommandLine(argv, commands);
  } catch (err) {
    const words = err instanceof UsageError ? err.words : [];
    io.stderr.write(`error: ${(err as Error).message}\n\n${usageFor(commands, words)}\n`);
    return EXIT.usage;
  }
  const { command, words, values } = parsed;
  if (!command) {
    const everything = await allCommands();
    if (values.help && words.length === 0) {
      io.stdout.write(`${overview(everything)}\n`);
      return EXIT.ok;
    }
    const problem = words.length ? `error: unknown command "${words.join(" ")}"\n\n` : "";
    io.stderr.write(`${problem}${overview(everything, words.slice(0, 1))}\n`);
    return EXIT.usage;
  }
  if (values.help) {
    io.stdout.write(`${commandUsage(command)}\n`);
    return EXIT.ok;
  }
  return runCommand(command, parsed, io);
}

async function runCommand(command: CommandSpec, parsed: ReturnType<typeof parseCommandLine>, io: Io): Promise<number> {
  const prompt = createPrompter(io);
  let usedSession = false;
  let stored: Promise<Profile | undefined> | undefined;
  const profile = () => (stored ??= readProfile(io.env));

  const connection = async (): Promise<Connection> => {
    const p = await profile();
    const named = stringValue(parsed, "server") ?? io.env.WARDEN_SERVER;
    const server = named ? normalizeServer(named) : p?.server;
    if (!server) throw new UsageError("which server? pass --server URL or set WARDEN_SERVER", command.words);
    const caFile = stringValue(parsed, "ca-file") ?? io.env.WARDEN_CA_FILE;
    return new Connection(server, caFile ? resolve(caFile) : p?.server === server ? p.caFile : undefined);
  };

  const ctx: Context = {
    values: parsed.values,
    args: parsed.args,
    out: new Output(io.stdout, parsed.values.json === true),
    prompt,
    env: io.env,
    profile,
    connection,
    async signedIn() {
      const [p, c] = await Promise.all([profile(), connection()]);
      // The tokens go only to the server that issued them.
      if (!p?.accessToken || p.server !== c.server) throw new CliError(`not logged in to ${c.server}: run \`warden login\``, "UNAUTHENTICATED");
      usedSession = true;
      return new SignedIn(c, p, (next) => writeProfile(io.env, next));
    },
  };

  try {
    await command.run(ctx);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`error: ${err.message}\n\n${commandUsage(command)}\n`);
      return EXIT.usage;
    }
    io.stderr.write(`${describeError(err, usedSession)}\n`);
    return EXIT.failed;
  } finally {
    prompt.close();
  }
}
