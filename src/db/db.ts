import { mkdir } from "node:fs/promises";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { sql, type SQL } from "drizzle-orm";
import { PgDialect, type PgDatabase, type PgQueryResultHKT } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import { migrate as migratePostgres } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { migrationsFolder } from "../paths.js";
/**
 * The Drizzle handle, the same type for both drivers. It carries no schema:
 * each domain module declares its tables in its own schema.ts and queries
 * them with the SQL-like builder (no relational query API, whose per-query
 * overhead the hot paths cannot afford).
 */
export type Db = PgDatabase<PgQueryResultHKT>;

export interface Database {
  readonly db: Db;
  readonly driver: "postgres" | "pglite";
  /** Applies pending migrations (idempotent, safe with several instances). */
  migrate(): Promise<void>;
  ping(): Promise<void>;
  /**
   * Runs one raw statement outside any transaction as a prepared statement
   * (kept per connection, so its text is parsed and planned once), for hot
   * paths. Drizzle sends its queries unprepared, and postgres.js then asks the
   * server to describe each parameterized one first: a second round trip.
   * Rows come back as the driver gives them (timestamps may be strings).
   */
  query<T>(statement: SQL): Promise<T[]>;
  close(): Promise<void>;
}

const dialect = new PgDialect();

/** Arbitrary constant: the advisory lock that serializes migrations across instances. */
const MIGRATION_LOCK = 0x4a77e570;

export interface OpenDatabaseOptions {
  /** postgres:// URL; unset opens the embedded PGlite under dataDir. */
  url: string | undefined;
  dataDir: string;
  poolSize?: number;
}

export async function openDatabase(opts: OpenDatabaseOptions): Promise<Database> {
  return opts.url ? openPostgres(opts.url, opts.poolSize ?? 10) : openPglite(path.join(opts.dataDir, "pglite"));
}

function openPostgres(url: string, max: number): Database {
  const client = postgres(url, { max, onnotice: () => {}, connection: { application_name: "attesto" } });
  const db = drizzlePostgres(client) as unknown as Db;
  return {
    db,
    driver: "postgres",
    async migrate() {
      // A one-connection client, so the advisory lock and the migration share a session.
      const conn = postgres(url, { max: 1, onnotice: () => {} });
      try {
        await conn`SELECT pg_advisory_lock(${MIGRATION_LOCK})`;
        await migratePostgres(drizzlePostgres(conn), { migrationsFolder: migrationsFolder() });
      } finally {
        await conn.end({ timeout: 5 });
      }
    },
    async ping() {
      await db.execute(sql`SELECT 1`);
    },
    async query<T>(statement: SQL) {
      const { sql: text, params } = dialect.sqlToQuery(statement);
      return (await client.unsafe(text, params as never[], { prepare: true })) as unknown as T[];
    },
    async close() {
      await client.end({ timeout: 5 });
    },
  };
}

async function openPglite(dir: string): Promise<Database> {
  await mkdir(dir, { recursive: true });
  const client = new PGlite(dir);
  await client.waitReady;
  const db = drizzlePglite(client) as unknown as Db;
  return {
    db,
    driver: "pglite",
    // One process owns a PGlite folder, so no lock is needed.
    async migrate() {
      await migratePglite(drizzlePglite(client), { migrationsFolder: migrationsFolder() });
    },
    async ping() {
      await db.execute(sql`SELECT 1`);
    },
    async query<T>(statement: SQL) {
      const { sql: text, params } = dialect.sqlToQuery(statement);
      return (await client.query<T>(text, params)).rows;
    },
    async close() {
      await client.close();
    },
  };
}
