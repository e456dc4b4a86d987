import { fromUtf8, toHex } from "./bytes.js";
import { notABundle, reportValid, unknownLines, verifyBundle, type Check, type VerificationReport, type VerifyOptions } from "./bundle.js";
import { readJson } from "./json.js";
import { parseLeaf } from "./leaf.js";
import { HASH_SIZE, leafHash, ProofError, rootFromInclusionProof, type Sha256Into } from "./merkle.js";
import { NoteError, parseCheckpoint, parseVerifierKey, splitNote, openNote } from "./note.js";
import { isTlogProof, parseTlogProof, TlogProofError } from "./tlog-proof.js";

/**
 * One entry point for every verifier (CLI, VerifierService, POST /v2/verify,
 * the /verify page): a text that is either an attesto.bundle.v1 JSON
 * document or a C2SP tlog-proof, checked offline.
 */
export function verifyDocument(text: string, options: VerifyOptions = {}): VerificationReport {
  if (isTlogProof(text)) return verifyTlogProof(text, options);
  const read = readJson(text, options.json);
  return "value" in read ? verifyBundle(read.value, options) : notABundle(`the document ${read.problem}`);
}

/** A C2SP tlog-proof whose `extra` is an Attesto leaf: signature, leaf and inclusion, each on its own. */
export function verifyTlogProof(text: string, options: VerifyOptions = {}): VerificationReport {
  const report: VerificationReport = { kind: "tlog-proof", valid: false, checks: [], stream_id: "", origin: "", from_seq_no: 0, to_seq_no: 0, checkpoint_size: 0, entries: 1, anchors: 0 };
  let proof: ReturnType<typeof parseTlogProof>;
  let body: ReturnType<typeof parseCheckpoint>;
  try {
    proof = parseTlogProof(text);
    body = parseCheckpoint(splitNote(proof.checkpoint).text);
  } catch (err) {
    if (!(err instanceof TlogProofError || err instanceof NoteError)) throw err;
    report.checks.push({ name: "format", status: "fail", detail: err.message });
    for (const name of ["signature", "leaves", "inclusion_proof"] as const) report.checks.push({ name, status: "fail", detail: "not run: the document is not a valid tlog-proof" });
    return report;
  }
  Object.assign(report, { origin: body.origin, checkpoint_size: body.size, from_seq_no: proof.index + 1, to_seq_no: proof.index + 1 });
  report.checks.push({ name: "format", status: "pass", detail: `c2sp.org/tlog-proof@v1: index ${proof.index}, ${proof.hashes.length} proof hashes, checkpoint of size ${body.size}` });
  report.checks.push(tlogSignature(proof.checkpoint, body.origin, options));

  // The leaf's hash, once (an `extra` may be megabytes), with the caller's SHA-256 when it passed one.
  const extraHash = proof.extra ? leafHashWith(proof.extra, options.sha256) : undefined;
  let leafCheck: Check;
  const leafText = proof.extra ? safeUtf8(proof.extra) : undefined;
  const leaf = leafText !== undefined ? parseLeaf(leafText) : undefined;
  if (!proof.extra) leafCheck = { name: "leaves", status: "fail", detail: "no extra line: the leaf cannot be recomputed" };
  else if (!leaf) leafCheck = { name: "leaves", status: "fail", detail: "extra is not an Attesto v1 leaf in canonical (RFC 8785) form" };
  else if (leaf.seq_no !== proof.index + 1) leafCheck = { name: "leaves", status: "fail", detail: `the leaf is seq_no ${leaf.seq_no}, the proof is for index ${proof.index}` };
  else if (!body.origin.endsWith(`/proofstreams/${leaf.stream_id}`))
    leafCheck = { name: "leaves", status: "fail", detail: `the leaf is of stream ${leaf.stream_id}, the checkpoint of ${body.origin}` };
  else leafCheck = { name: "leaves", status: "pass", detail: `leaf of ${leaf.stream_id} seq_no ${leaf.seq_no} (${leaf.event_type}), hash ${toHex(extraHash!)}` };
  if (leaf) report.stream_id = leaf.stream_id;
  report.checks.push(leafCheck);

  let inclusion: Check;
  if (!extraHash) inclusion = { name: "inclusion_proof", status: "fail", detail: "no extra line: nothing to prove" };
  else {
    try {
      const root = rootFromInclusionProof(proof.index, body.size, extraHash, proof.hashes);
      inclusion =
        toHex(root) === toHex(body.root)
          ? { name: "inclusion_proof", status: "pass", detail: `entry ${proof.index} is in the checkpoint of size ${body.size}` }
          : { name: "inclusion_proof", status: "fail", detail: `the audit path leads to ${toHex(root)}, the checkpoint's root is ${toHex(body.root)}` };
    } catch (err) {
      if (!(err instanceof ProofError)) throw err;
      inclusion = { name: "inclusion_proof", status: "fail", detail: err.message };
    }
  }
  report.checks.push(inclusion);
  report.valid = reportValid(report.checks);
  return report;
}

/** RFC 9162 leaf hash, SHA-256(0x00 || leaf), with `sha256` when given. */
function leafHashWith(leaf: Uint8Array, sha256: Sha256Into | undefined): Uint8Array {
  if (!sha256) return leafHash(leaf);
  const prefixed = new Uint8Array(leaf.length + 1);
  prefixed.set(leaf, 1);
  const out = new Uint8Array(HASH_SIZE);
  sha256.digestInto(prefixed, out, 0);
  return out;
}

function safeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return fromUtf8(bytes);
  } catch {
    return undefined;
  }
}

/** A tlog-proof carries no key: without a pinned one the signature cannot be checked. */
function tlogSignature(note: string, origin: string, options: VerifyOptions): Check {
  if (!options.pinnedKey)
    return { name: "signature", status: "unpinned", detail: "no verifier key pinned: a tlog-proof carries none, so the signature was not checked (pass the stream's verifier key)" };
  let key;
  try {
    key = parseVerifierKey(options.pinnedKey.trim());
  } catch (err) {
    return { name: "signature", status: "fail", detail: `the pinned key is not a note verifier key: ${(err as Error).message}` };
  }
  if (key.name !== origin) return { name: "signature", status: "fail", detail: `the pinned key is for ${key.name}, the checkpoint is of ${origin}` };
  return openNote(note, [key]).verifiedBy.length > 0
    ? { name: "signature", status: "pass", detail: `checkpoint signed by the pinned key ${key.name}+${key.keyId.toString(16).padStart(8, "0")}${unknownLines(note, [key])}` }
    : { name: "signature", status: "fail", detail: "no signature by the pinned key" };
}
