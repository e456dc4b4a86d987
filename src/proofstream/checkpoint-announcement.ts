import { withCosignatures, type CheckpointRecord } from "./checkpoints.js";

/**
 * The broadcast channel on which a signed checkpoint is announced to every
 * instance: by its signer as soon as it committed, and again by whoever
 * changes it later (cosignatures added to its note), so each instance's
 * proof path takes it as the stream's latest without a read.
 */
export const CHECKPOINT_ANNOUNCED_CHANNEL = "attesto:proofstream:checkpoint";

/** The whole record, so a receiver needs no read to prove against it. */
export function encodeCheckpointAnnouncement(c: CheckpointRecord): string {
  return JSON.stringify({
    streamId: c.streamId,
    treeSize: c.treeSize,
    rootHash: c.rootHash.toString("hex"),
    note: c.logNote,
    cosignatures: c.cosignatures,
    cosignatureCount: c.cosignatureCount,
    witnessedAt: c.witnessedAt?.toISOString() ?? null,
    timestampToken: c.timestampToken?.toString("base64") ?? null,
    timestampedAt: c.timestampedAt?.toISOString() ?? null,
    keyId: c.keyId,
    signedAt: c.signedAt.toISOString(),
  });
}

/** The record of an announcement; undefined for anything that is not one (the message is dropped). */
export function decodeCheckpointAnnouncement(message: string): CheckpointRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const { streamId, treeSize, rootHash, note, cosignatures, cosignatureCount, witnessedAt, keyId, signedAt } = value as Record<string, unknown>;
  // An instance of an earlier version announces no timestamp: read as none yet.
  const { timestampToken = null, timestampedAt = null } = value as Record<string, unknown>;
  if ((timestampToken !== null && typeof timestampToken !== "string") || (timestampedAt !== null && typeof timestampedAt !== "string")) return undefined;
  const timestamped = timestampedAt === null ? null : new Date(timestampedAt);
  if (timestamped && Number.isNaN(timestamped.getTime())) return undefined;
  if (typeof streamId !== "string" || typeof note !== "string" || typeof rootHash !== "string" || typeof signedAt !== "string" || typeof cosignatures !== "string") return undefined;
  if (!Number.isSafeInteger(cosignatureCount) || (cosignatureCount as number) < 0 || (witnessedAt !== null && typeof witnessedAt !== "string")) return undefined;
  const witnessed = witnessedAt === null ? null : new Date(witnessedAt);
  if (witnessed && Number.isNaN(witnessed.getTime())) return undefined;
  if (!Number.isSafeInteger(treeSize) || (treeSize as number) < 1 || !Number.isSafeInteger(keyId)) return undefined;
  if (!/^[0-9a-f]{64}$/.test(rootHash)) return undefined;
  const at = new Date(signedAt);
  if (Number.isNaN(at.getTime())) return undefined;
  const row = {
    streamId,
    treeSize: treeSize as number,
    rootHash: Buffer.from(rootHash, "hex"),
    note,
    cosignatures,
    cosignatureCount: cosignatureCount as number,
    witnessedAt: witnessed,
    timestampToken: timestampToken === null ? null : Buffer.from(timestampToken, "base64"),
    timestampedAt: timestamped,
    keyId: keyId as number,
    signedAt: at,
  };
  return withCosignatures(row);
}
