import type { streamEvents } from "./schema.js";
import type { JsonObject, LeafFields } from "./leaf.js";
import type { CheckpointRecord } from "./checkpoints.js";

export interface AppendInput {
  tenantId: string;
  streamId: string;
  sourceRef: string;
  eventType: string;
  occurredAt: Date;
  payload: JsonObject;
  /** The caller waits for a signed checkpoint covering the event: its commit signs one when it can. */
  waitForProof?: boolean;
}

/** An event as committed: the fields its leaf commits to, the payload and the leaf hash. */
export interface EventRecord extends LeafFields {
  payload: JsonObject;
  leafHash: Buffer;
}

export interface AppendResult {
  event: EventRecord;
  duplicate: boolean;
  /** Signed in the commit (the append waited for proof): the checkpoint that covers the event, the event's path in it, and its leaf bytes. */
  proof?: { checkpoint: CheckpointRecord; hashes: Buffer[]; leaf: Buffer };
}

/** A new event's record: what was appended, where it landed, and its leaf hash. */
export function newRecord(streamId: string, seqNo: number, input: AppendInput & { payloadSha256: string }, receivedAt: Date, leafHash: Buffer): EventRecord {
  return {
    streamId,
    seqNo,
    sourceRef: input.sourceRef,
    eventType: input.eventType,
    occurredAt: input.occurredAt,
    receivedAt,
    payload: input.payload,
    payloadSha256: input.payloadSha256,
    leafHash,
  };
}

export function toRecord(row: typeof streamEvents.$inferSelect): EventRecord {
  return {
    streamId: row.streamId,
    seqNo: row.seqNo,
    sourceRef: row.sourceRef,
    eventType: row.eventType,
    occurredAt: row.occurredAt,
    receivedAt: row.receivedAt,
    payload: row.payload as JsonObject,
    payloadSha256: row.payloadSha256,
    leafHash: row.leafHash,
  };
}
