import { ed25519 } from "@noble/curves/ed25519.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { concatBytes, fromBase64, toBase64, utf8 } from "./bytes.js";

/**
 * C2SP signed-note (Ed25519, algorithm 0x01) and tlog-checkpoint reading:
 * the byte formats golang.org/x/mod/sumdb/note reads. Signing stays on the
 * server (src/proofstream/note.ts); everything a verifier needs is here.
 */

const ALG_ED25519 = 0x01;

export class NoteError extends Error {}

/** Key names: non-empty, no whitespace, no "+". */
export function checkKeyName(name: string): void {
  if (!name || /[\s+]/u.test(name)) throw new NoteError(`invalid key name ${JSON.stringify(name)}`);
}

/** The key id: the first four bytes of SHA-256(name || "\n" || 0x01 || key), unsigned. */
export function keyId(name: string, rawPublic: Uint8Array): number {
  const digest = sha256(concatBytes(utf8(name), utf8("\n"), new Uint8Array([ALG_ED25519]), rawPublic));
  return new DataView(digest.buffer, digest.byteOffset, 4).getUint32(0);
}

/** `<name>+<key id, 8 hex>+<base64(0x01 || key)>`. */
export function verifierKeyString(name: string, rawPublic: Uint8Array): string {
  checkKeyName(name);
  const id = keyId(name, rawPublic).toString(16).padStart(8, "0");
  return `${name}+${id}+${toBase64(concatBytes(new Uint8Array([ALG_ED25519]), rawPublic))}`;
}

export interface NoteVerifier {
  name: string;
  keyId: number;
  /** Raw 32-byte Ed25519 public key. */
  publicKey: Uint8Array;
}

export function parseVerifierKey(vkey: string): NoteVerifier {
  // The key data is base64 and may itself contain "+": split at the first two only.
  const first = vkey.indexOf("+");
  const second = vkey.indexOf("+", first + 1);
  if (first < 0 || second < 0) throw new NoteError("malformed verifier key");
  const [name, hex, b64] = [vkey.slice(0, first), vkey.slice(first + 1, second), vkey.slice(second + 1)];
  checkKeyName(name);
  const data = fromBase64(b64);
  if (!/^[0-9a-f]{8}$/.test(hex) || !data || data.length !== 33 || data[0] !== ALG_ED25519) throw new NoteError("malformed verifier key");
  const raw = data.subarray(1);
  if (keyId(name, raw) !== parseInt(hex, 16)) throw new NoteError("verifier key id does not match its key");
  return { name, keyId: parseInt(hex, 16), publicKey: raw };
}

export interface NoteSignature {
  name: string;
  keyId: number;
  signature: Uint8Array;
}

export interface OpenedNote {
  text: string;
  signatures: NoteSignature[];
  /** Signatures that verified with one of the given verifiers. */
  verifiedBy: NoteVerifier[];
}

/**
 * Signature lines a note may carry, as golang.org/x/mod/sumdb/note allows:
 * a C2SP checkpoint has a handful (the log's key, a few witnesses); more is
 * a note built to make its reader work, refused before any signature runs.
 */
export const MAX_NOTE_SIGNATURES = 100;

/** Splits a note into its text and signature lines, without checking any signature. */
export function splitNote(note: string): { text: string; signatures: NoteSignature[] } {
  const split = note.lastIndexOf("\n\n");
  if (split < 0 || !note.endsWith("\n")) throw new NoteError("malformed note: no signature block");
  const text = note.slice(0, split + 1);
  // The limit stops split() at one line past the cap instead of cutting a 16 MB block into lines.
  const lines = note.slice(split + 2, -1).split("\n", MAX_NOTE_SIGNATURES + 1);
  if (lines.length > MAX_NOTE_SIGNATURES) throw new NoteError(`malformed note: more than ${MAX_NOTE_SIGNATURES} signature lines`);
  const signatures: NoteSignature[] = [];
  for (const line of lines) {
    const match = /^— (\S+) ([A-Za-z0-9+/]+=*)$/u.exec(line);
    const blob = match ? fromBase64(match[2]!) : undefined;
    if (!match || !blob) throw new NoteError("malformed note: bad signature line");
    if (blob.length < 5) throw new NoteError("malformed note: short signature");
    signatures.push({ name: match[1]!, keyId: new DataView(blob.buffer, blob.byteOffset, 4).getUint32(0), signature: blob.subarray(4) });
  }
  return { text, signatures };
}

/** Strict RFC 8032 Ed25519 verification, as Go's crypto/ed25519 does it. */
export function verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    return ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}

/**
 * Opens a note and checks the signatures that come from the given
 * verifiers; signatures by unknown keys are ignored. Each verifier is tried
 * on the first signature line that names it and on no other, as
 * golang.org/x/mod/sumdb/note does ("drop repeated signatures by a single
 * verifier"): a note that repeats a key's line, with the same or different
 * signatures, costs one Ed25519 verification per verifier, whatever its size.
 */
export function openNote(note: string, verifiers: readonly NoteVerifier[]): OpenedNote {
  const { text, signatures } = splitNote(note);
  const message = utf8(text);
  const verifiedBy: NoteVerifier[] = [];
  const tried = new Set<NoteVerifier>();
  for (const sig of signatures) {
    for (const v of verifiers) {
      if (tried.has(v) || v.name !== sig.name || v.keyId !== sig.keyId) continue;
      tried.add(v);
      if (verifyEd25519(v.publicKey, message, sig.signature)) verifiedBy.push(v);
    }
    if (tried.size === verifiers.length) break;
  }
  return { text, signatures, verifiedBy };
}

export interface CheckpointBody {
  origin: string;
  size: number;
  root: Uint8Array;
}

/** The tlog-checkpoint body: origin, decimal size, base64 root; no extension lines. */
export function formatCheckpoint({ origin, size, root }: CheckpointBody): string {
  return `${origin}\n${size}\n${toBase64(root)}\n`;
}

/** Parses a tlog-checkpoint body; extension lines are allowed and ignored. */
export function parseCheckpoint(text: string): CheckpointBody {
  const lines = text.split("\n");
  if (lines.length < 4 || lines[lines.length - 1] !== "") throw new NoteError("malformed checkpoint");
  const [origin, sizeLine, rootLine] = lines as [string, string, string];
  if (!origin || !/^(0|[1-9][0-9]{0,15})$/.test(sizeLine)) throw new NoteError("malformed checkpoint size");
  const root = fromBase64(rootLine);
  if (!root || root.length !== 32) throw new NoteError("malformed checkpoint root");
  const size = Number(sizeLine);
  if (!Number.isSafeInteger(size)) throw new NoteError("checkpoint size too large");
  return { origin, size, root };
}
