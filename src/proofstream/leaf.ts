import { createHash } from "node:crypto";
import canonicalize from "canonicalize";
import { invalidArgument } from "../errors.js";
import { leafText } from "../verify/leaf.js";
import { leafHash } from "../crypto/rfc9162.js";

export type JsonObject = { [key: string]: JsonValue };
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;

/** The fields a leaf commits to: what a verifier recomputes the leaf hash from (docs/verifier.md). */
export interface LeafFields {
  streamId: string;
  seqNo: number;
  sourceRef: string;
  eventType: string;
  occurredAt: Date;
  receivedAt: Date;
  payloadSha256: string;
}

/** RFC 8785 canonical JSON. Numbers must be finite (JSON has no others). */
export function jcs(value: JsonValue, field: string): string {
  const text = canonicalize(value);
  if (text === undefined) throw invalidArgument(field, "cannot be canonicalized as JSON");
  return text;
}

/** Hex SHA-256 of the payload's JCS form. */
export const payloadSha256 = (payload: JsonObject) => createHash("sha256").update(jcs(payload, "payload"), "utf8").digest("hex");

/** Times in leaves: RFC 3339, UTC, milliseconds (what the database keeps). */
export const leafTime = (d: Date) => d.toISOString();

/** The leaf bytes: JCS of {v:1, stream_id, seq_no, source_ref, event_type, occurred_at, received_at, payload_sha256}, defined once in src/verify/leaf.ts. */
export function leafBytes(f: LeafFields): Buffer {
  return Buffer.from(
    leafText({
      stream_id: f.streamId,
      seq_no: f.seqNo,
      source_ref: f.sourceRef,
      event_type: f.eventType,
      occurred_at: leafTime(f.occurredAt),
      received_at: leafTime(f.receivedAt),
      payload_sha256: f.payloadSha256,
    }),
    "utf8",
  );
}

export function leafOf(f: LeafFields): { leaf: Buffer; leafHash: Buffer } {
  const leaf = leafBytes(f);
  return { leaf, leafHash: leafHash(leaf) };
}

/**
 * The leaf text on either side of its seq_no, for a statement that assigns
 * the seq_no itself: `before + String(seqNo) + after` is the leaf's text.
 * The cut is found at `,"seq_no":0,"source_ref":`, which occurs once: inside
 * a JSON string every `"` is escaped, so only the object's own keys match.
 */
export function leafAround(f: Omit<LeafFields, "seqNo">): { before: string; after: string } {
  const text = leafText({
    stream_id: f.streamId,
    seq_no: 0,
    source_ref: f.sourceRef,
    event_type: f.eventType,
    occurred_at: leafTime(f.occurredAt),
    received_at: leafTime(f.receivedAt),
    payload_sha256: f.payloadSha256,
  });
  const at = text.indexOf(',"seq_no":0,"source_ref":') + ',"seq_no":'.length;
  return { before: text.slice(0, at), after: text.slice(at + 1) };
}
