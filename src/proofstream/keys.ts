import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { asc, eq } from "drizzle-orm";
import type { Keyring } from "../crypto/keyring.js";
import type { Db } from "../db/db.js";
import { streamKeys } from "./schema.js";
import { AppError } from "../errors.js";
import { keyId, privateKeyFromSeed, verifierKeyString, type NoteVerifier } from "./note.js";

export const STREAM_KEY_CONTEXT = "stream_keys.private_key";

export interface Signer {
  name: string;
  keyId: number;
  privateKey: KeyObject;
}

/** A fresh Ed25519 checkpoint key for a stream, its seed sealed to the stream. */
export function newStreamKey(keyring: Keyring, streamId: string, origin: string) {
  // The JWK form holds the raw seed and public key: one export instead of a DER export and a public-key derivation.
  const jwk = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });
  const seed = Buffer.from(jwk.d!, "base64url");
  const publicKey = Buffer.from(jwk.x!, "base64url");
  return {
    streamId,
    keyId: keyId(origin, publicKey) | 0,
    publicKey,
    privateKeyEnc: keyring.encrypt(STREAM_KEY_CONTEXT, seed, streamId),
  };
}

/** Unsigned key id, as it appears in notes and verifier keys. */
export const unsignedKeyId = (stored: number) => stored >>> 0;

/**
 * Stream keys: the current signer (decrypted once per process and kept in
 * memory) and every public key, current first then older ones.
 */
export class StreamKeys {
  readonly #signers = new Map<string, Signer>();

  constructor(private readonly keyring: Keyring) {}

  async signer(db: Db, streamId: string, origin: string): Promise<Signer> {
    const cached = this.#signers.get(streamId);
    if (cached) return cached;
    const rows = await db.select().from(streamKeys).where(eq(streamKeys.streamId, streamId));
    const current = rows.find((r) => r.retiredAt === null);
    if (!current) throw new AppError("internal", `stream ${streamId} has no signing key`);
    const seed = this.keyring.decrypt(STREAM_KEY_CONTEXT, current.privateKeyEnc, streamId);
    const signer = { name: origin, keyId: unsignedKeyId(current.keyId), privateKey: privateKeyFromSeed(seed) };
    this.#signers.set(streamId, signer);
    return signer;
  }

  /** Verifier keys, current first; checkpoints signed by retired keys stay verifiable. */
  static async verifierKeys(db: Db, streamId: string, origin: string): Promise<{ current: string; previous: string[]; verifiers: NoteVerifier[] }> {
    const rows = await db.select().from(streamKeys).where(eq(streamKeys.streamId, streamId)).orderBy(asc(streamKeys.createdAt));
    const current = rows.filter((r) => r.retiredAt === null);
    const previous = rows.filter((r) => r.retiredAt !== null);
    const toVkey = (r: (typeof rows)[number]) => verifierKeyString(origin, r.publicKey);
    return {
      current: current.map(toVkey)[0] ?? "",
      previous: previous.map(toVkey),
      verifiers: [...current, ...previous].map((r) => ({ name: origin, keyId: unsignedKeyId(r.keyId), publicKey: r.publicKey })),
    };
  }
}
