import path from "node:path";
import type { Config } from "../config.js";
import type { Logger } from "../logger.js";
import { openDatabase, type Database } from "./db.js";
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
  const embedded = config.databaseUrl
    ? undefined
    : await openEmbeddedPostgres({ dir: embeddedPostgresDir(config.dataDir), runAsUser: config.embeddedPgUser, logger });
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
