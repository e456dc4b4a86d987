import { ed25519FromSeed, ed25519RawPublic, signNoteWith, SIG_ED25519 } from "../crypto/note-signing.js";
import type { KeyObject } from "node:crypto";
import { parseCheckpoint as parseCheckpointBody, type CheckpointBody as Body } from "../verify/note.js";

/**
 * C2SP signed-note and tlog-checkpoint: the exact byte formats that
 * golang.org/x/mod/sumdb/note and the transparency ecosystem read. Reading
 * and verifying notes is the verification library's (src/verify/note.ts,
 * shared with every verifier); signing is src/crypto/note-signing.ts.
 */
export { checkKeyName, formatCheckpoint, keyId, NoteError, openNote, parseVerifierKey, splitNote, verifierKeyString } from "../verify/note.js";
export type { NoteVerifier, OpenedNote, SignatureType } from "../verify/note.js";

/** Raw 32-byte Ed25519 public key of a KeyObject. */
export const rawPublicKey = ed25519RawPublic;

export const privateKeyFromSeed = ed25519FromSeed;

/** Signs `text` (which must end in a newline) as a one-signature Ed25519 note. */
export function signNote(text: string, signer: { name: string; keyId: number; privateKey: KeyObject }): string {
  return signNoteWith(text, [{ ...signer, type: SIG_ED25519 }]);
}

export interface CheckpointBody extends Body {
  root: Buffer;
}

/** Parses a tlog-checkpoint body (extension lines allowed and ignored); the root as a Buffer. */
export function parseCheckpoint(text: string): CheckpointBody {
  const body = parseCheckpointBody(text);
  return { ...body, root: Buffer.from(body.root) };
}
