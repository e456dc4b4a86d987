import { ed25519 } from "@noble/curves/ed25519.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { ml_dsa44 } from "@noble/post-quantum/ml-dsa.js";
import { concatBytes, fromBase64, toBase64, utf8 } from "./bytes.js";

/**
 * C2SP signed-note and tlog-checkpoint reading: the byte formats
 * golang.org/x/mod/sumdb/note reads, with three signature types: Ed25519
 * (0x01, the log's classic signature), timestamped Ed25519 witness
 * cosignatures (0x04, c2sp.org/tlog-cosignature `cosignature/v1`) and
 * ML-DSA-44 (0x06, tlog-cosignature's `subtree/v1`, which
 * c2sp.org/tlog-checkpoint asks logs to sign with as well). Signing stays on
 * the server (src/proofstream/note.ts); everything a verifier needs is here.
 */

export const SIG_ED25519 = 0x01;
export const SIG_COSIGNATURE_V1 = 0x04;
export const SIG_ML_DSA_44 = 0x06;
/** The signature types this library verifies. */
export type SignatureType = typeof SIG_ED25519 | typeof SIG_COSIGNATURE_V1 | typeof SIG_ML_DSA_44;
const ALG_ED25519 = SIG_ED25519;
/** Public key bytes per signature type. */
const PUBLIC_KEY_BYTES: Record<SignatureType, number> = { [SIG_ED25519]: 32, [SIG_COSIGNATURE_V1]: 32, [SIG_ML_DSA_44]: 1312 };
const isSignatureType = (t: number): t is SignatureType => t in PUBLIC_KEY_BYTES;
export const ML_DSA_44_SIGNATURE_BYTES = 2420;

export class NoteError extends Error {}

/** Key names: non-empty, no whitespace, no "+". */
export function checkKeyName(name: string): void {
  if (!name || /[\s+]/u.test(name)) throw new NoteError(`invalid key name ${JSON.stringify(name)}`);
}

/** The key id: the first four bytes of SHA-256(name || "\n" || type || key), unsigned (type 0x01, Ed25519, by default). */
export function keyId(name: string, rawPublic: Uint8Array, type: SignatureType = ALG_ED25519): number {
  const digest = sha256(concatBytes(utf8(name), utf8("\n"), new Uint8Array([type]), rawPublic));
  return new DataView(digest.buffer, digest.byteOffset, 4).getUint32(0);
}

/** `<name>+<key id, 8 hex>+<base64(type || key)>` (type 0x01, Ed25519, by default). */
export function verifierKeyString(name: string, rawPublic: Uint8Array, type: SignatureType = ALG_ED25519): string {
  checkKeyName(name);
  const id = keyId(name, rawPublic, type).toString(16).padStart(8, "0");
  return `${name}+${id}+${toBase64(concatBytes(new Uint8Array([type]), rawPublic))}`;
}

export interface NoteVerifier {
  name: string;
  keyId: number;
  /** Raw public key: 32 bytes for Ed25519 (0x01, 0x04), 1312 for ML-DSA-44 (0x06). */
  publicKey: Uint8Array;
  /** The signature type; absent means Ed25519 (0x01). */
  type?: SignatureType;
}

/** What a signature type is called in reports. */
export function signatureTypeName(type: SignatureType | undefined): string {
  if (type === SIG_COSIGNATURE_V1) return "Ed25519 cosignature/v1";
  if (type === SIG_ML_DSA_44) return "ML-DSA-44";
  return "Ed25519";
}

export function parseVerifierKey(vkey: string): NoteVerifier {
  // The key data is base64 and may itself contain "+": split at the first two only.
  const first = vkey.indexOf("+");
  const second = vkey.indexOf("+", first + 1);
  if (first < 0 || second < 0) throw new NoteError("malformed verifier key");
  const [name, hex, b64] = [vkey.slice(0, first), vkey.slice(first + 1, second), vkey.slice(second + 1)];
  checkKeyName(name);
  const data = fromBase64(b64);
  const type = data?.[0];
  if (!/^[0-9a-f]{8}$/.test(hex) || !data || type === undefined || !isSignatureType(type) || data.length !== 1 + PUBLIC_KEY_BYTES[type]) throw new NoteError("malformed verifier key");
  const raw = data.subarray(1);
  if (keyId(name, raw, type) !== parseInt(hex, 16)) throw new NoteError("verifier key id does not match its key");
  return type === ALG_ED25519 ? { name, keyId: parseInt(hex, 16), publicKey: raw } : { name, keyId: parseInt(hex, 16), publicKey: raw, type };
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
  /** For the timestamped types (0x04, 0x06): the POSIX time each verifier's signature carries. */
  timestamps: Map<NoteVerifier, number>;
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

/** The largest timestamp tlog-cosignature allows (2^63 - 1), and what a JavaScript number holds exactly. */
const MAX_TIMESTAMP = BigInt(Number.MAX_SAFE_INTEGER);

/** Reads the big-endian u64 timestamp that leads a timestamped signature; undefined when it is not a safe integer. */
function timestampOf(sig: Uint8Array): number | undefined {
  if (sig.length < 8) return undefined;
  const t = new DataView(sig.buffer, sig.byteOffset, 8).getBigUint64(0);
  return t <= MAX_TIMESTAMP ? Number(t) : undefined;
}

function u64(value: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(value));
  return out;
}

/** tlog-cosignature `cosignature/v1`: the message an Ed25519 cosignature signs. */
export function cosignatureV1Message(text: string, timestamp: number): Uint8Array {
  return utf8(`cosignature/v1\ntime ${timestamp}\n${text}`);
}

/** tlog-cosignature `subtree/v1` (ML-DSA-44) of a checkpoint: the `cosigned_message` structure, start 0, end the tree size. */
export function subtreeV1Message(cosignerName: string, timestamp: number, checkpoint: CheckpointBody): Uint8Array {
  const name = utf8(cosignerName);
  const origin = utf8(checkpoint.origin);
  if (name.length < 1 || name.length > 255 || origin.length < 1 || origin.length > 255) throw new NoteError("subtree/v1 names must be 1..255 bytes");
  return concatBytes(utf8("subtree/v1\n\0"), new Uint8Array([name.length]), name, u64(timestamp), new Uint8Array([origin.length]), origin, u64(0), u64(checkpoint.size), checkpoint.root);
}

/** One signature line's check by its verifier's type; the timestamp for the timestamped types. */
function checkSignature(v: NoteVerifier, text: string, message: Uint8Array, sig: Uint8Array): { ok: boolean; timestamp?: number } {
  const type = v.type ?? ALG_ED25519;
  if (type === ALG_ED25519) return { ok: verifyEd25519(v.publicKey, message, sig) };
  const timestamp = timestampOf(sig);
  if (timestamp === undefined) return { ok: false };
  const body = sig.subarray(8);
  if (type === SIG_COSIGNATURE_V1) return { ok: verifyEd25519(v.publicKey, cosignatureV1Message(text, timestamp), body), timestamp };
  let checkpoint: CheckpointBody;
  try {
    checkpoint = parseCheckpoint(text);
  } catch {
    return { ok: false };
  }
  if (body.length !== ML_DSA_44_SIGNATURE_BYTES) return { ok: false };
  try {
    return { ok: ml_dsa44.verify(body, subtreeV1Message(v.name, timestamp, checkpoint), v.publicKey), timestamp };
  } catch {
    return { ok: false };
  }
}

/**
 * Opens a note and checks the signatures that come from the given
 * verifiers, whatever their types; signatures by unknown keys are ignored. Each verifier is tried
 * on the first signature line that names it and on no other, as
 * golang.org/x/mod/sumdb/note does ("drop repeated signatures by a single
 * verifier"): a note that repeats a key's line, with the same or different
 * signatures, costs one Ed25519 verification per verifier, whatever its size.
 */
export function openNote(note: string, verifiers: readonly NoteVerifier[]): OpenedNote {
  const { text, signatures } = splitNote(note);
  const message = utf8(text);
  const verifiedBy: NoteVerifier[] = [];
  const timestamps = new Map<NoteVerifier, number>();
  const tried = new Set<NoteVerifier>();
  for (const sig of signatures) {
    for (const v of verifiers) {
      if (tried.has(v) || v.name !== sig.name || v.keyId !== sig.keyId) continue;
      tried.add(v);
      const checked = checkSignature(v, text, message, sig.signature);
      if (!checked.ok) continue;
      verifiedBy.push(v);
      if (checked.timestamp !== undefined) timestamps.set(v, checked.timestamp);
    }
    if (tried.size === verifiers.length) break;
  }
  return { text, signatures, verifiedBy, timestamps };
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

/**
 * The note as its log signed it: the text and the signature lines whose key
 * name is the checkpoint's origin (the log's Ed25519 and ML-DSA-44 lines),
 * without the witness cosignatures that joined it later. Anchors commit to
 * these bytes, since cosignatures arrive after the checkpoint is anchored.
 */
export function logSignedNote(note: string, origin: string): string {
  const { text } = splitNote(note);
  const lines = note.slice(text.length + 1, -1).split("\n");
  return `${text}\n${lines.filter((l) => l.startsWith(`— ${origin} `)).join("\n")}\n`;
}
