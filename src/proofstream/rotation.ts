import { and, eq } from "drizzle-orm";
import type { Keyring } from "../crypto/keyring.js";
import { signNoteWith, SIG_ED25519, SIG_ML_DSA_44 } from "../crypto/note-signing.js";
import type { Db } from "../db/db.js";
import { notFound } from "../errors.js";
import type { Logger } from "../logger.js";
import type { CheckpointRecord } from "./checkpoints.js";
import { getStream, type Stream } from "./streams.js";
import { formatKeyRotation } from "../verify/key-rotation.js";
import { newStreamKey, newStreamMlDsaKey, StreamKeys, type NewStreamKey } from "./keys.js";
import { verifierKeyString } from "./note.js";
import { streamKeyRotations, streamKeys, streams } from "./schema.js";

export interface KeyRotation {
  streamId: string;
  /** The new generation (1 for the first rotation). */
  generation: number;
  /** The new keys sign checkpoints of tree sizes above this. */
  takesOverAfter: number;
  /** The new verifier keys, Ed25519 first. */
  verifierKeys: string[];
  /** The signed note `attesto key-rotation v1`, by the previous and the new Ed25519 key. */
  statement: string;
  createdAt: Date;
  /** The tree size when the keys rotated: above takesOverAfter, a handover checkpoint is due now. */
  treeSize: number;
}

/**
 * Rotates a tenant's stream to new checkpoint keys, in one transaction: the
 * stream row is locked (FOR UPDATE), so no append, checkpoint or other
 * rotation of the stream commits in between; the new keys (the same
 * algorithms as the current ones) are written as the next generation, the
 * current ones retired, the statement stored, and the stream's
 * key_generation moved. Every signer's compare-and-swap checks that
 * generation, so a checkpoint signed with the old keys alone from a read
 * made before this commit is refused wherever it was signed (any process,
 * any instance): checkpoints never fork across a rotation.
 *
 * The takeover size is the size of the latest checkpoint at the rotation,
 * fixed under the lock: the old keys signed everything up to it, the next
 * checkpoint is signed by both generations and the later ones by the new
 * keys only. The caller then signs that handover checkpoint at once when the
 * tree has grown past it (KeyRotations.rotate), so that verifiers
 * who hold the old key see the handover without waiting for the next append;
 * a tree no larger than its latest checkpoint has nothing to sign (a
 * checkpoint of an existing size is never signed twice: its note is what
 * anchors committed to), and the next append's checkpoint is the handover.
 */
export async function rotateStreamKey(db: Db, keyring: Keyring, keys: StreamKeys, tenantId: string, streamId: string): Promise<KeyRotation> {
  const rotation = await db.transaction(async (tx) => {
    const [stream] = await tx
      .select()
      .from(streams)
      .where(and(eq(streams.id, streamId), eq(streams.tenantId, tenantId)))
      .for("update")
      .limit(1);
    if (!stream) throw notFound("stream");
    const current = await keys.generation(tx, stream);
    const generation = stream.keyGeneration + 1;
    const made: NewStreamKey[] = [newStreamKey(keyring, stream.id, stream.origin)];
    if (current.current.some((s) => s.type === SIG_ML_DSA_44)) made.push(newStreamMlDsaKey(keyring, stream.id, stream.origin));
    const verifierKeys = made.map((k) => verifierKeyString(stream.origin, k.publicKey, k.algorithm));
    const takesOverAfter = stream.checkpointSize;
    const text = formatKeyRotation({ origin: stream.origin, takesOverAfter, keys: verifierKeys });
    const oldEd = current.current.find((s) => s.type === SIG_ED25519)!;
    // The new key signs the statement with a signer made from its sealed seed, as every later checkpoint will be.
    const fresh = keys.signerOf(made[0]!, stream.origin);
    const statement = signNoteWith(text, [oldEd, fresh]);
    const now = new Date();
    await tx
      .update(streamKeys)
      .set({ retiredAt: now })
      .where(and(eq(streamKeys.streamId, stream.id), eq(streamKeys.generation, stream.keyGeneration)));
    await tx.insert(streamKeys).values(made.map((k) => ({ ...k, generation, createdAt: now })));
    await tx.insert(streamKeyRotations).values({ streamId: stream.id, generation, takesOverAfter, statement, createdAt: now });
    await tx.update(streams).set({ keyGeneration: generation }).where(eq(streams.id, stream.id));
    return { streamId: stream.id, generation, takesOverAfter, verifierKeys, statement, createdAt: now, treeSize: stream.treeSize + stream.unintegrated };
  });
  keys.forget(streamId);
  return rotation;
}

/**
 * RotateStreamKey: owns the process's StreamKeys (the checkpointer and the
 * commit sign with them), rotates, then signs the handover checkpoint at
 * once when the tree grew past the latest checkpoint. The rotation stands
 * when that signing fails: the periodic signer makes the handover then.
 */
export class KeyRotations {
  readonly keys: StreamKeys;

  constructor(
    private readonly deps: { db: Db; keyring: Keyring; logger: Logger },
    private readonly sign: (streamId: string) => Promise<{ checkpoint: CheckpointRecord }>,
  ) {
    this.keys = new StreamKeys(deps.keyring);
  }

  async rotate(tenantId: string, streamId: string): Promise<{ rotation: KeyRotation; stream: Stream; handover?: CheckpointRecord }> {
    const { db, keyring, logger } = this.deps;
    const rotation = await rotateStreamKey(db, keyring, this.keys, tenantId, streamId);
    let handover: CheckpointRecord | undefined;
    if (rotation.treeSize > rotation.takesOverAfter) {
      try {
        handover = (await this.sign(streamId)).checkpoint;
      } catch (err) {
        logger.warn({ err, streamId }, "the handover checkpoint after a key rotation was not signed now; the periodic signer signs it");
      }
    }
    return { rotation, stream: await getStream(db, tenantId, streamId), handover };
  }
}
