import { NoteError, openNote, parseVerifierKey, SIG_ML_DSA_44, splitNote, type NoteVerifier } from "./note.js";

/**
 * Stream key rotation statements (`attesto key-rotation v1`): a C2SP signed
 * note by which a stream hands checkpoint signing to new keys. Its text is
 *
 *     <origin>
 *     attesto key-rotation v1
 *     <N>
 *     <new Ed25519 verifier key>
 *     [<new ML-DSA-44 verifier key>]
 *
 * The new keys sign every checkpoint of a tree larger than N; the previous
 * keys signed every checkpoint up to N and co-sign the first one after it.
 * The note is signed by the previous Ed25519 key (which vouches for the new
 * keys) and by the new Ed25519 key (which shows it is held). ML-DSA-44
 * signatures exist only for checkpoints (tlog-cosignature `subtree/v1`), so
 * the new ML-DSA-44 key is vouched for by the Ed25519 signatures here and
 * proves itself on the handover checkpoint.
 *
 * A verifier that pins the stream's first Ed25519 key follows the
 * statements in order (each checked with the key before it) to the key that
 * signed a later checkpoint.
 */
export const KEY_ROTATION_HEADER = "attesto key-rotation v1";

/** Statements a bundle may carry: a stream rotated more often than this is not one a verifier should walk. */
export const MAX_KEY_ROTATIONS = 256;

export interface KeyRotationBody {
  origin: string;
  /** The new keys sign checkpoints of tree sizes above this. */
  takesOverAfter: number;
  /** The new verifier keys, Ed25519 first. */
  keys: string[];
}

/** The statement's text (ends with a newline, ready to sign). */
export function formatKeyRotation({ origin, takesOverAfter, keys }: KeyRotationBody): string {
  return `${origin}\n${KEY_ROTATION_HEADER}\n${takesOverAfter}\n${keys.map((k) => `${k}\n`).join("")}`;
}

/** Parses a statement's text; the new keys must be of its origin, one Ed25519 key first and at most one ML-DSA-44 key after it. */
export function parseKeyRotation(text: string): KeyRotationBody & { verifiers: NoteVerifier[] } {
  const lines = text.split("\n");
  if (lines.length < 5 || lines.length > 6 || lines[lines.length - 1] !== "") throw new NoteError("malformed key rotation statement");
  const [origin, header, sizeLine, ...keys] = lines.slice(0, -1) as [string, string, string, ...string[]];
  if (header !== KEY_ROTATION_HEADER) throw new NoteError(`not a key rotation statement (second line must be "${KEY_ROTATION_HEADER}")`);
  if (!/^(0|[1-9][0-9]{0,15})$/.test(sizeLine) || !Number.isSafeInteger(Number(sizeLine))) throw new NoteError("malformed key rotation tree size");
  const verifiers = keys.map((k) => parseVerifierKey(k));
  if (verifiers.some((v) => v.name !== origin)) throw new NoteError("a new key of the statement is not of its origin");
  if (verifiers[0]!.type !== undefined || (verifiers[1] && verifiers[1].type !== SIG_ML_DSA_44)) throw new NoteError("a statement names one Ed25519 key, then optionally one ML-DSA-44 key");
  return { origin, takesOverAfter: Number(sizeLine), keys, verifiers };
}

export interface KeyChain {
  /** The Ed25519 key the chain ends at (the pinned key when no statement applies). */
  key: NoteVerifier;
  /** The ML-DSA-44 key the last statement named, if any. */
  mlDsa44?: NoteVerifier;
  /** Statements followed from the pinned key. */
  followed: number;
  /** The last followed statement's takeover size: a checkpoint signed by `key` after a rotation is of a larger tree. */
  takesOverAfter: number;
}

const label = (v: NoteVerifier) => `${v.name}+${v.keyId.toString(16).padStart(8, "0")}`;
const sameKey = (a: NoteVerifier, b: NoteVerifier) => a.name === b.name && a.keyId === b.keyId && a.publicKey.length === b.publicKey.length && a.publicKey.every((x, i) => x === b.publicKey[i]);

/**
 * Follows rotation statements (oldest first) from a pinned Ed25519 key.
 * Statements before the pinned key (a verifier that pinned a later key) are
 * skipped; from there on each must be signed by the key before it and by the
 * key it names, take over at no smaller size than the one before, and be of
 * the pinned key's origin. Throws NoteError naming the statement that breaks
 * the chain.
 */
export function followKeyRotations(pinned: NoteVerifier, statements: readonly string[]): KeyChain {
  if (statements.length > MAX_KEY_ROTATIONS) throw new NoteError(`more than ${MAX_KEY_ROTATIONS} key rotation statements`);
  const bodies = statements.map((note, i) => {
    try {
      return parseKeyRotation(splitNote(note).text);
    } catch (err) {
      if (err instanceof NoteError) throw new NoteError(`statement ${i}: ${err.message}`);
      throw err;
    }
  });
  // A pinned key that a statement introduced: the chain starts after that statement.
  let start = 0;
  for (let i = bodies.length - 1; i >= 0; i--) {
    if (sameKey(bodies[i]!.verifiers[0]!, pinned)) {
      start = i + 1;
      break;
    }
  }
  const chain: KeyChain = { key: pinned, followed: 0, takesOverAfter: start > 0 ? bodies[start - 1]!.takesOverAfter : 0 };
  if (start < bodies.length && pinned.type !== undefined) throw new NoteError("rotation statements are signed with the stream's Ed25519 keys: pin its Ed25519 key to follow them");
  for (let i = start; i < bodies.length; i++) {
    const body = bodies[i]!;
    const next = body.verifiers[0]!;
    if (body.origin !== pinned.name) throw new NoteError(`statement ${i} is of ${body.origin}, the pinned key of ${pinned.name}`);
    const opened = openNote(statements[i]!, [chain.key, next]);
    if (!opened.verifiedBy.includes(chain.key)) throw new NoteError(`statement ${i} is not signed by the key before it (${label(chain.key)})`);
    if (!opened.verifiedBy.includes(next)) throw new NoteError(`statement ${i} is not signed by the key it names (${label(next)})`);
    if (body.takesOverAfter < chain.takesOverAfter) throw new NoteError(`statement ${i} takes over at ${body.takesOverAfter}, before the statement before it (${chain.takesOverAfter})`);
    chain.key = next;
    chain.mlDsa44 = body.verifiers[1];
    chain.followed++;
    chain.takesOverAfter = body.takesOverAfter;
  }
  return chain;
}

/** A report's check, as src/verify/bundle.ts's Check (its `key_rotation`). */
export interface KeyRotationCheck {
  name: "key_rotation";
  status: "pass" | "fail";
  detail: string;
}

/**
 * The `key_rotation` check of a bundle: its rotation statements followed
 * from the pinned key to the key its checkpoint (of `checkpoint.size`) is
 * checked with. No check when the document carries no statements (the
 * signature check then says the pinned key did not sign, if it did not).
 */
export function keyRotationCheck(checkpoint: { size: number }, rotations: readonly string[], pinned: NoteVerifier): { check?: KeyRotationCheck; key: NoteVerifier } {
  const name = "key_rotation";
  if (rotations.length === 0) return { key: pinned };
  let chain: KeyChain;
  try {
    chain = followKeyRotations(pinned, rotations);
  } catch (err) {
    if (!(err instanceof NoteError)) throw err;
    return { check: { name, status: "fail", detail: `the key rotation chain from the pinned key ${label(pinned)} is broken: ${err.message}` }, key: pinned };
  }
  if (chain.followed === 0)
    return { check: { name, status: "pass", detail: `the pinned key ${label(pinned)} is the latest key the ${rotations.length} rotation statements name: nothing to follow` }, key: pinned };
  if (checkpoint.size <= chain.takesOverAfter) {
    return {
      check: { name, status: "fail", detail: `the checkpoint of size ${checkpoint.size} is not above ${chain.takesOverAfter}, where ${label(chain.key)} took over: that key signs only larger trees` },
      key: pinned,
    };
  }
  const statements = chain.followed === 1 ? "1 rotation statement leads" : `${chain.followed} rotation statements lead`;
  return {
    check: {
      name,
      status: "pass",
      detail: `${statements} from the pinned key ${label(pinned)} to ${label(chain.key)} (signing trees above ${chain.takesOverAfter}), each signed by the key before it and the key it names`,
    },
    key: chain.key,
  };
}
