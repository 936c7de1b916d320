/**
 * Starts one of the bare baseline servers in bench/bare/ as its own process group (`node
 * --import tsx`, the loader Warden runs under) and reads the port it writes on stdout.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const bareDir = join(dirname(fileURLToPath(import.meta.url)), "bare");

export interface BareServer {
  origin: string;
  /** CPU seconds (user + system) the server process used so far; undefined off Linux. */
  cpuSeconds(): number | undefined;
  stop(): void;
}

const running = new Set<BareServer>();
// A bare server never outlives the bench, whatever way it ends.
process.on("exit", () => {
  for (const s of running) s.stop();
});

export async function startBare(file: "grpc-server.ts" | "http-echo.ts", repoRoot: string): Promise<BareServer> {
  const child = spawn(process.execPath, ["--import", "tsx", join(bareDir, file)], {
    cwd: repoRoot,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const stop = () => {
    running.delete(server);
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      /* gone */
    }
  };
  const server: BareServer = { origin: "", stop, cpuSeconds: () => procCpuSeconds(child.pid!) };
  running.add(server);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bench/bare/${file} did not start within 30s: ${output}`)), 30_000);
    child.stderr!.setEncoding("utf8").on("data", (c: string) => (output += c));
    child.stdout!.setEncoding("utf8").on("data", (c: string) => {
      output += c;
      const m = /\{"port":(\d+)\}/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`bench/bare/${file} exited with ${code}: ${output}`));
    });
  }).catch((err: unknown) => {
    stop();
    throw err;
  });
  server.origin = `http://127.0.0.1:${port}`;
  return server;
}

/** utime + stime of one process from /proc/<pid>/stat, in seconds (USER_HZ 100). */
function procCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return undefined;
  }
}
