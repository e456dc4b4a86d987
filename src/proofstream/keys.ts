import { generateKeyPairSync } from "node:crypto";
import { and, asc, eq, inArray } from "drizzle-orm";
import type { Keyring } from "../crypto/keyring.js";
import { ed25519FromSeed, mlDsa44FromSeed, newMlDsa44Key, SIG_ED25519, SIG_ML_DSA_44, type NoteSigner } from "../crypto/note-signing.js";
import type { Db } from "../db/db.js";
import { streamKeyRotations, streamKeys } from "./schema.js";
import { AppError } from "../errors.js";
import { keyId, verifierKeyString, type NoteVerifier, type SignatureType } from "./note.js";

export const STREAM_KEY_CONTEXT = "stream_keys.private_key";

/** A checkpoint signing key of a stream. */
export type Signer = NoteSigner;

/** A new key row: its id, signature type, public key and sealed seed. */
export interface NewStreamKey {
  streamId: string;
  keyId: number;
  algorithm: SignatureType;
  publicKey: Buffer;
  privateKeyEnc: Buffer;
}

/** A fresh Ed25519 checkpoint key for a stream, its seed sealed to the stream. */
export function newStreamKey(keyring: Keyring, streamId: string, origin: string): NewStreamKey {
  // The JWK form holds the raw seed and public key: one export instead of a DER export and a public-key derivation.
  const jwk = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });
  const seed = Buffer.from(jwk.d!, "base64url");
  const publicKey = Buffer.from(jwk.x!, "base64url");
  return { streamId, keyId: keyId(origin, publicKey) | 0, algorithm: SIG_ED25519, publicKey, privateKeyEnc: keyring.encrypt(STREAM_KEY_CONTEXT, seed, streamId) };
}

/** A fresh ML-DSA-44 checkpoint key (node:crypto, native), its 32-byte FIPS 204 seed sealed to the stream. */
export function newStreamMlDsaKey(keyring: Keyring, streamId: string, origin: string): NewStreamKey {
  const { seed, publicKey } = newMlDsa44Key(() => generateKeyPairSync("ml-dsa-44"));
  return { streamId, keyId: keyId(origin, publicKey, SIG_ML_DSA_44) | 0, algorithm: SIG_ML_DSA_44, publicKey, privateKeyEnc: keyring.encrypt(STREAM_KEY_CONTEXT, seed, streamId) };
}

/** Unsigned key id, as it appears in notes and verifier keys. */
export const unsignedKeyId = (stored: number) => stored >>> 0;

const asType = (algorithm: number): SignatureType => (algorithm === SIG_ML_DSA_44 ? SIG_ML_DSA_44 : SIG_ED25519);

type KeyRow = typeof streamKeys.$inferSelect;

/**
 * The keys of one generation and what signs a checkpoint with them. A
 * checkpoint replacing the one of size `checkpointSize` is signed by the
 * generation's keys, and also by the previous generation's while
 * `checkpointSize` is at most the takeover size (the handover checkpoint:
 * the first one after a rotation, which verifiers holding the old key check).
 */
export class KeyGeneration {
  constructor(
    readonly generation: number,
    readonly current: readonly Signer[],
    readonly previous: readonly Signer[],
    readonly takesOverAfter: number,
  ) {}

  /** Whether the checkpoint after one of size `checkpointSize` is the handover checkpoint. */
  handover(checkpointSize: number): boolean {
    return this.previous.length > 0 && checkpointSize <= this.takesOverAfter;
  }

  /** The signers of the checkpoint after one of size `checkpointSize`: the new keys' lines first (they name the checkpoint), then the old ones'. */
  signersAfter(checkpointSize: number): readonly Signer[] {
    return this.handover(checkpointSize) ? [...this.current, ...this.previous] : this.current;
  }
}

/**
 * Stream keys: the signers of a stream's current key generation (decrypted
 * once per process and kept in memory; Ed25519 first, then ML-DSA-44 when
 * the stream has one) and every public key, current first then older ones.
 */
export class StreamKeys {
  readonly #generations = new Map<string, { keys: KeyGeneration; settled: boolean }>();

  constructor(private readonly keyring: Keyring) {}

  /**
   * The signers a commit may sign with, when this process holds them and
   * the stream is past its last handover (the commit cannot tell the
   * handover checkpoint from the others; the Checkpointer signs that one).
   * The commit's compare-and-swap checks the generation.
   */
  cachedSigners(streamId: string): { generation: number; signers: readonly Signer[] } | undefined {
    const cached = this.#generations.get(streamId);
    return cached?.settled ? { generation: cached.keys.generation, signers: cached.keys.current } : undefined;
  }

  /** Drops what this process holds for a stream (after a rotation, or a commit that found another generation). */
  forget(streamId: string): void {
    this.#generations.delete(streamId);
  }

  /**
   * The keys of the stream's generation `generation` (read from the stream
   * row by the caller, whose compare-and-swap checks it): a generation's
   * keys never change once written, so what is read here matches it.
   * `checkpointSize` (of the same read) tells whether the handover is done.
   */
  async generation(db: Db, stream: { id: string; origin: string; keyGeneration: number; checkpointSize: number }): Promise<KeyGeneration> {
    const cached = this.#generations.get(stream.id);
    if (cached && cached.keys.generation === stream.keyGeneration) {
      if (!cached.keys.handover(stream.checkpointSize)) cached.settled = true;
      return cached.keys;
    }
    const g = stream.keyGeneration;
    const [rows, [rotation]] = await Promise.all([
      db
        .select()
        .from(streamKeys)
        .where(and(eq(streamKeys.streamId, stream.id), inArray(streamKeys.generation, g > 0 ? [g, g - 1] : [g]))),
      g > 0
        ? db
            .select()
            .from(streamKeyRotations)
            .where(and(eq(streamKeyRotations.streamId, stream.id), eq(streamKeyRotations.generation, g)))
        : Promise.resolve([]),
    ]);
    // A generation's keys by generation alone, retired or not: a read of the stream made just before a rotation
    // committed still signs (and its compare-and-swap then fails). One key per algorithm, an unretired one first.
    const signersOf = (gen: number) =>
      rows
        .filter((r) => r.generation === gen)
        .sort((a, b) => Number(a.retiredAt !== null) - Number(b.retiredAt !== null))
        .filter((r, i, all) => all.findIndex((o) => o.algorithm === r.algorithm) === i)
        .sort((a, b) => a.algorithm - b.algorithm)
        .map((r) => this.signerOf(r, stream.origin));
    const current = signersOf(g);
    if (current[0]?.type !== SIG_ED25519) throw new AppError("internal", `stream ${stream.id} has no signing key`);
    const keys = new KeyGeneration(g, current, g > 0 ? signersOf(g - 1) : [], rotation?.takesOverAfter ?? 0);
    this.#generations.set(stream.id, { keys, settled: !keys.handover(stream.checkpointSize) });
    return keys;
  }

  /** Marks a stream's handover done once a checkpoint past it is stored (the commit may sign again). */
  settled(streamId: string, generation: number): void {
    const cached = this.#generations.get(streamId);
    if (cached?.keys.generation === generation) cached.settled = true;
  }

  /** The signer of a key row (its seed unsealed). */
  signerOf(r: Pick<KeyRow, "streamId" | "keyId" | "algorithm" | "publicKey" | "privateKeyEnc">, origin: string): Signer {
    const seed = this.keyring.decrypt(STREAM_KEY_CONTEXT, r.privateKeyEnc, r.streamId);
    const type = asType(r.algorithm);
    const privateKey = type === SIG_ML_DSA_44 ? mlDsa44FromSeed(seed, r.publicKey) : ed25519FromSeed(seed);
    return { name: origin, keyId: unsignedKeyId(r.keyId), type, privateKey };
  }

  /** Every key row of a stream: oldest generation first, Ed25519 before ML-DSA-44 within one. */
  static #rows(db: Db, streamId: string): Promise<KeyRow[]> {
    return db.select().from(streamKeys).where(eq(streamKeys.streamId, streamId)).orderBy(asc(streamKeys.generation), asc(streamKeys.algorithm), asc(streamKeys.createdAt));
  }

  /** Note verifiers of every key the stream has had, current first: checkpoints signed by retired keys stay verifiable. */
  static async noteVerifiers(db: Db, streamId: string, origin: string): Promise<NoteVerifier[]> {
    return noteVerifiersOf(await StreamKeys.#rows(db, streamId), origin);
  }

  /**
   * Verifier keys, current first; checkpoints signed by retired keys stay
   * verifiable. `current` and `previous` are the Ed25519 keys (the ones
   * every verifier reads); `mlDsa44` is the current ML-DSA-44 key, if any;
   * `history` every key with its generation's takeover size and statement, oldest first.
   */
  static async verifierKeys(
    db: Db,
    streamId: string,
    origin: string,
  ): Promise<{ current: string; previous: string[]; mlDsa44: string; verifiers: NoteVerifier[]; history: StreamKeyHistoryEntry[]; rotations: KeyRotationRecord[] }> {
    // Two reads, one round trip: the pool runs them side by side.
    const [rows, rotations] = await Promise.all([
      StreamKeys.#rows(db, streamId),
      db.select().from(streamKeyRotations).where(eq(streamKeyRotations.streamId, streamId)).orderBy(asc(streamKeyRotations.generation)),
    ]);
    const toVkey = (r: KeyRow) => verifierKeyString(origin, r.publicKey, asType(r.algorithm));
    const current = rows.filter((r) => r.retiredAt === null);
    const ed = (r: KeyRow) => r.algorithm === SIG_ED25519;
    const rotationOf = new Map(rotations.map((r) => [r.generation, r]));
    return {
      current: current.filter(ed).map(toVkey)[0] ?? "",
      previous: rows.filter((r) => r.retiredAt !== null && ed(r)).map(toVkey),
      mlDsa44: current.filter((r) => !ed(r)).map(toVkey)[0] ?? "",
      verifiers: noteVerifiersOf(rows, origin),
      history: rows.map((r) => ({
        verifierKey: toVkey(r),
        algorithm: algorithmName(r.algorithm),
        generation: r.generation,
        takesOverAfter: rotationOf.get(r.generation)?.takesOverAfter ?? 0,
        createdAt: r.createdAt,
        retiredAt: r.retiredAt,
        rotationStatement: rotationOf.get(r.generation)?.statement ?? "",
      })),
      rotations: rotations.map((r) => ({ generation: r.generation, takesOverAfter: r.takesOverAfter, statement: r.statement, createdAt: r.createdAt })),
    };
  }
}

/** The name a key's algorithm has in the key history. */
export const algorithmName = (algorithm: number): StreamKeyHistoryEntry["algorithm"] => (algorithm === SIG_ED25519 ? "ed25519" : "ml-dsa-44");

/** Current keys first, then retired ones newest first. */
function noteVerifiersOf(rows: readonly KeyRow[], origin: string): NoteVerifier[] {
  const retired = rows.filter((r) => r.retiredAt !== null).reverse();
  return [...rows.filter((r) => r.retiredAt === null), ...retired].map((r) => ({
    name: origin,
    keyId: unsignedKeyId(r.keyId),
    publicKey: r.publicKey,
    ...(r.algorithm === SIG_ED25519 ? {} : { type: asType(r.algorithm) }),
  }));
}

/** One key of a stream's history. */
export interface StreamKeyHistoryEntry {
  verifierKey: string;
  algorithm: "ed25519" | "ml-dsa-44";
  /** 0 for the stream's first keys, one more per rotation. */
  generation: number;
  /** The key signs checkpoints of tree sizes above this (0 for the first keys: every checkpoint). */
  takesOverAfter: number;
  createdAt: Date;
  retiredAt: Date | null;
  /** The rotation statement that introduced the key; empty for the first keys. */
  rotationStatement: string;
}

export interface KeyRotationRecord {
  generation: number;
  takesOverAfter: number;
  statement: string;
  createdAt: Date;
}
