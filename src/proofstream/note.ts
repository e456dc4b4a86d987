import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from "node:crypto";

/**
 * C2SP signed-note (Ed25519, algorithm 0x01) and tlog-checkpoint: the exact
 * byte formats that golang.org/x/mod/sumdb/note and the transparency
 * ecosystem read.
 */

const ALG_ED25519 = 0x01;
const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");
const ED25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

export class NoteError extends Error {}

/** Key names: non-empty, no whitespace, no "+". */
export function checkKeyName(name: string): void {
  if (!name || /[\s+]/u.test(name)) throw new NoteError(`invalid key name ${JSON.stringify(name)}`);
}

/** Raw 32-byte Ed25519 public key of a KeyObject. */
export function rawPublicKey(key: KeyObject): Buffer {
  const der = (key.type === "private" ? createPublicKey(key) : key).export({ format: "der", type: "spki" });
  return Buffer.from(der.subarray(ED25519_SPKI_PREFIX.length));
}

export const publicKeyFromRaw = (raw: Uint8Array) =>
  createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: "der", type: "spki" });

export const privateKeyFromSeed = (seed: Uint8Array) =>
  createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" });

/** The key id: the first four bytes of SHA-256(name || "\n" || 0x01 || key). */
export function keyId(name: string, rawPublic: Uint8Array): number {
  return createHash("sha256").update(name, "utf8").update("\n").update(Buffer.from([ALG_ED25519])).update(rawPublic).digest().readUInt32BE(0);
}

/** `<name>+<key id, 8 hex>+<base64(0x01 || key)>`. */
export function verifierKeyString(name: string, rawPublic: Uint8Array): string {
  checkKeyName(name);
  const id = keyId(name, rawPublic).toString(16).padStart(8, "0");
  return `${name}+${id}+${Buffer.concat([Buffer.from([ALG_ED25519]), rawPublic]).toString("base64")}`;
}

export interface NoteVerifier {
  name: string;
  keyId: number;
  publicKey: KeyObject;
}

export function parseVerifierKey(vkey: string): NoteVerifier {
  // The key data is base64 and may itself contain "+": split at the first two only.
  const first = vkey.indexOf("+");
  const second = vkey.indexOf("+", first + 1);
  if (first < 0 || second < 0) throw new NoteError("malformed verifier key");
  const [name, hex, b64] = [vkey.slice(0, first), vkey.slice(first + 1, second), vkey.slice(second + 1)];
  checkKeyName(name);
  const data = Buffer.from(b64, "base64");
  if (!/^[0-9a-f]{8}$/.test(hex) || data.length !== 33 || data[0] !== ALG_ED25519) throw new NoteError("malformed verifier key");
  const raw = data.subarray(1);
  if (keyId(name, raw) !== parseInt(hex, 16)) throw new NoteError("verifier key id does not match its key");
  return { name, keyId: parseInt(hex, 16), publicKey: publicKeyFromRaw(raw) };
}

/** Signs `text` (which must end in a newline) as a one-signature note. */
export function signNote(text: string, signer: { name: string; keyId: number; privateKey: KeyObject }): string {
  if (!text.endsWith("\n")) throw new NoteError("note text must end with a newline");
  const sig = sign(null, Buffer.from(text, "utf8"), signer.privateKey);
  const idBytes = Buffer.alloc(4);
  idBytes.writeUInt32BE(signer.keyId);
  return `${text}\n— ${signer.name} ${Buffer.concat([idBytes, sig]).toString("base64")}\n`;
}

export interface OpenedNote {
  text: string;
  /** Signatures that verified with one of the given verifiers. */
  verifiedBy: NoteVerifier[];
}

/**
 * Splits a note into text and signature lines and checks the signatures
 * that come from the given verifiers; signatures by unknown keys are ignored.
 */
export function openNote(note: string, verifiers: readonly NoteVerifier[]): OpenedNote {
  const split = note.lastIndexOf("\n\n");
  if (split < 0 || !note.endsWith("\n")) throw new NoteError("malformed note: no signature block");
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split("\n");
  const verifiedBy: NoteVerifier[] = [];
  for (const line of lines) {
    const match = /^— (\S+) ([A-Za-z0-9+/]+=*)$/u.exec(line);
    if (!match) throw new NoteError("malformed note: bad signature line");
    const [, name, b64] = match as unknown as [string, string, string];
    const blob = Buffer.from(b64, "base64");
    if (blob.length < 5) throw new NoteError("malformed note: short signature");
    const id = blob.readUInt32BE(0);
    for (const v of verifiers) {
      if (v.name === name && v.keyId === id && verify(null, Buffer.from(text, "utf8"), v.publicKey, blob.subarray(4))) verifiedBy.push(v);
    }
  }
  return { text, verifiedBy };
}

export interface CheckpointBody {
  origin: string;
  size: number;
  root: Buffer;
}

/** The tlog-checkpoint body: origin, decimal size, base64 root; no extension lines. */
export function formatCheckpoint({ origin, size, root }: CheckpointBody): string {
  return `${origin}\n${size}\n${root.toString("base64")}\n`;
}

/** Parses a tlog-checkpoint body; extension lines are allowed and ignored. */
export function parseCheckpoint(text: string): CheckpointBody {
  const lines = text.split("\n");
  if (lines.length < 4 || lines[lines.length - 1] !== "") throw new NoteError("malformed checkpoint");
  const [origin, sizeLine, rootLine] = lines as [string, string, string];
  if (!origin || !/^(0|[1-9][0-9]{0,15})$/.test(sizeLine)) throw new NoteError("malformed checkpoint size");
  const root = Buffer.from(rootLine, "base64");
  if (root.length !== 32 || root.toString("base64") !== rootLine) throw new NoteError("malformed checkpoint root");
  const size = Number(sizeLine);
  if (!Number.isSafeInteger(size)) throw new NoteError("checkpoint size too large");
  return { origin, size, root };
}
