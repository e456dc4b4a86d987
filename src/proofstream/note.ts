import { createPrivateKey, createPublicKey, sign, type KeyObject } from "node:crypto";
import { NoteError, parseCheckpoint as parseCheckpointBody, type CheckpointBody as Body } from "../verify/note.js";

/**
 * C2SP signed-note (Ed25519, algorithm 0x01) and tlog-checkpoint: the exact
 * byte formats that golang.org/x/mod/sumdb/note and the transparency
 * ecosystem read. Reading and verifying notes is the verification library's
 * (src/verify/note.ts, shared with every verifier); signing, which needs the
 * private key, stays here.
 */
export { checkKeyName, formatCheckpoint, keyId, NoteError, openNote, parseVerifierKey, verifierKeyString } from "../verify/note.js";
export type { NoteVerifier, OpenedNote } from "../verify/note.js";

const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");
const ED25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

/** Raw 32-byte Ed25519 public key of a KeyObject. */
export function rawPublicKey(key: KeyObject): Buffer {
  const der = (key.type === "private" ? createPublicKey(key) : key).export({ format: "der", type: "spki" });
  return Buffer.from(der.subarray(ED25519_SPKI_PREFIX.length));
}

export const privateKeyFromSeed = (seed: Uint8Array) => createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" });

/** Signs `text` (which must end in a newline) as a one-signature note. */
export function signNote(text: string, signer: { name: string; keyId: number; privateKey: KeyObject }): string {
  if (!text.endsWith("\n")) throw new NoteError("note text must end with a newline");
  const sig = sign(null, Buffer.from(text, "utf8"), signer.privateKey);
  const idBytes = Buffer.alloc(4);
  idBytes.writeUInt32BE(signer.keyId);
  return `${text}\n— ${signer.name} ${Buffer.concat([idBytes, sig]).toString("base64")}\n`;
}

export interface CheckpointBody extends Body {
  root: Buffer;
}

/** Parses a tlog-checkpoint body (extension lines allowed and ignored); the root as a Buffer. */
export function parseCheckpoint(text: string): CheckpointBody {
  const body = parseCheckpointBody(text);
  return { ...body, root: Buffer.from(body.root) };
}
