import { sha256 } from "@noble/hashes/sha2.js";
import canonicalize from "canonicalize";
import { toHex, utf8 } from "./bytes.js";
import { JsonBytes } from "./json-bytes.js";
import { readJsonObject } from "./json.js";

/**
 * The leaf of a Proofstream event (DESIGN section 5): the RFC 8785 (JCS)
 * canonical JSON of {v:1, stream_id, seq_no, source_ref, event_type,
 * occurred_at, received_at, payload_sha256}. The server builds leaves with
 * this function and verifiers rebuild them with it, so there is one
 * definition of the bytes.
 */
export interface LeafRecord {
  stream_id: string;
  seq_no: number;
  source_ref: string;
  event_type: string;
  /** RFC 3339 UTC with milliseconds, exactly as in the leaf (Date#toISOString). */
  occurred_at: string;
  received_at: string;
  /** Lowercase hex SHA-256 of the payload's JCS form. */
  payload_sha256: string;
}

export class CanonicalizationError extends Error {}

/** RFC 8785 canonical JSON; throws for values JSON cannot hold (non-finite numbers, undefined). */
export function jcs(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new CanonicalizationError("value cannot be canonicalized as JSON");
  return text;
}

/**
 * The leaf's JCS text. The keys are fixed, so RFC 8785 reduces to writing
 * them in sorted order with ECMAScript string serialization (JSON.stringify,
 * which JCS adopts) and integer seq_no; the spec checks this against the
 * general canonicalizer. Millions of leaves make the shortcut worth it.
 */
export function leafText(r: LeafRecord): string {
  if (!Number.isSafeInteger(r.seq_no)) throw new CanonicalizationError("seq_no must be an integer");
  const s = JSON.stringify;
  return `{"event_type":${s(r.event_type)},"occurred_at":${s(r.occurred_at)},"payload_sha256":${s(r.payload_sha256)},"received_at":${s(r.received_at)},"seq_no":${r.seq_no},"source_ref":${s(r.source_ref)},"stream_id":${s(r.stream_id)},"v":1}`;
}

export const leafBytesOf = (r: LeafRecord): Uint8Array => utf8(leafText(r));

const LEAF_PIECES = ['{"event_type":', ',"occurred_at":', ',"payload_sha256":', ',"received_at":', ',"seq_no":', ',"source_ref":', ',"stream_id":', ',"v":1}'].map(utf8);
const [OPEN, OCCURRED_AT, PAYLOAD_SHA256, RECEIVED_AT, SEQ_NO, SOURCE_REF, STREAM_ID, CLOSE] = LEAF_PIECES as [
  Uint8Array,
  Uint8Array,
  Uint8Array,
  Uint8Array,
  Uint8Array,
  Uint8Array,
  Uint8Array,
  Uint8Array,
];

/**
 * The end of every leaf of one stream, `,"stream_id":"<id>","v":1}`, in
 * UTF-8: a bundle's entries share it, so writeLeaf is given it written once.
 */
export function leafEnd(streamId: string): Uint8Array {
  const out = new JsonBytes();
  out.raw(STREAM_ID);
  out.string(streamId);
  out.raw(CLOSE);
  return out.buffer.slice(0, out.at);
}

/**
 * leafBytesOf of the fields and the stream whose leafEnd `end` is, written
 * into `out` from its `at`, with no record, string or array per leaf: the
 * bundle verifier's form (the spec holds the two to the same bytes).
 */
export function writeLeaf(out: JsonBytes, r: Omit<LeafRecord, "stream_id">, end: Uint8Array): void {
  if (!Number.isSafeInteger(r.seq_no)) throw new CanonicalizationError("seq_no must be an integer");
  out.raw(OPEN);
  out.string(r.event_type);
  out.raw(OCCURRED_AT);
  out.string(r.occurred_at);
  out.raw(PAYLOAD_SHA256);
  out.string(r.payload_sha256);
  out.raw(RECEIVED_AT);
  out.string(r.received_at);
  out.raw(SEQ_NO);
  out.number(r.seq_no);
  out.raw(SOURCE_REF);
  out.string(r.source_ref);
  out.raw(end);
}

/** Hex SHA-256 of the payload's JCS form. */
export const payloadDigest = (payload: unknown): string => toHex(sha256(utf8(jcs(payload))));

const LEAF_KEYS = ["event_type", "occurred_at", "payload_sha256", "received_at", "seq_no", "source_ref", "stream_id", "v"];

/** Reads leaf bytes back into their fields; undefined when they are not an Attesto v1 leaf in canonical form. */
export function parseLeaf(text: string): LeafRecord | undefined {
  // A leaf is one flat object: nothing nested is read.
  const read = readJsonObject(text, { maxDepth: 1 });
  if ("problem" in read) return undefined;
  const o = read.value;
  if (Object.keys(o).sort().join() !== LEAF_KEYS.join() || o.v !== 1) return undefined;
  const record = o as unknown as LeafRecord;
  const strings = [record.stream_id, record.source_ref, record.event_type, record.occurred_at, record.received_at, record.payload_sha256];
  if (strings.some((s) => typeof s !== "string") || !Number.isSafeInteger(record.seq_no)) return undefined;
  return leafText(record) === text ? record : undefined;
}
