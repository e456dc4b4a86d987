import { mkdir } from "node:fs/promises";
import type { Config } from "../config.js";
import { openDatabase, type Database } from "./db.js";
import { lockEmbeddedDatabase } from "./embedded-lock.js";

/** Opens the configured database and applies migrations; the embedded one is locked to this process. */
export async function openConfiguredDatabase(config: Pick<Config, "databaseUrl" | "dataDir"> & Partial<Pick<Config, "dbPoolSize">>): Promise<Database> {
  let unlock: (() => Promise<void>) | undefined;
  if (!config.databaseUrl) {
    await mkdir(config.dataDir, { recursive: true });
    unlock = await lockEmbeddedDatabase(config.dataDir);
  }
  try {
    const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, poolSize: config.dbPoolSize });
    await database.migrate();
    if (!unlock) return database;
    const release = unlock;
    return { ...database, close: () => database.close().finally(release) };
  } catch (err) {
    await unlock?.();
    throw err;
  }
}
