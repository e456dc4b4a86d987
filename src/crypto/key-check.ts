import { eq, sql } from "drizzle-orm";
import type { Config } from "../config.js";
import type { Db } from "../db/db.js";
import type { Logger } from "../logger.js";
import { Keyring } from "./keyring.js";
import { loadMasterKey, parseMasterKey } from "./master-key.js";
import { masterKeyCheck } from "./schema.js";

const SLOT = "master";

/** The fingerprint `attesto reseal` recorded, if it ever ran on this database. */
export async function recordedFingerprint(db: Db): Promise<string | undefined> {
  const [row] = await db.select({ fingerprint: masterKeyCheck.fingerprint }).from(masterKeyCheck).where(eq(masterKeyCheck.slot, SLOT));
  return row?.fingerprint;
}

/** Records the key every stored secret is now sealed with (inside the re-seal's transaction). */
export async function recordFingerprint(db: Db, fingerprint: string): Promise<void> {
  await db
    .insert(masterKeyCheck)
    .values({ slot: SLOT, fingerprint })
    .onConflictDoUpdate({ target: masterKeyCheck.slot, set: { fingerprint, updatedAt: sql`now()` } });
}

/**
 * Refuses keys that are not the ones the database's secrets are sealed with,
 * once `attesto reseal` has recorded that key: the current key, or the
 * previous one during a rotation. Without a record (never re-sealed) there
 * is nothing to compare, and a wrong key shows when a secret is opened.
 */
export async function checkMasterKey(db: Db, keyring: Keyring, logger: Logger): Promise<void> {
  const recorded = await recordedFingerprint(db);
  if (recorded === undefined) return;
  const current = keyring.fingerprint();
  const previous = keyring.previousFingerprint();
  if (recorded === current) {
    if (previous) logger.warn({ key: current }, "ATTESTO_OLD_ENCRYPTION_KEY is set, but every stored secret is sealed with ATTESTO_ENCRYPTION_KEY (attesto reseal ran): remove it");
    return;
  }
  if (recorded === previous) {
    logger.warn(
      { key: current, oldKey: previous },
      "rotating the encryption key: secrets sealed with ATTESTO_OLD_ENCRYPTION_KEY still open; run attesto reseal, then remove ATTESTO_OLD_ENCRYPTION_KEY",
    );
    return;
  }
  throw new Error(
    `ATTESTO_ENCRYPTION_KEY (fingerprint ${current}${previous ? `; ATTESTO_OLD_ENCRYPTION_KEY ${previous}` : ""}) is not the key this database's secrets are sealed with ` +
      `(fingerprint ${recorded}, recorded by attesto reseal): start with the key they were re-sealed to`,
  );
}

/**
 * The keyring of a process on the configured database: ATTESTO_ENCRYPTION_KEY
 * (or the embedded default's development key), with ATTESTO_OLD_ENCRYPTION_KEY
 * as the previous key during a rotation, checked against the database.
 */
export async function openKeyring(config: Pick<Config, "encryptionKey" | "oldEncryptionKey" | "dataDir" | "databaseUrl">, db: Db, logger: Logger): Promise<Keyring> {
  const master = await loadMasterKey({ encryptionKey: config.encryptionKey, dataDir: config.dataDir, embedded: !config.databaseUrl, logger });
  const previous = config.oldEncryptionKey ? parseMasterKey(config.oldEncryptionKey, "ATTESTO_OLD_ENCRYPTION_KEY") : undefined;
  const keyring = new Keyring(master, previous);
  await checkMasterKey(db, keyring, logger);
  return keyring;
}
