#!/usr/bin/env node
// The warden command-line client. Its TypeScript (src/cli/) runs through tsx, a runtime
// dependency of the server already, so there is no build step.
import process from "node:process";
import { fileURLToPath, URL } from "node:url";
import { register } from "tsx/esm/api";

const root = new URL("../", import.meta.url);
// The repository's tsconfig, wherever the command is run from.
register({ tsconfig: fileURLToPath(new URL("tsconfig.json", root)) });
const { main } = await import(new URL("src/cli/main.ts", root).href);
const code = await main(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env });
// Exit now rather than wait for idle HTTP/2 sessions or a paused stdin to let go.
process.exit(code);
