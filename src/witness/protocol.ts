import { fromBase64, toBase64 } from "../verify/bytes.js";
import { keyId, NoteError, parseCheckpoint, parseVerifierKey, SIG_COSIGNATURE_V1, splitNote, verifierKeyString, type CheckpointBody, type NoteVerifier } from "../verify/note.js";

/**
 * The C2SP tlog-witness wire format (c2sp.org/tlog-witness): the
 * add-checkpoint request body (`old <size>`, up to 63 base64 consistency
 * proof hashes, an empty line, the signed checkpoint), the 409 body
 * (`text/x.tlog.size`), and a witness's private key string.
 */

export const TLOG_SIZE_CONTENT_TYPE = "text/x.tlog.size";
/** The spec's bound on consistency proof lines. */
export const MAX_PROOF_LINES = 63;
/** An add-checkpoint body a witness reads: the proof and a checkpoint with a few (possibly ML-DSA, 3.3 kB) signatures. */
export const MAX_ADD_CHECKPOINT_BYTES = 128 * 1024;

export class WitnessRequestError extends Error {}

export interface AddCheckpointRequest {
  oldSize: number;
  proof: Uint8Array[];
  /** The signed checkpoint note, verbatim. */
  note: string;
  checkpoint: CheckpointBody;
}

export function formatAddCheckpoint(oldSize: number, proof: readonly Uint8Array[], note: string): string {
  return `old ${oldSize}\n${proof.map((h) => `${toBase64(h)}\n`).join("")}\n${note}`;
}

/** Reads an add-checkpoint body; a malformed one is a WitnessRequestError (400). */
export function parseAddCheckpoint(body: string): AddCheckpointRequest {
  const blank = body.indexOf("\n\n");
  if (blank < 0) throw new WitnessRequestError("no empty line before the checkpoint");
  const head = body.slice(0, blank).split("\n");
  const old = /^old (0|[1-9][0-9]{0,15})$/.exec(head[0] ?? "");
  if (!old) throw new WitnessRequestError("the first line must be `old <size>`");
  const oldSize = Number(old[1]);
  if (!Number.isSafeInteger(oldSize)) throw new WitnessRequestError("old size too large");
  const lines = head.slice(1);
  if (lines.length > MAX_PROOF_LINES) throw new WitnessRequestError(`more than ${MAX_PROOF_LINES} consistency proof lines`);
  const proof = lines.map((line, i) => {
    const h = fromBase64(line);
    if (!h || h.length !== 32) throw new WitnessRequestError(`proof line ${i + 1} is not a base64 SHA-256 hash`);
    return h;
  });
  const note = body.slice(blank + 2);
  let checkpoint: CheckpointBody;
  try {
    checkpoint = parseCheckpoint(splitNote(note).text);
  } catch (err) {
    if (err instanceof NoteError) throw new WitnessRequestError(`the checkpoint is not a signed tlog-checkpoint: ${err.message}`);
    throw err;
  }
  if (oldSize > checkpoint.size) throw new WitnessRequestError("old size is larger than the checkpoint's size");
  if (oldSize === 0 && proof.length > 0) throw new WitnessRequestError("the proof must be empty when the old size is 0");
  return { oldSize, proof, note, checkpoint };
}

/** The 409 body's size, or undefined when it is not `<decimal>\n`. */
export function parseTlogSize(body: string): number | undefined {
  const m = /^(0|[1-9][0-9]{0,15})\n$/.exec(body);
  const n = m ? Number(m[1]) : NaN;
  return Number.isSafeInteger(n) ? n : undefined;
}

const PRIVATE_KEY_PREFIX = "PRIVATE+KEY+";

/** A witness (cosigner) key: its name, Ed25519 seed, and the verifier key others pin. */
export interface WitnessKey {
  name: string;
  seed: Uint8Array;
  verifier: NoteVerifier;
  verifierKey: string;
}

/** `PRIVATE+KEY+<name>+<key id>+<base64(0x04 || 32-byte Ed25519 seed)>`: the signed-note private key form, for a cosignature/v1 key. */
export function witnessPrivateKeyString(name: string, seed: Uint8Array, publicKey: Uint8Array): string {
  const id = keyId(name, publicKey, SIG_COSIGNATURE_V1).toString(16).padStart(8, "0");
  const data = new Uint8Array(33);
  data[0] = SIG_COSIGNATURE_V1;
  data.set(seed, 1);
  return `${PRIVATE_KEY_PREFIX}${name}+${id}+${toBase64(data)}`;
}

/** Reads a witness private key string; `publicOf` derives the Ed25519 public key of a seed (node:crypto on the server). */
export function parseWitnessPrivateKey(text: string, publicOf: (seed: Uint8Array) => Uint8Array): WitnessKey {
  if (!text.startsWith(PRIVATE_KEY_PREFIX)) throw new NoteError("a witness key starts with PRIVATE+KEY+");
  const rest = text.slice(PRIVATE_KEY_PREFIX.length);
  const first = rest.indexOf("+");
  const second = rest.indexOf("+", first + 1);
  if (first < 0 || second < 0) throw new NoteError("malformed witness key");
  const [name, hex, b64] = [rest.slice(0, first), rest.slice(first + 1, second), rest.slice(second + 1)];
  const data = fromBase64(b64);
  if (!/^[0-9a-f]{8}$/.test(hex) || !data || data.length !== 33 || data[0] !== SIG_COSIGNATURE_V1) throw new NoteError("malformed witness key (want type 0x04 and a 32-byte seed)");
  const seed = data.subarray(1);
  const verifierKey = verifierKeyString(name, publicOf(seed), SIG_COSIGNATURE_V1);
  const verifier = parseVerifierKey(verifierKey);
  if (verifier.keyId !== parseInt(hex, 16)) throw new NoteError("the witness key's id does not match its key");
  return { name, seed, verifier, verifierKey };
}
