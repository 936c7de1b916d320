import { resolve } from "node:path";
import { build } from "esbuild";
import { chromium, type Browser } from "playwright-core";
import { REPO_ROOT } from "./server-process.js";

/** Debian's Chromium; .ci/run installs it. */
export const CHROMIUM = "/usr/bin/chromium";
export const STEP_TIMEOUT_MS = 20_000;

/** A promise that gives up after `ms`, naming the step that hung. */
export function within<T>(what: string, p: Promise<T>, ms = STEP_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** A page fixture (tests/e2e/fixtures/<name>.ts) and everything it imports, as one browser script. */
export async function bundlePageScript(fixture: string): Promise<string> {
  const out = await build({
    entryPoints: [resolve(REPO_ROOT, "tests/e2e/fixtures", fixture)],
    bundle: true,
    write: false,
    format: "iife",
    platform: "browser",
    target: "es2022",
    logLevel: "silent",
  });
  return out.outputFiles[0]!.text;
}

/** Headless Chromium with what this machine needs: no sandbox as root, and no calls to Google's hosts (the network is closed). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    timeout: 30_000,
  });
}
