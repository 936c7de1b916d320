import { createApp } from "./app.js";
import { systemClock } from "./clock.js";
import { ConfigError, loadConfig } from "./config.js";
import { openDatabase } from "./db/client.js";
import { secureDataDir } from "./db/data-dir.js";
import { createLogger } from "./logger.js";
import { startBackchannel, startServer } from "./server.js";

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`warden: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.log_level);
  if (config.dev) log.warn("DEV MODE IS ON: development-only RPCs are enabled; never run this in production");
  // Everything this process creates (the embedded database's files, the master key file) is the owner's alone.
  process.umask(0o077);
  const narrowed = secureDataDir(config.data_dir);
  if (narrowed.length)
    log.warn(
      { data_dir: config.data_dir, narrowed: narrowed.length, first: narrowed[0], paths: narrowed.slice(0, 20) },
      "data directory entries were readable by others: narrowed to 0700/0600",
    );
  const database = await openDatabase({
    databaseUrl: config.database_url,
    dataDir: config.data_dir + "/pglite",
    statementTimeoutMs: config.database_statement_timeout * 1000,
  });
  const app = await createApp({ config, database, clock: systemClock, log });
  const server = await startServer(app);
  const backchannel = app.backchannel ? await startBackchannel(app) : undefined;
  // Always written, whatever the log level: scripts and tests read the bound addresses from it.
  log
    .child({}, { level: "info" })
    .info(
      { address: server.address, tls: server.tls, database: database.driver, backchannel: backchannel?.address, backchannel_tls: backchannel?.tls },
      "warden listening",
    );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "draining");
    await Promise.all([server.drain(), backchannel?.drain()]);
    await app.close();
    await database.close().catch(() => {});
    log.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

main().catch((err) => {
  process.stderr.write(`warden: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
