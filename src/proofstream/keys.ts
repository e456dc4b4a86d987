import { generateKeyPairSync } from "node:crypto";
import { asc, eq } from "drizzle-orm";
import type { Keyring } from "../crypto/keyring.js";
import { ed25519FromSeed, mlDsa44FromSeed, newMlDsa44Key, SIG_ED25519, SIG_ML_DSA_44, type NoteSigner } from "../crypto/note-signing.js";
import type { Db } from "../db/db.js";
import { streamKeys } from "./schema.js";
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

/**
 * Stream keys: the current signers (decrypted once per process and kept in
 * memory; Ed25519 first, then ML-DSA-44 when the stream has one) and every
 * public key, current first then older ones.
 */
export class StreamKeys {
  readonly #signers = new Map<string, Signer[]>();

  constructor(private readonly keyring: Keyring) {}

  /** The signers when this process holds them already (a commit signs with them only then). */
  cachedSigners(streamId: string): readonly Signer[] | undefined {
    return this.#signers.get(streamId);
  }

  /** The stream's current signers, Ed25519 first: a checkpoint carries one line of each. */
  async signers(db: Db, streamId: string, origin: string): Promise<Signer[]> {
    const cached = this.#signers.get(streamId);
    if (cached) return cached;
    const rows = await db.select().from(streamKeys).where(eq(streamKeys.streamId, streamId));
    const current = rows.filter((r) => r.retiredAt === null).sort((a, b) => a.algorithm - b.algorithm);
    if (!current.some((r) => r.algorithm === SIG_ED25519)) throw new AppError("internal", `stream ${streamId} has no signing key`);
    const signers = current.map((r): Signer => {
      const seed = this.keyring.decrypt(STREAM_KEY_CONTEXT, r.privateKeyEnc, streamId);
      const type = asType(r.algorithm);
      const privateKey = type === SIG_ML_DSA_44 ? mlDsa44FromSeed(seed, r.publicKey) : ed25519FromSeed(seed);
      return { name: origin, keyId: unsignedKeyId(r.keyId), type, privateKey };
    });
    this.#signers.set(streamId, signers);
    return signers;
  }

  /**
   * Verifier keys, current first; checkpoints signed by retired keys stay
   * verifiable. `current` and `previous` are the Ed25519 keys (the ones
   * every verifier reads); `mlDsa44` is the current ML-DSA-44 key, if any.
   */
  static async verifierKeys(db: Db, streamId: string, origin: string): Promise<{ current: string; previous: string[]; mlDsa44: string; verifiers: NoteVerifier[] }> {
    const rows = await db.select().from(streamKeys).where(eq(streamKeys.streamId, streamId)).orderBy(asc(streamKeys.createdAt));
    const toVkey = (r: (typeof rows)[number]) => verifierKeyString(origin, r.publicKey, asType(r.algorithm));
    const current = rows.filter((r) => r.retiredAt === null);
    const ed = (r: (typeof rows)[number]) => r.algorithm === SIG_ED25519;
    return {
      current: current.filter(ed).map(toVkey)[0] ?? "",
      previous: rows.filter((r) => r.retiredAt !== null && ed(r)).map(toVkey),
      mlDsa44: current.filter((r) => !ed(r)).map(toVkey)[0] ?? "",
      verifiers: [...current, ...rows.filter((r) => r.retiredAt !== null)].map((r) => ({
        name: origin,
        keyId: unsignedKeyId(r.keyId),
        publicKey: r.publicKey,
        ...(ed(r) ? {} : { type: asType(r.algorithm) }),
      })),
    };
  }
}
