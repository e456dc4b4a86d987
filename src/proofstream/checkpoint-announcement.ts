import type { Broadcast } from "../infra/broadcast.js";
import { AnnouncementPacer } from "./announcement-pacer.js";
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

/**
 * How long other instances may hear of a stream's newest checkpoint after
 * this one signed it, when checkpoints come faster than that (receipts at
 * write time sign one per commit): AnnouncementPacer.
 */
const ANNOUNCE_WINDOW_MS = 20;

/** What takes announced checkpoints in: the stream heads' cache. */
interface AnnouncedCheckpoints {
  announced(checkpoint: CheckpointRecord): void;
  clear(): void;
}

/**
 * Both sides of the channel for one process: a checkpoint signed or changed
 * here goes into this process's cache at once and out to the others paced;
 * those the others announce come into the cache; after a lost subscription
 * the cache forgets (announcements may have been missed).
 */
export class CheckpointAnnouncements {
  readonly #pacer: AnnouncementPacer;

  constructor(
    private readonly broadcast: Broadcast | undefined,
    private readonly cache: AnnouncedCheckpoints,
  ) {
    this.#pacer = new AnnouncementPacer((c) => broadcast?.publish(CHECKPOINT_ANNOUNCED_CHANNEL, encodeCheckpointAnnouncement(c)), ANNOUNCE_WINDOW_MS);
  }

  announce(checkpoint: CheckpointRecord): void {
    this.cache.announced(checkpoint);
    this.#pacer.announce(checkpoint);
  }

  async start(): Promise<void> {
    await this.broadcast?.subscribe(
      CHECKPOINT_ANNOUNCED_CHANNEL,
      (message) => {
        const checkpoint = decodeCheckpointAnnouncement(message);
        if (checkpoint) this.cache.announced(checkpoint);
      },
      () => this.cache.clear(),
    );
  }

  close(): void {
    this.#pacer.close();
  }
}
