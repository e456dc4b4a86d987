import type { streamEvents } from "./schema.js";
import type { JsonObject, LeafFields } from "./leaf.js";

export interface AppendInput {
  tenantId: string;
  streamId: string;
  sourceRef: string;
  eventType: string;
  occurredAt: Date;
  payload: JsonObject;
}

/** An event as committed: the fields its leaf commits to, the payload and the leaf hash. */
export interface EventRecord extends LeafFields {
  payload: JsonObject;
  leafHash: Buffer;
}

export interface AppendResult {
  event: EventRecord;
  duplicate: boolean;
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
