import { chmod, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { CliError } from "./errors.js";

/** What `warden login` remembers: the server, and the session's tokens (the file is 0600). */
export interface Profile {
  server: string;
  /** A PEM file of CAs to trust for this server's TLS certificate. */
  caFile?: string;
  email?: string;
  userId?: string;
  sessionId?: string;
  accessToken?: string;
  refreshToken?: string;
  /** When the access token expires (ISO 8601). */
  expiresAt?: string;
}

/** $XDG_CONFIG_HOME/warden, else $HOME/.config/warden. */
export function configDir(env: NodeJS.ProcessEnv): string {
  if (env.XDG_CONFIG_HOME) return join(env.XDG_CONFIG_HOME, "warden");
  return join(env.HOME || homedir(), ".config", "warden");
}

export function profilePath(env: NodeJS.ProcessEnv): string {
  return join(configDir(env), "profile.json");
}

export async function readProfile(env: NodeJS.ProcessEnv): Promise<Profile | undefined> {
  let text: string;
  try {
    text = await readFile(profilePath(env), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  let parsed: Profile | undefined;
  try {
    parsed = JSON.parse(text) as Profile;
  } catch {
    // (not JSON: the check below says so)
  }
  if (typeof parsed?.server !== "string") throw new CliError(`${profilePath(env)} is not a warden profile: remove it and run \`warden login\``);
  return parsed;
}

/**
 * Writes the profile whole: a temporary file created 0600 and renamed over the old one, so a
 * crash never leaves half a file and the tokens are never readable by others, not even briefly.
 */
export async function writeProfile(env: NodeJS.ProcessEnv, profile: Profile): Promise<void> {
  const dir = configDir(env);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const path = profilePath(env);
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(temporary, `${JSON.stringify(profile, null, 2)}\n`, { mode: 0o600, flag: "wx" });
    await rename(temporary, path);
  } finally {
    await rm(temporary, { force: true });
  }
}

/** The profile without its session: the server and the email stay for the next login. */
export function withoutSession(profile: Profile): Profile {
  return { server: profile.server, caFile: profile.caFile, email: profile.email };
}
