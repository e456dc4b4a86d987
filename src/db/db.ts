import { sql, type SQL } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import { drizzle, type PostgresJsDatabase } from "drizzle-orm/postgres-js";
import { migrate as migratePostgres } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { migrationsFolder, projectRoot } from "../paths.js";
import { MIGRATIONS_JOURNAL, missingRunTimeFiles } from "../run-time-files.js";
import { preparing } from "./prepared.js";
import { traceStatements } from "./statement-spans.js";

/**
 * The Drizzle handle (postgres.js, the one driver). It carries no schema:
 * each domain module declares its tables in its own schema.ts and queries
 * them with the SQL-like builder (no relational query API, whose per-query
 * overhead the hot paths cannot afford).
 */
export type Db = PostgresJsDatabase;

export interface Database {
  readonly db: Db;
  /** Applies pending migrations (idempotent, safe with several instances). */
  migrate(): Promise<void>;
  ping(): Promise<void>;
  /**
   * Runs one raw statement outside any transaction as a prepared statement
   * (kept per connection, so its text is parsed and planned once), without
   * Drizzle's result mapping. Drizzle's own queries are prepared too (its
   * client is wrapped by `preparing`).
   */
  query<T>(statement: SQL): Promise<T[]>;
  close(): Promise<void>;
}

const dialect = new PgDialect();

/** Arbitrary constant: the advisory lock that serializes migrations across instances. */
const MIGRATION_LOCK = 0x4a77e570;

export interface OpenDatabaseOptions {
  /** postgres:// URL. */
  url: string;
  poolSize?: number;
  /** Opening a connection gives up after this long (a stopped or unreachable database answers fast). */
  connectTimeoutMs?: number;
  /** statement_timeout of every pooled session; 0 or unset: none. */
  statementTimeoutMs?: number;
  /**
   * Told the text of each statement sent (postgres.js's `debug`): how a test
   * sees that a path sends none. For tests only: it also makes postgres.js
   * errors carry their statement and parameters.
   */
  onStatement?: (text: string) => void;
}

/**
 * How long a pooled connection waits before reconnecting, by failures in a
 * row. postgres.js waits up to 20 s by default, and every query queued for
 * that connection waits with it: during an outage requests hung instead of
 * answering UNAVAILABLE. A quarter second at most: a query then meets the
 * outage (connection refused) and fails fast, and a database that is back
 * is used within 250 ms.
 */
export const reconnectDelaySeconds = (failures: number) => Math.min(0.25, 0.01 * 2 ** failures);

export function openDatabase(opts: OpenDatabaseOptions): Database {
  const { url } = opts;
  const client = postgres(url, {
    max: opts.poolSize ?? 10,
    onnotice: () => {},
    connect_timeout: (opts.connectTimeoutMs ?? 30_000) / 1000,
    backoff: reconnectDelaySeconds,
    connection: { application_name: "attesto", ...(opts.statementTimeoutMs ? { statement_timeout: opts.statementTimeoutMs } : {}) },
    ...(opts.onStatement ? { debug: (_connection: number, text: string) => opts.onStatement!(text) } : {}),
  });
  traceStatements(client);
  // Every Drizzle statement prepared (one round trip, parsed once per connection): see prepared.ts.
  const db = drizzle(preparing(client));
  return {
    db,
    async migrate() {
      const missing = missingRunTimeFiles([MIGRATIONS_JOURNAL], projectRoot());
      if (missing) throw new Error(missing);
      // A one-connection client, so the advisory lock and the migration share a session.
      const conn = postgres(url, { max: 1, onnotice: () => {} });
      try {
        await conn`SELECT pg_advisory_lock(${MIGRATION_LOCK})`;
        await migratePostgres(drizzle(conn), { migrationsFolder: migrationsFolder() });
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
