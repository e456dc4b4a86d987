import { createHash } from "node:crypto";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, inject } from "vitest";
import { openDatabase, type Database, type Db } from "../../src/db/db.js";
import { streamKeys } from "../../src/proofstream/schema.js";
import type { Keyring } from "../../src/crypto/keyring.js";
import { STREAM_KEY_CONTEXT } from "../../src/proofstream/keys.js";
import { keyId, privateKeyFromSeed, rawPublicKey } from "../../src/proofstream/note.js";

export const appendRequest = (streamId: string, sourceRef: string, payload: Record<string, unknown> = { n: sourceRef }, occurredAt = new Date("2026-06-07T12:00:00Z")) => ({
  streamId,
  sourceRef,
  eventType: "source.observation",
  occurredAt: timestampFromDate(occurredAt),
  payload: payload as never,
});

/** RFC 9162 root computed the slow, obvious way. */
export function referenceRoot(leafHashes: Uint8Array[]): Buffer {
  const mth = (lo: number, hi: number): Buffer => {
    const n = hi - lo;
    if (n === 0) return createHash("sha256").digest();
    if (n === 1) return Buffer.from(leafHashes[lo]!);
    let k = 1;
    while (k * 2 < n) k *= 2;
    return createHash("sha256")
      .update(Buffer.from([1]))
      .update(mth(lo, lo + k))
      .update(mth(lo + k, hi))
      .digest();
  };
  return mth(0, leafHashes.length);
}

/** The stream's signing key, read the way only an insider could: to forge fork evidence in tests. */
export async function stolenSigner(db: Db, keyring: Keyring, streamId: string, origin: string) {
  const [row] = await db.select().from(streamKeys).where(eq(streamKeys.streamId, streamId));
  const privateKey = privateKeyFromSeed(keyring.decrypt(STREAM_KEY_CONTEXT, row!.privateKeyEnc, streamId));
  return { name: origin, keyId: keyId(origin, rawPublicKey(privateKey)), privateKey };
}

/** The suite's shared test database, migrated before its tests and closed after them: `database()` inside a test. */
export function suiteDatabase(poolSize = 4): () => Database {
  let database: Database | undefined;
  beforeAll(async () => {
    database = openDatabase({ url: inject("databaseUrl"), poolSize });
    await database.migrate();
  });
  afterAll(() => database?.close());
  return () => database!;
}
