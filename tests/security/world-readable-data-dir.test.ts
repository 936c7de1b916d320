import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { secureDataDir } from "../../src/db/data-dir.js";
import { clientsFor, registerAndLogin } from "../helpers/e2e-clients.js";
import { makeTempDir, SLOW_TEST, startServerProcess, type ServerProcess } from "../helpers/server-process.js";
import { ADMIN_EMAIL, ADMIN_PASSWORD } from "../helpers/test-app.js";

/**
 * Attack: another local user (or a process running as one: a log shipper, a backup agent, a
 * compromised service) reads the embedded database's files, which hold password hashes, sealed
 * keys and sessions, or the generated master key that unseals them. The data directory must be
 * the owner's alone: directories 0700, files 0600. The server sets umask 077 for what it
 * creates, and narrows what it finds wider at start, with a warning.
 */

interface Entry {
  path: string;
  kind: "dir" | "file" | "link";
  mode: number;
}

/** Every entry under dir (dir included), symbolic links not followed. */
function walk(dir: string): Entry[] {
  const out: Entry[] = [];
  const visit = (path: string) => {
    const st = lstatSync(path);
    const kind = st.isSymbolicLink() ? "link" : st.isDirectory() ? "dir" : "file";
    out.push({ path, kind, mode: st.mode & 0o777 });
    if (kind === "dir") for (const name of readdirSync(path)) visit(join(path, name));
  };
  visit(dir);
  return out;
}

const octal = (mode: number) => mode.toString(8).padStart(4, "0");

/** Entries with any group or other permission bit, as "relative/path 0644" strings (empty when private). */
function readableByOthers(dir: string): string[] {
  return walk(dir)
    .filter((e) => e.kind !== "link" && (e.mode & 0o077) !== 0)
    .map((e) => `${relative(dir, e.path) || "."} ${octal(e.mode)}`);
}

/**
 * Directories not exactly 0700 and files not exactly 0600, grouped by kind and mode for a short
 * failure message: "file 0666 x968, e.g. pglite/PG_VERSION" (empty when everything is private).
 */
function notPrivate(dir: string): string[] {
  const groups = new Map<string, string[]>();
  for (const e of walk(dir)) {
    if (!((e.kind === "dir" && e.mode !== 0o700) || (e.kind === "file" && e.mode !== 0o600))) continue;
    const key = `${e.kind} ${octal(e.mode)}`;
    groups.set(key, [...(groups.get(key) ?? []), relative(dir, e.path) || "."]);
  }
  return [...groups].map(([key, paths]) => `${key} x${paths.length}, e.g. ${paths.slice(0, 3).join(" ")}`);
}

describe("the embedded database's data directory (real server processes)", () => {
  let parent: string;
  let dataDir: string;
  let outside: string;
  let server: ServerProcess | undefined;
  beforeAll(() => {
    parent = makeTempDir("warden-datadir-");
    dataDir = join(parent, "data"); // does not exist yet: the server creates it
    outside = join(parent, "outside.txt");
  });
  afterEach(async () => {
    await server?.dispose();
    server = undefined;
  });
  afterAll(() => rmSync(parent, { recursive: true, force: true }));

  it(
    "a fresh data directory is created private: every directory 0700 and every file 0600 (master.key, the database's files), while serving and after shutdown",
    SLOW_TEST,
    async () => {
      // No master key configured: the server generates master.key into the data directory.
      server = await startServerProcess({ dataDir, env: { WARDEN_MASTER_KEY: undefined } });
      const { auth } = clientsFor(createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1" }));
      await registerAndLogin(auth, "datadir"); // writes: users, sessions, audit
      expect((await fetch(`${server.baseUrl}/readyz`)).status).toBe(200);

      expect(existsSync(join(dataDir, "master.key"))).toBe(true);
      expect(existsSync(join(dataDir, "pglite"))).toBe(true);
      const entries = walk(dataDir);
      expect(entries.filter((e) => e.kind === "file").length, "the embedded database wrote files").toBeGreaterThan(10);
      expect(lstatSync(join(dataDir, "master.key")).mode & 0o777, "master.key").toBe(0o600);
      expect(entries.filter((e) => e.kind === "dir" && e.mode !== 0o700).map((e) => `${relative(dataDir, e.path) || "."} ${octal(e.mode)}`)).toEqual([]);
      // Every file, including those the embedded database itself creates (it sets their modes explicitly).
      expect(notPrivate(dataDir)).toEqual([]);

      // Shutdown writes too (a checkpoint): still private afterwards.
      expect(await server.stop()).toEqual({ code: 0, signal: null });
      expect(notPrivate(dataDir)).toEqual([]);
      // Nothing in this run needed narrowing: the server made everything private itself.
      expect(server.logLines().filter((l) => /narrowed/.test(String(l.msg)))).toEqual([]);
    },
  );

  it(
    "a data directory left readable by others (0755 directories, 0644/0666 files, master.key included) is narrowed at start, with a warning naming it; links are not followed",
    SLOW_TEST,
    async () => {
      expect(existsSync(join(dataDir, "pglite")), "the first test created the data directory").toBe(true);
      // Widen everything, as a careless `cp -r`, a restore from a backup or a chmod -R would.
      const widened: string[] = [];
      for (const e of walk(dataDir)) {
        if (e.kind === "link") continue;
        chmodSync(e.path, e.kind === "dir" ? 0o755 : 0o644);
        widened.push(e.path);
      }
      mkdirSync(join(dataDir, "extra"), { mode: 0o777 });
      chmodSync(join(dataDir, "extra"), 0o777);
      writeFileSync(join(dataDir, "extra", "notes.txt"), "left here by an operator\n");
      chmodSync(join(dataDir, "extra", "notes.txt"), 0o666);
      widened.push(join(dataDir, "extra"), join(dataDir, "extra", "notes.txt"));
      // A link to a file outside the directory: the server must not chmod what it does not own.
      writeFileSync(outside, "not the server's\n");
      chmodSync(outside, 0o644);
      symlinkSync(outside, join(dataDir, "extra", "outside-link"));
      expect(readableByOthers(dataDir).length).toBe(widened.length);

      server = await startServerProcess({ dataDir, env: { WARDEN_MASTER_KEY: undefined } });
      const warning = server.logLines().find((l) => /narrowed/.test(String(l.msg)));
      expect(warning, "a warning about the narrowed entries").toBeDefined();
      expect(warning!.level).toBe(40); // pino's warn
      expect(warning!.data_dir).toBe(dataDir);
      expect(warning!.narrowed).toBe(widened.length);
      expect(widened).toContain(warning!.first);
      // Before the database is opened (and read) and before anything is served.
      const lines = server.logLines();
      expect(lines.indexOf(warning!)).toBeLessThan(lines.findIndex((l) => l.msg === "warden listening"));
      expect(statSync(outside).mode & 0o777, "the link's target outside the data directory is untouched").toBe(0o644);

      // The narrowed database and the generated master key are still the server's to use.
      const { auth } = clientsFor(createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1" }));
      expect((await auth.login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD })).user?.email).toBe(ADMIN_EMAIL);
      // Everything is private now, including what the database created while starting on it.
      expect(readableByOthers(dataDir)).toEqual([]);
      expect(notPrivate(dataDir)).toEqual([]);
    },
  );
});

describe("secureDataDir", () => {
  let root: string;
  beforeAll(() => {
    root = makeTempDir("warden-securedir-");
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("creates a missing data directory 0700 and reports nothing narrowed", () => {
    const dir = join(root, "new", "data");
    expect(secureDataDir(dir)).toEqual([]);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  it("narrows exactly the entries with group or other bits, keeps the owner's bits, never widens, and is idempotent", () => {
    const dir = join(root, "mixed");
    mkdirSync(join(dir, "sub", "deeper"), { recursive: true });
    const files: Record<string, number> = {
      "a-0644": 0o644,
      "b-0600": 0o600,
      "c-0400": 0o400,
      "d-0640": 0o640,
      "e-0604": 0o604,
      "sub/f-0666": 0o666,
      "sub/deeper/g-0755": 0o755,
    };
    for (const [name, mode] of Object.entries(files)) {
      writeFileSync(join(dir, name), name);
      chmodSync(join(dir, name), mode);
    }
    chmodSync(dir, 0o755);
    chmodSync(join(dir, "sub"), 0o750);
    chmodSync(join(dir, "sub", "deeper"), 0o700);

    const narrowed = secureDataDir(dir).map((p) => relative(dir, p) || ".");
    expect(narrowed.sort()).toEqual([".", "a-0644", "d-0640", "e-0604", "sub", "sub/deeper/g-0755", "sub/f-0666"].sort());
    const modes = Object.fromEntries(walk(dir).map((e) => [relative(dir, e.path) || ".", octal(e.mode)]));
    expect(modes).toEqual({
      ".": "0700",
      sub: "0700",
      "sub/deeper": "0700",
      "a-0644": "0600",
      "b-0600": "0600",
      "c-0400": "0400", // narrower than 0600 already: left as it is
      "d-0640": "0600",
      "e-0604": "0600",
      "sub/f-0666": "0600",
      "sub/deeper/g-0755": "0600", // a file is 0600 at most
    });
    expect(secureDataDir(dir)).toEqual([]);
  });

  it("secures a data directory configured through a symbolic link (e.g. /var/lib/warden -> /srv/warden): the link is followed, its target narrowed", () => {
    const target = join(root, "real-data");
    mkdirSync(join(target, "pglite"), { recursive: true });
    chmodSync(target, 0o755);
    chmodSync(join(target, "pglite"), 0o755);
    writeFileSync(join(target, "pglite", "PG_VERSION"), "17\n");
    chmodSync(join(target, "pglite", "PG_VERSION"), 0o644);
    const link = join(root, "data-link");
    symlinkSync(target, link);

    const narrowed = secureDataDir(link);
    expect(readableByOthers(target)).toEqual([]);
    expect(narrowed.length).toBe(3);
  });

  it("leaves symbolic links alone: neither a linked file outside nor a linked directory's contents are changed", () => {
    const dir = join(root, "links");
    const elsewhere = join(root, "elsewhere");
    mkdirSync(dir, { mode: 0o700 });
    mkdirSync(elsewhere, { mode: 0o755 });
    chmodSync(elsewhere, 0o755);
    writeFileSync(join(elsewhere, "shared.conf"), "x");
    chmodSync(join(elsewhere, "shared.conf"), 0o644);
    symlinkSync(join(elsewhere, "shared.conf"), join(dir, "file-link"));
    symlinkSync(elsewhere, join(dir, "dir-link"));
    symlinkSync(join(root, "does-not-exist"), join(dir, "dangling-link"));

    expect(secureDataDir(dir)).toEqual([]);
    expect(statSync(elsewhere).mode & 0o777).toBe(0o755);
    expect(statSync(join(elsewhere, "shared.conf")).mode & 0o777).toBe(0o644);
  });
});
