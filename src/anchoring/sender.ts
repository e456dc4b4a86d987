import { eq } from "drizzle-orm";
import { generatePrivateKey, privateKeyToAccount, type PrivateKeyAccount } from "viem/accounts";
import type { Keyring } from "../crypto/keyring.js";
import type { Db } from "../db/db.js";
import { anchorKeys } from "./schema.js";

/** Encryption context of the generated sender key. */
export const CONTEXT = "anchor_keys.private_key";
const SLOT = "sender";

/**
 * The account that signs anchor transactions: the configured key, or else
 * one generated on first use and kept sealed with the keyring (every
 * instance reads the same row; the first insert wins).
 */
export async function senderAccount(db: Db, keyring: Keyring, configuredKey: string | undefined): Promise<PrivateKeyAccount> {
  if (configuredKey) return privateKeyToAccount(configuredKey as `0x${string}`);
  const stored = await readStored(db, keyring);
  if (stored) return stored;
  const key = generatePrivateKey();
  const account = privateKeyToAccount(key);
  await db
    .insert(anchorKeys)
    .values({ slot: SLOT, address: account.address, privateKeyEnc: keyring.encrypt(CONTEXT, key, SLOT) })
    .onConflictDoNothing();
  return (await readStored(db, keyring))!;
}

async function readStored(db: Db, keyring: Keyring): Promise<PrivateKeyAccount | undefined> {
  const [row] = await db.select().from(anchorKeys).where(eq(anchorKeys.slot, SLOT)).limit(1);
  return row ? privateKeyToAccount(keyring.decryptText(CONTEXT, row.privateKeyEnc, SLOT) as `0x${string}`) : undefined;
}
