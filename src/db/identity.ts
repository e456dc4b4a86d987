import { sql } from "drizzle-orm";
import type { Db } from "./db.js";

/**
 * A name for the database this process works on, the same from every
 * instance that shares it and different for any other: the cluster's system
 * identifier (unique per initdb) and the database name. The default queue
 * prefix is made from it, so two deployments on one Redis with different
 * databases never take each other's jobs.
 */
export async function databaseIdentity(db: Db): Promise<string> {
  let cluster: string;
  try {
    const [row] = await db.execute<{ cluster: string }>(sql`SELECT system_identifier::text AS cluster FROM pg_control_system()`);
    cluster = row!.cluster;
  } catch {
    // A role that may not read the control file: the server's address names the cluster instead.
    const [row] = await db.execute<{ cluster: string | null }>(sql`SELECT inet_server_addr()::text || ':' || inet_server_port()::text AS cluster`);
    cluster = row?.cluster ?? "local";
  }
  const [{ name }] = (await db.execute<{ name: string }>(sql`SELECT current_database() AS name`)) as unknown as [{ name: string }];
  return `${cluster}-${name}`.replace(/[^A-Za-z0-9_.-]/g, "_");
}

/** The default key prefix of queues and rate limits. */
export const defaultQueuePrefix = (identity: string) => `attesto-${identity}`;
