import { isLowerHex } from "./bytes.js";
import { isObject } from "./json.js";
import type { LeafRecord } from "./leaf.js";
import { MAX_KEY_ROTATIONS } from "./key-rotation.js";

/**
 * The verifier bundle `attesto.bundle.v1` (schemas/attesto.bundle.v1.schema.json,
 * docs/bundle.md): a contiguous range of one stream's events with a signed
 * checkpoint and a range proof, checkable offline.
 */
export const BUNDLE_FORMAT = "attesto.bundle.v1";

/** One event of the range: its leaf's fields (the stream is the bundle's), its leaf hash, and what else it discloses. */
export interface BundleEntry extends Omit<LeafRecord, "stream_id"> {
  /** Lowercase hex RFC 9162 leaf hash: SHA-256(0x00 || leaf bytes). */
  leaf_hash: string;
  /** Present only when the bundle discloses payloads. */
  payload?: unknown;
  /** Optional per-entry C2SP tlog-proof against the bundle's checkpoint. */
  tlog_proof?: string;
}

/** Proof that a checkpoint note is in an anchored Merkle batch. */
export interface AnchorReceipt {
  chain_id: number;
  tx_hash: string;
  block_number: number;
  block_hash: string;
  /** 0x-prefixed hex RFC 9162 root of the batch, as written on chain. */
  batch_root: string;
  /** Position of this checkpoint note among the batch's leaves, and their number. */
  leaf_index: number;
  batch_size: number;
  /** RFC 9162 audit path (lowercase hex) from SHA-256(0x00 || checkpoint note) to batch_root. */
  path: string[];
}

export interface BundleDocument {
  format: typeof BUNDLE_FORMAT;
  stream_id: string;
  origin: string;
  /** The stream's note verifier key; trusted only when it equals the key the verifier pins. */
  verifier_key: string;
  from_seq_no: number;
  to_seq_no: number;
  payloads_included: boolean;
  entries: BundleEntry[];
  /** The signed C2SP checkpoint (a note) of a tree that contains the range. */
  checkpoint: string;
  range_proof: { tree_size: number; hashes: string[] };
  anchors: AnchorReceipt[];
  /** An RFC 3161 TimeStampToken (base64 DER) over the checkpoint note as the log signed it (without cosignature lines), when the checkpoint had one. */
  timestamp_token?: string;
  /** Key rotation statements (signed notes, `attesto key-rotation v1`), oldest first, from the stream's first key to the one that signed the checkpoint; absent when the stream never rotated before it. */
  key_rotations?: string[];
}

/** A rotation statement is a few lines and two signatures (an ML-DSA-44 verifier key is 1.8 kB of base64): more is not one. */
export const MAX_KEY_ROTATION_CHARS = 8 * 1024;

/** A time-stamp token is a few kB (a signature and the TSA's certificates); base64 beyond this is not one. */
export const MAX_TIMESTAMP_TOKEN_CHARS = 64 * 1024;

/** Whether `v` is 64 lowercase hex digits (a SHA-256 in hex): /^[0-9a-f]{64}$/ without a regular expression, which costs a bundle of 100,000 entries (two hashes each) a fifth of a second more. */
export const isHex64 = (v: unknown): v is string => typeof v === "string" && isLowerHex(v, 64);
/**
 * Receipts a bundle may carry (one checkpoint is anchored once per batch,
 * on a few chains at most) and hashes in one audit path (a batch of 2^53
 * notes needs 53): the schema's maxItems, so a document cannot make the
 * verifier hash what no real bundle holds.
 */
export const MAX_ANCHOR_RECEIPTS = 64;
export const MAX_AUDIT_PATH = 64;
const isCount = (v: unknown, min = 0): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= min;

/** Structural reading of a bundle; returns the problem, or the typed document. */
export function readBundle(value: unknown): { bundle: BundleDocument } | { problem: string } {
  if (!isObject(value)) return { problem: "the document is not a JSON object" };
  const b = value;
  if (b.format !== BUNDLE_FORMAT) return { problem: `format must be "${BUNDLE_FORMAT}"` };
  for (const field of ["stream_id", "origin", "verifier_key", "checkpoint"] as const) {
    if (typeof b[field] !== "string" || !b[field]) return { problem: `${field} must be a non-empty string` };
  }
  if (!isCount(b.from_seq_no, 1) || !isCount(b.to_seq_no, 1) || b.to_seq_no < b.from_seq_no) return { problem: "from_seq_no and to_seq_no must be integers with 1 <= from_seq_no <= to_seq_no" };
  if (typeof b.payloads_included !== "boolean") return { problem: "payloads_included must be a boolean" };
  if (b.timestamp_token !== undefined && (typeof b.timestamp_token !== "string" || !b.timestamp_token || b.timestamp_token.length > MAX_TIMESTAMP_TOKEN_CHARS)) {
    return { problem: `timestamp_token must be a non-empty base64 string of at most ${MAX_TIMESTAMP_TOKEN_CHARS} characters` };
  }
  if (b.key_rotations !== undefined) {
    const rotations = b.key_rotations;
    if (!Array.isArray(rotations) || rotations.length > MAX_KEY_ROTATIONS) return { problem: `key_rotations must be an array of at most ${MAX_KEY_ROTATIONS} statements` };
    const bad = rotations.findIndex((r) => typeof r !== "string" || !r || r.length > MAX_KEY_ROTATION_CHARS);
    if (bad >= 0) return { problem: `key_rotations[${bad}] must be a non-empty string of at most ${MAX_KEY_ROTATION_CHARS} characters` };
  }
  if (!Array.isArray(b.entries)) return { problem: "entries must be an array" };
  for (let i = 0; i < b.entries.length; i++) {
    const e: unknown = b.entries[i];
    if (!isObject(e)) return { problem: `entries[${i}] must be an object` };
    if (!isCount(e.seq_no, 1)) return { problem: `entries[${i}].seq_no must be a positive integer` };
    // Each field by name: a loop over their names costs an array and four keyed reads per entry.
    if (typeof e.source_ref !== "string") return { problem: `entries[${i}].source_ref must be a string` };
    if (typeof e.event_type !== "string") return { problem: `entries[${i}].event_type must be a string` };
    if (typeof e.occurred_at !== "string") return { problem: `entries[${i}].occurred_at must be a string` };
    if (typeof e.received_at !== "string") return { problem: `entries[${i}].received_at must be a string` };
    if (!isHex64(e.payload_sha256)) return { problem: `entries[${i}].payload_sha256 must be 64 lowercase hex digits` };
    if (!isHex64(e.leaf_hash)) return { problem: `entries[${i}].leaf_hash must be 64 lowercase hex digits` };
    if ("tlog_proof" in e && typeof e.tlog_proof !== "string") return { problem: `entries[${i}].tlog_proof must be a string` };
  }
  const rp = b.range_proof;
  if (!isObject(rp) || !isCount(rp.tree_size, 1) || !Array.isArray(rp.hashes) || !rp.hashes.every(isHex64)) {
    return { problem: "range_proof must hold a tree_size and hashes of 64 lowercase hex digits" };
  }
  if (!Array.isArray(b.anchors)) return { problem: "anchors must be an array" };
  if (b.anchors.length > MAX_ANCHOR_RECEIPTS) return { problem: `anchors holds more than ${MAX_ANCHOR_RECEIPTS} receipts` };
  for (let i = 0; i < b.anchors.length; i++) {
    const a: unknown = b.anchors[i];
    if (
      !isObject(a) ||
      !isCount(a.chain_id, 1) ||
      typeof a.tx_hash !== "string" ||
      !isCount(a.block_number) ||
      typeof a.block_hash !== "string" ||
      typeof a.batch_root !== "string" ||
      !/^0x[0-9a-f]{64}$/.test(a.batch_root) ||
      !isCount(a.leaf_index) ||
      !isCount(a.batch_size, 1) ||
      !Array.isArray(a.path) ||
      a.path.length > MAX_AUDIT_PATH ||
      !a.path.every(isHex64)
    ) {
      return { problem: `anchors[${i}] is not an anchor receipt` };
    }
  }
  return { bundle: b as unknown as BundleDocument };
}
