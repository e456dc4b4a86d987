import { createPrivateKey, createPublicKey, sign, type KeyObject } from "node:crypto";
import { cosignatureV1Message, NoteError, parseCheckpoint, SIG_COSIGNATURE_V1, SIG_ED25519, SIG_ML_DSA_44, subtreeV1Message, type SignatureType } from "../verify/note.js";

/**
 * Signing C2SP notes on the server with node:crypto (native Ed25519 and
 * ML-DSA-44): the log's Ed25519 line (0x01), its ML-DSA-44 line (0x06,
 * tlog-cosignature `subtree/v1`, as c2sp.org/tlog-checkpoint recommends),
 * and a witness's Ed25519 cosignature (0x04, `cosignature/v1`). Every
 * message is built by the verification library, so what is signed here is
 * exactly what every verifier checks.
 */

/** A signing key of one signature type, as it appears in a note's signature lines. */
export interface NoteSigner {
  name: string;
  keyId: number;
  type: SignatureType;
  privateKey: KeyObject;
}

const ED25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

export const ed25519FromSeed = (seed: Uint8Array) => createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" });

/** Raw 32-byte Ed25519 public key of a KeyObject. */
export function ed25519RawPublic(key: KeyObject): Buffer {
  const der = (key.type === "private" ? createPublicKey(key) : key).export({ format: "der", type: "spki" });
  return Buffer.from(der.subarray(ED25519_SPKI_PREFIX.length));
}

/** An ML-DSA-44 private key from its 32-byte FIPS 204 seed (the form @noble/post-quantum's keygen(seed) takes too). */
export function mlDsa44FromSeed(seed: Uint8Array, publicKey: Uint8Array): KeyObject {
  return createPrivateKey({ key: { kty: "AKP", alg: "ML-DSA-44", pub: Buffer.from(publicKey).toString("base64url"), priv: Buffer.from(seed).toString("base64url") }, format: "jwk" });
}

/** A fresh ML-DSA-44 key pair: its 32-byte seed and 1312-byte public key. */
export function newMlDsa44Key(generate: () => { privateKey: KeyObject }): { seed: Buffer; publicKey: Buffer } {
  const jwk = generate().privateKey.export({ format: "jwk" });
  return { seed: Buffer.from(jwk.priv as string, "base64url"), publicKey: Buffer.from(jwk.pub as string, "base64url") };
}

const u64 = (value: number) => {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(BigInt(value));
  return out;
};

/** The signature bytes (without the key id) of `text` by `signer`; `timestamp` (POSIX seconds) for the timestamped types. */
export function noteSignature(text: string, signer: NoteSigner, timestamp = Math.floor(Date.now() / 1000)): Buffer {
  if (signer.type === SIG_ED25519) return sign(null, Buffer.from(text, "utf8"), signer.privateKey);
  if (signer.type === SIG_COSIGNATURE_V1) return Buffer.concat([u64(timestamp), sign(null, cosignatureV1Message(text, timestamp), signer.privateKey)]);
  return Buffer.concat([u64(timestamp), sign(null, subtreeV1Message(signer.name, timestamp, parseCheckpoint(text)), signer.privateKey)]);
}

/** One note signature line, `— <name> base64(key id || signature)\n`. */
export function signatureLine(text: string, signer: NoteSigner, timestamp?: number): string {
  if (!text.endsWith("\n")) throw new NoteError("note text must end with a newline");
  const idBytes = Buffer.alloc(4);
  idBytes.writeUInt32BE(signer.keyId >>> 0);
  return `— ${signer.name} ${Buffer.concat([idBytes, noteSignature(text, signer, timestamp)]).toString("base64")}\n`;
}

/** `text` signed by every signer, in order: a note with one line each. */
export function signNoteWith(text: string, signers: readonly NoteSigner[], timestamp?: number): string {
  return `${text}\n${signers.map((s) => signatureLine(text, s, timestamp)).join("")}`;
}

export { SIG_COSIGNATURE_V1, SIG_ED25519, SIG_ML_DSA_44 };
