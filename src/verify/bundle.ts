import { equalBytes, fromHex, hexEquals, ReusedUtf8, toHex, utf8 } from "./bytes.js";
import { JsonBytes } from "./json-bytes.js";
import { jcs, leafEnd, writeLeaf } from "./leaf.js";
import { HASH_SIZE, leafHash, ProofError, ReusedSha256, rootFromInclusionProof, rootFromRangeProofFlat, type FlatLeafHashes, type Sha256Into } from "./merkle.js";
import type { JsonLimits } from "./json.js";
import { BUNDLE_FORMAT, readBundle, type AnchorReceipt, type BundleDocument } from "./bundle-document.js";
import { parseTlogProof, TlogProofError } from "./tlog-proof.js";
import { keyRotationCheck } from "./key-rotation.js";
import { logSignedNote, NoteError, openNote, parseCheckpoint, parseVerifierKey, splitNote, type CheckpointBody, type NoteVerifier } from "./note.js";

// The document's shape and structural reading live in bundle-document.ts; re-exported so that
// `verify/bundle.js` stays the one import for bundles.
export { BUNDLE_FORMAT, MAX_ANCHOR_RECEIPTS, MAX_AUDIT_PATH, readBundle, type AnchorReceipt, type BundleDocument, type BundleEntry } from "./bundle-document.js";

export type CheckName = "format" | "signature" | "key_rotation" | "leaves" | "range_proof" | "inclusion_proofs" | "inclusion_proof" | "anchors" | "timestamp" | "witnesses";
/**
 * `unpinned`: the signature verifies only with a key the document carries itself, which the caller did not pin.
 * `offline`: what can be checked without a network passed (anchor receipts: each path leads to its batch root),
 * but the rest was not looked at (whether the chain holds the transactions: `verifyAnchorReceipt`, `attesto verify --rpc`).
 * `missing`: the caller's policy asks for evidence the document does not carry (an RFC 3161 token when TSA roots are given).
 */
export type CheckStatus = "pass" | "fail" | "unpinned" | "skipped" | "offline" | "missing";

export interface Check {
  name: CheckName;
  status: CheckStatus;
  detail: string;
}

export interface VerificationReport {
  kind: "bundle" | "tlog-proof";
  /** Every check passed or had nothing to check; nothing failed and the key was pinned. */
  valid: boolean;
  checks: Check[];
  stream_id: string;
  origin: string;
  from_seq_no: number;
  to_seq_no: number;
  checkpoint_size: number;
  entries: number;
  anchors: number;
}

export interface VerifyOptions {
  /** The verifier key the caller trusts (`<name>+<id>+<key>`), obtained out of band. */
  pinnedKey?: string;
  /** Limits on a bundle's JSON beyond depth 64 (a server verifying documents from anyone sets PUBLIC_JSON_LIMITS). */
  json?: JsonLimits;
  /**
   * The SHA-256 a bundle's leaves, payloads and tree (and a tlog-proof's leaf) are hashed with; by default one reused state
   * of noble's (ReusedSha256: pure JavaScript, the same in every runtime). A Node caller passes node:crypto's, which is
   * native and faster (both CLIs and the server do): the bytes are the same whichever it is.
   */
  sha256?: Sha256Into;
}

/** A check that does not stand in the way of validity: passed, nothing to check, or passed as far as it can offline. */
export const checkOk = (c: Pick<Check, "status">) => c.status === "pass" || c.status === "skipped" || c.status === "offline";
export const reportValid = (checks: readonly Check[]) => checks.every(checkOk);

type SignatureSubject = { note: string; body: CheckpointBody; carriedKey?: string; rotations?: readonly string[] };

/** The signature check, with the pinning rule: a carried key counts only when it is the pinned one (or one its rotation statements lead to). */
function signatureChecks(subject: SignatureSubject, options: VerifyOptions): Check[] {
  const { note, body, carriedKey } = subject;
  const name = "signature";
  let pinned: NoteVerifier | undefined;
  if (options.pinnedKey) {
    try {
      pinned = parseVerifierKey(options.pinnedKey.trim());
    } catch (err) {
      return [{ name, status: "fail", detail: `the pinned key is not a note verifier key: ${(err as Error).message}` }];
    }
    if (pinned.name !== body.origin) return [{ name, status: "fail", detail: `the pinned key is for ${pinned.name}, the checkpoint is of ${body.origin}` }];
    const rotation = keyRotationCheck(body, subject.rotations ?? [], pinned);
    const rotated = rotation.check?.status === "pass" && rotation.key !== pinned;
    const signer = rotated ? rotation.key : pinned;
    const checks = rotation.check ? [rotation.check] : [];
    if (rotation.check?.status === "fail") return [{ name, status: "fail", detail: "not run: the key rotation chain does not hold" }, ...checks];
    if (openNote(note, [signer]).verifiedBy.length === 0) {
      const noChain = subject.rotations?.length ? "" : " (the document carries no key rotation statements leading from it)";
      return [{ name, status: "fail", detail: `no signature by the ${rotated ? "rotated-to" : "pinned"} key ${keyLabel(signer)}${noChain}` }, ...checks];
    }
    const ignored = carriedKey && carriedKey !== options.pinnedKey.trim() && !rotated ? " (the key the document carries differs and was ignored)" : "";
    const by = rotated ? `the key ${keyLabel(signer)}, which the pinned key's rotation statements lead to` : `the pinned key ${keyLabel(pinned)}`;
    return [{ name, status: "pass", detail: `checkpoint signed by ${by}${ignored}${unknownLines(note, [signer, ...(rotated ? [pinned] : [])])}` }, ...checks];
  }
  const rotationsCarried = subject.rotations?.length
    ? [{ name: "key_rotation" as const, status: "unpinned" as const, detail: `${subject.rotations.length} key rotation statements carried, not followed: no key pinned to start from` }]
    : [];
  return [signatureCheck(subject), ...rotationsCarried];
}

/** Without a pinned key: the key the document carries, which makes at best an unpinned report. */
function signatureCheck({ note, body, carriedKey }: SignatureSubject): Check {
  const name = "signature";
  if (!carriedKey) return { name, status: "unpinned", detail: "no verifier key pinned: the signature was not checked (pass the stream's verifier key)" };
  let carried: NoteVerifier;
  try {
    carried = parseVerifierKey(carriedKey);
  } catch (err) {
    return { name, status: "fail", detail: `the document's verifier key does not parse: ${(err as Error).message}` };
  }
  if (carried.name !== body.origin || openNote(note, [carried]).verifiedBy.length === 0) {
    return { name, status: "fail", detail: `no signature by the key the document carries (${keyLabel(carried)})` };
  }
  return { name, status: "unpinned", detail: `the signature verifies with the key the document carries (${keyLabel(carried)}), which is not pinned: pin the stream's verifier key to trust it` };
}

const keyLabel = (v: NoteVerifier) => `${v.name}+${v.keyId.toString(16).padStart(8, "0")}`;

/** The note's other signature lines (an ML-DSA-44 line, witness cosignatures): by keys the caller gave none of, so unknown, not failures. */
export function unknownLines(note: string, known: readonly NoteVerifier[]): string {
  const others = splitNote(note).signatures.filter((s) => !known.some((k) => k.name === s.name && k.keyId === s.keyId));
  if (others.length === 0) return "";
  const labels = others.map((s) => `${s.name}+${s.keyId.toString(16).padStart(8, "0")}`);
  return `; ${others.length} other signature line${others.length === 1 ? "" : "s"} by unknown keys, not checked (${listed(labels)})`;
}

const notRun = (name: CheckName, why: string): Check => ({ name, status: "fail", detail: `not run: ${why}` });

function openCheckpoint(note: string): { body: CheckpointBody } | { problem: string } {
  try {
    return { body: parseCheckpoint(splitNote(note).text) };
  } catch (err) {
    if (err instanceof NoteError) return { problem: `the checkpoint is not a signed tlog-checkpoint: ${err.message}` };
    throw err;
  }
}

/** Describes failures by the first few seq_nos, so a report stays short for a million entries. */
function listed(failures: string[]): string {
  return failures.slice(0, 5).join("; ") + (failures.length > 5 ? `; and ${failures.length - 5} more` : "");
}

const emptyBundleReport = (): VerificationReport => ({ kind: "bundle", valid: false, checks: [], stream_id: "", origin: "", from_seq_no: 0, to_seq_no: 0, checkpoint_size: 0, entries: 0, anchors: 0 });

/** The report on a document that is not a bundle at all: format fails, the rest is not run. */
export function notABundle(problem: string): VerificationReport {
  const report = emptyBundleReport();
  report.checks.push({ name: "format", status: "fail", detail: problem });
  for (const name of ["signature", "leaves", "range_proof", "anchors"] as const) report.checks.push(notRun(name, "the document is not a valid bundle"));
  return report;
}

/** Verifies a parsed attesto.bundle.v1 document; every check runs and reports on its own. */
export function verifyBundle(value: unknown, options: VerifyOptions = {}): VerificationReport {
  const report = emptyBundleReport();
  const read = readBundle(value);
  let checkpoint: ReturnType<typeof openCheckpoint> | undefined;
  if ("bundle" in read) {
    checkpoint = openCheckpoint(read.bundle.checkpoint);
    if ("body" in checkpoint && checkpoint.body.origin !== read.bundle.origin)
      checkpoint = { problem: `the checkpoint origin ${checkpoint.body.origin} is not the bundle's origin ${read.bundle.origin}` };
  }
  const problem = "problem" in read ? read.problem : checkpoint && "problem" in checkpoint ? checkpoint.problem : undefined;
  if (problem !== undefined || !("bundle" in read) || !checkpoint || !("body" in checkpoint)) return notABundle(problem ?? "not a bundle");
  const b = read.bundle;
  const body = checkpoint.body;
  Object.assign(report, {
    stream_id: b.stream_id,
    origin: b.origin,
    from_seq_no: b.from_seq_no,
    to_seq_no: b.to_seq_no,
    checkpoint_size: body.size,
    entries: b.entries.length,
    anchors: b.anchors.length,
  });
  report.checks.push({ name: "format", status: "pass", detail: `${BUNDLE_FORMAT}: ${b.entries.length} entries, payloads ${b.payloads_included ? "included" : "withheld (digests only)"}` });
  report.checks.push(...signatureChecks({ note: b.checkpoint, body, carriedKey: b.verifier_key, rotations: b.key_rotations }, options));
  const hasher = options.sha256 ?? new ReusedSha256();
  const leaves = leavesCheck(b, hasher);
  report.checks.push(leaves.check);
  report.checks.push(rangeProofCheck(b, body, leaves.leaves, hasher));
  if (b.entries.some((e) => "tlog_proof" in e)) report.checks.push(inclusionProofsCheck(b, body));
  report.checks.push(anchorsCheck(logSignedNote(b.checkpoint, body.origin), b.anchors));
  report.valid = reportValid(report.checks);
  return report;
}

/**
 * Every entry's leaf recomputed from its fields (and its payload digest, when
 * the payload is there). A bundle holds up to millions of entries, so this is
 * the verifier's hot loop: one reused SHA-256 state and one reused buffer
 * the leaf's and the payload's canonical bytes are written into (no string
 * per value), each leaf hash written into one flat buffer (which the range
 * proof reads) and compared with the entry's hex in place; no hasher,
 * record, digest, byte array or hex string per entry.
 */
function leavesCheck(b: BundleDocument, hasher: Sha256Into): { check: Check; leaves: FlatLeafHashes } {
  const failures: string[] = [];
  const leaves: FlatLeafHashes = { bytes: new Uint8Array(b.entries.length * HASH_SIZE), count: b.entries.length };
  const out = new JsonBytes();
  const text = new ReusedUtf8();
  const digest = new Uint8Array(HASH_SIZE);
  const end = leafEnd(b.stream_id);
  let payloads = 0;
  for (let i = 0; i < b.entries.length; i++) {
    const e = b.entries[i]!;
    // RFC 9162 leaf hash: SHA-256(0x00 || leaf bytes); the prefix byte stays at the buffer's start.
    out.reset(1);
    writeLeaf(out, e, end);
    out.buffer[0] = 0x00;
    hasher.digestInto(out.buffer.subarray(0, out.at), leaves.bytes, i * HASH_SIZE);
    if (!hexEquals(leaves.bytes, i * HASH_SIZE, HASH_SIZE, e.leaf_hash)) {
      failures.push(`entry ${e.seq_no}: its fields do not hash to its leaf_hash`);
      // The range proof is of the leaf hashes the bundle states, so that it reports on its own.
      leaves.bytes.set(fromHex(e.leaf_hash)!, i * HASH_SIZE);
    }
    if ("payload" in e) {
      payloads++;
      // The flag is part of what the document claims: a payload it says is withheld is a contradiction.
      if (!b.payloads_included) failures.push(`entry ${e.seq_no}: carries a payload though payloads_included is false`);
      let matches = false;
      out.reset(0);
      if (out.jcs(e.payload) && !out.loneSurrogate) {
        hasher.digestInto(out.buffer.subarray(0, out.at), digest, 0);
        matches = hexEquals(digest, 0, HASH_SIZE, e.payload_sha256);
      } else {
        // What the writer does not take (a lone surrogate, a value JSON.parse does not make) the general canonicalizer decides.
        let canonical: string | undefined;
        try {
          canonical = jcs(e.payload);
        } catch {
          canonical = undefined;
        }
        if (canonical !== undefined) {
          // Encoded first: encode may grow the buffer, and `text.buffer` read before it would be the old one.
          const end = text.encode(canonical);
          hasher.digestInto(text.buffer.subarray(0, end), digest, 0);
          matches = hexEquals(digest, 0, HASH_SIZE, e.payload_sha256);
        }
      }
      if (!matches) failures.push(`entry ${e.seq_no}: the payload does not match payload_sha256`);
    } else if (b.payloads_included) {
      failures.push(`entry ${e.seq_no}: the payload is missing though payloads_included is true`);
    }
  }
  if (failures.length) return { check: { name: "leaves", status: "fail", detail: listed(failures) }, leaves };
  return {
    check: {
      name: "leaves",
      status: "pass",
      detail: `${b.entries.length} leaves recomputed${payloads ? `, ${payloads} payload digests checked` : ", payload digests not checkable (payloads withheld)"}`,
    },
    leaves,
  };
}

/**
 * The entries are exactly from_seq_no..to_seq_no, in order, and with the proof lead to the checkpoint's root.
 * `leaves` are the entries' stated leaf hashes, as leavesCheck wrote them (recomputed, or the stated one where
 * they differ), so each check reports on its own.
 */
function rangeProofCheck(b: BundleDocument, body: CheckpointBody, leaves: FlatLeafHashes, hasher: Sha256Into): Check {
  const name = "range_proof";
  const count = b.to_seq_no - b.from_seq_no + 1;
  if (b.entries.length !== count) return { name, status: "fail", detail: `the range ${b.from_seq_no}..${b.to_seq_no} has ${count} events, the bundle has ${b.entries.length} entries` };
  for (let i = 0; i < b.entries.length; i++) {
    if (b.entries[i]!.seq_no !== b.from_seq_no + i)
      return { name, status: "fail", detail: `entry ${i} has seq_no ${b.entries[i]!.seq_no}, expected ${b.from_seq_no + i} (entries must be the contiguous range in order)` };
  }
  if (b.range_proof.tree_size !== body.size) return { name, status: "fail", detail: `the proof is for a tree of ${b.range_proof.tree_size}, the checkpoint is of ${body.size}` };
  if (b.to_seq_no > body.size) return { name, status: "fail", detail: `the checkpoint of size ${body.size} does not cover seq_no ${b.to_seq_no}` };
  try {
    const root = rootFromRangeProofFlat(
      b.from_seq_no - 1,
      body.size,
      leaves,
      b.range_proof.hashes.map((h) => fromHex(h)!),
      hasher,
    );
    if (!equalBytes(root, body.root)) return { name, status: "fail", detail: `the entries and the proof lead to root ${toHex(root)}, the checkpoint's root is ${toHex(body.root)}` };
  } catch (err) {
    if (err instanceof ProofError) return { name, status: "fail", detail: err.message };
    throw err;
  }
  return { name, status: "pass", detail: `events ${b.from_seq_no}..${b.to_seq_no} are in the checkpoint of size ${body.size} (${b.range_proof.hashes.length} proof hashes)` };
}

/** Per-entry tlog-proofs: each names its entry's leaf and leads to the bundle checkpoint's root. */
function inclusionProofsCheck(b: BundleDocument, body: CheckpointBody): Check {
  const failures: string[] = [];
  let count = 0;
  for (const e of b.entries) {
    if (e.tlog_proof === undefined) continue;
    count++;
    try {
      const p = parseTlogProof(e.tlog_proof);
      if (p.index !== e.seq_no - 1) failures.push(`entry ${e.seq_no}: its proof is for index ${p.index}`);
      else if (!p.extra || toHex(leafHash(p.extra)) !== e.leaf_hash) failures.push(`entry ${e.seq_no}: its proof's leaf is not the entry's`);
      else if (p.checkpoint !== b.checkpoint) failures.push(`entry ${e.seq_no}: its proof names another checkpoint`);
      else if (!equalBytes(rootFromInclusionProof(p.index, body.size, leafHash(p.extra), p.hashes), body.root))
        failures.push(`entry ${e.seq_no}: its audit path does not lead to the checkpoint's root`);
    } catch (err) {
      if (!(err instanceof TlogProofError || err instanceof ProofError)) throw err;
      failures.push(`entry ${e.seq_no}: ${err.message}`);
    }
  }
  if (failures.length) return { name: "inclusion_proofs", status: "fail", detail: listed(failures) };
  return { name: "inclusion_proofs", status: "pass", detail: `${count} per-entry tlog-proofs lead to the checkpoint's root` };
}

/** Offline: each receipt's path leads from the checkpoint note (as the log signed it, without cosignatures) to the batch root it names. */
function anchorsCheck(note: string, anchors: readonly AnchorReceipt[]): Check {
  if (anchors.length === 0) return { name: "anchors", status: "skipped", detail: "no anchor receipts (checkpoint not anchored yet)" };
  const noteHash = leafHash(utf8(note));
  const failures: string[] = [];
  anchors.forEach((a, i) => {
    try {
      const root = rootFromInclusionProof(
        a.leaf_index,
        a.batch_size,
        noteHash,
        a.path.map((h) => fromHex(h)!),
      );
      if (`0x${toHex(root)}` !== a.batch_root) failures.push(`receipt ${i} (chain ${a.chain_id}, tx ${a.tx_hash}): the path leads to 0x${toHex(root)}, not the batch root ${a.batch_root}`);
    } catch (err) {
      if (!(err instanceof ProofError)) throw err;
      failures.push(`receipt ${i}: ${err.message}`);
    }
  });
  if (failures.length) return { name: "anchors", status: "fail", detail: listed(failures) };
  return {
    name: "anchors",
    status: "offline",
    detail: `offline: path only — ${anchors.length} anchor receipt${anchors.length === 1 ? "" : "s"}: the checkpoint is in each batch root; whether the chain holds the transactions was not checked (attesto verify --rpc <url>)`,
  };
}
