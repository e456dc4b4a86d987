import { and, eq, getTableColumns, getTableName, sql } from "drizzle-orm";
import type { PgColumn, PgTable } from "drizzle-orm/pg-core";
import type { Db } from "../db/db.js";
import type { Keyring } from "./keyring.js";
import { recordFingerprint, recordedFingerprint } from "./key-check.js";

/**
 * Where a domain keeps values sealed with the keyring: its table, the
 * sealed columns with their encryption context, and the columns whose
 * values, joined by "/", are the associated data each value was sealed with.
 * Each domain declares its own (`sealedColumns` in its module.ts).
 */
export interface SealedColumns {
  table: PgTable;
  /** The primary key: rows are read in its order, in batches, and updated by it. */
  key: PgColumn[];
  sealed: Array<{ column: PgColumn; context: string }>;
  aad: PgColumn[];
}

/** What a re-seal did to one table. */
export interface ResealCount {
  table: string;
  rows: number;
  /** Values opened with the old key and sealed again with the new one. */
  resealed: number;
  /** Values that already opened with the new key (an earlier run, or a server in a rotation wrote them). */
  already: number;
}

/** A value that opens with neither key; the message names the row by its key, never a value. */
export class ResealRefused extends Error {}

/** Rolls a dry run's transaction back. */
class DryRun extends Error {
  constructor(readonly counts: ResealCount[]) {
    super("dry run");
  }
}

const BATCH_ROWS = 500;

/**
 * Re-seals every value of `all` from the `old` master key to `next`, in one
 * transaction: the rows are locked as they are read, a value that already
 * opens with the new key is left as it is (so a second run, or one after
 * servers in a rotation wrote new values, changes nothing more), and a value
 * that opens with neither key rolls everything back. The new key's
 * fingerprint is recorded in the same commit (key-check.ts). `dryRun` counts
 * the same and rolls back.
 */
export async function resealAll(db: Db, keys: { old: Keyring; next: Keyring }, all: SealedColumns[], opts: { dryRun?: boolean } = {}): Promise<ResealCount[]> {
  const oldFingerprint = keys.old.fingerprint();
  const newFingerprint = keys.next.fingerprint();
  if (oldFingerprint === newFingerprint) throw new ResealRefused("ATTESTO_OLD_ENCRYPTION_KEY and ATTESTO_ENCRYPTION_KEY are the same key");
  const recorded = await recordedFingerprint(db);
  if (recorded !== undefined && recorded !== oldFingerprint && recorded !== newFingerprint) {
    throw new ResealRefused(
      `the database's secrets were last re-sealed to the key with fingerprint ${recorded}: neither ATTESTO_OLD_ENCRYPTION_KEY (${oldFingerprint}) nor ATTESTO_ENCRYPTION_KEY (${newFingerprint})`,
    );
  }
  try {
    return await db.transaction(async (tx) => {
      const counts: ResealCount[] = [];
      for (const sealed of all) counts.push(await resealTable(tx as unknown as Db, keys, sealed));
      await recordFingerprint(tx as unknown as Db, newFingerprint);
      if (opts.dryRun) throw new DryRun(counts);
      return counts;
    });
  } catch (err) {
    if (err instanceof DryRun) return err.counts;
    throw err;
  }
}

async function resealTable(tx: Db, { old, next }: { old: Keyring; next: Keyring }, s: SealedColumns): Promise<ResealCount> {
  const name = getTableName(s.table);
  const count: ResealCount = { table: name, rows: 0, resealed: 0, already: 0 };
  // The property of each column in the table's object (what update().set() takes).
  const property = new Map<PgColumn, string>(Object.entries(getTableColumns(s.table)).map(([prop, column]) => [column as PgColumn, prop]));
  const columns = [...new Set([...s.key, ...s.sealed.map((x) => x.column), ...s.aad])];
  const fields = Object.fromEntries(columns.map((c) => [c.name, c]));
  const keyList = sql.join(s.key, sql`, `);
  let after: unknown[] | undefined;
  for (;;) {
    const rows = (await tx
      .select(fields)
      .from(s.table)
      .where(
        after
          ? sql`(${keyList}) > (${sql.join(
              after.map((v) => sql`${v}`),
              sql`, `,
            )})`
          : undefined,
      )
      .orderBy(...s.key)
      .limit(BATCH_ROWS)
      .for("update")) as Array<Record<string, unknown>>;
    for (const row of rows) {
      count.rows++;
      const aad = s.aad.map((c) => String(row[c.name])).join("/");
      const set: Record<string, Buffer> = {};
      for (const { column, context } of s.sealed) {
        const value = row[column.name] as Buffer | null;
        if (!value) continue;
        if (next.opens(context, value, aad)) {
          count.already++;
          continue;
        }
        if (!old.opens(context, value, aad)) {
          const where = s.key.map((c) => `${c.name} ${String(row[c.name])}`).join(", ");
          throw new ResealRefused(`${name}.${column.name} of the row with ${where} opens with neither ATTESTO_OLD_ENCRYPTION_KEY nor ATTESTO_ENCRYPTION_KEY: nothing was changed`);
        }
        set[property.get(column)!] = next.encrypt(context, old.decrypt(context, value, aad), aad);
        count.resealed++;
      }
      if (Object.keys(set).length > 0) {
        await tx
          .update(s.table)
          .set(set)
          .where(and(...s.key.map((c) => eq(c, row[c.name]))));
      }
    }
    if (rows.length < BATCH_ROWS) return count;
    after = s.key.map((c) => rows[rows.length - 1]![c.name]);
  }
}
