import path from "node:path";
import type { Config } from "../config.js";
import type { Logger } from "../logger.js";
import postgres from "postgres";
import { withoutCredentials, withTimeout } from "../infra/safe-url.js";
import { openDatabase, type Database } from "./db.js";

/** How long start-up waits for a configured PostgreSQL before it gives up, naming it. */
export const DATABASE_PROBE_MS = 2_500;

/**
 * One connection and `SELECT 1`: a wrong DATABASE_URL fails start-up within
 * DATABASE_PROBE_MS with an error naming PostgreSQL and the URL (without
 * credentials), instead of after the driver's 30 s connect timeout.
 */
export async function probeDatabase(url: string, timeoutMs = DATABASE_PROBE_MS): Promise<void> {
  const where = `PostgreSQL at ${withoutCredentials(url)} (DATABASE_URL)`;
  let probe: postgres.Sql;
  try {
    probe = postgres(url, { max: 1, connect_timeout: Math.ceil(timeoutMs / 1000), onnotice: () => {}, idle_timeout: 1 });
  } catch (err) {
    throw new Error(`${where} is not usable: ${(err as Error).message}`);
  }
  try {
    await withTimeout(probe`SELECT 1`.execute(), timeoutMs, `no answer within ${timeoutMs} ms`);
  } catch (err) {
    throw new Error(`${where} is not usable: ${(err as Error).message}`);
  } finally {
    probe.end({ timeout: 0 }).catch(() => {});
  }
}
import { openEmbeddedPostgres, type EmbeddedPostgres } from "./embedded-postgres.js";

export interface ConfiguredDatabase extends Database {
  /** The embedded PostgreSQL under the data folder; unset with DATABASE_URL. */
  readonly embedded: EmbeddedPostgres | undefined;
}

/** Where the embedded PostgreSQL lives inside the data folder. */
export const embeddedPostgresDir = (dataDir: string) => path.join(dataDir, "postgres");

/**
 * Opens the configured database and applies migrations. Without DATABASE_URL
 * that is the embedded PostgreSQL in the data folder, started here (or shared
 * with the attesto process that started it) and stopped on close.
 */
export async function openConfiguredDatabase(
  config: Pick<Config, "databaseUrl" | "dataDir" | "embeddedPgUser"> & Partial<Pick<Config, "dbPoolSize" | "dbConnectTimeoutMs" | "dbStatementTimeoutMs">>,
  logger?: Logger,
): Promise<ConfiguredDatabase> {
  if (config.databaseUrl) await probeDatabase(config.databaseUrl);
  const embedded = config.databaseUrl ? undefined : await openEmbeddedPostgres({ dir: embeddedPostgresDir(config.dataDir), runAsUser: config.embeddedPgUser, logger });
  try {
    const database = openDatabase({
      url: config.databaseUrl ?? embedded!.url,
      poolSize: config.dbPoolSize,
      connectTimeoutMs: config.dbConnectTimeoutMs,
      statementTimeoutMs: config.dbStatementTimeoutMs,
    });
    try {
      await database.migrate();
    } catch (err) {
      await database.close();
      throw err;
    }
    if (!embedded) return { ...database, embedded };
    // Together: a fast stop ends the pool's sessions, so neither waits for the other.
    const close = async () => {
      const [pool, cluster] = await Promise.allSettled([database.close(), embedded.stop()]);
      if (pool.status === "rejected") throw pool.reason;
      if (cluster.status === "rejected") throw cluster.reason;
    };
    return { ...database, embedded, close };
  } catch (err) {
    await embedded?.stop();
    throw err;
  }
}

/**
 * The database another process opened and migrated (the primary of `serve
 * --workers N`): a pool of this process's own, no migrations; an embedded
 * cluster is left to the process that started it.
 */
export function attachConfiguredDatabase(
  config: { url: string; embedded: { dir: string; port: number } | undefined } & Partial<Pick<Config, "dbPoolSize" | "dbConnectTimeoutMs" | "dbStatementTimeoutMs">>,
): ConfiguredDatabase {
  const database = openDatabase({
    url: config.url,
    poolSize: config.dbPoolSize,
    connectTimeoutMs: config.dbConnectTimeoutMs,
    statementTimeoutMs: config.dbStatementTimeoutMs,
  });
  const embedded: EmbeddedPostgres | undefined = config.embedded && { url: config.url, port: config.embedded.port, dir: config.embedded.dir, owner: false, stop: async () => {} };
  return { ...database, embedded };
}
