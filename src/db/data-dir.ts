import { chmodSync, lstatSync, mkdirSync, readdirSync, realpathSync } from "node:fs";
import { join } from "node:path";

/**
 * The embedded database's files hold password hashes and sealed keys: the directory is only
 * the owner's (0700, files 0600). Anything wider is narrowed; the paths narrowed are returned
 * so the caller can warn. Links inside are left alone; a data directory that is itself a link
 * is secured where it points.
 */
export function secureDataDir(dir: string): string[] {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  dir = realpathSync(dir);
  const narrowed: string[] = [];
  const walk = (path: string) => {
    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) return;
    const wanted = stat.isDirectory() ? 0o700 : 0o600;
    if ((stat.mode & 0o777 & ~wanted) !== 0) {
      chmodSync(path, stat.mode & wanted);
      narrowed.push(path);
    }
    if (stat.isDirectory()) for (const entry of readdirSync(path)) walk(join(path, entry));
  };
  walk(dir);
  return narrowed;
}
