import { AppError, notFound } from "../errors.js";
import { newRecord, type AppendInput, type AppendResult, type EventRecord } from "./event-record.js";
import { leafOf } from "./leaf.js";

export type NewEventRow = EventRecord & { leaf: Buffer };

/** Assigns sequence numbers and leaves; replays resolve against `known` (stored events, and earlier ones of the batch). */
export function planBatch(
  streamId: string,
  batch: ReadonlyArray<AppendInput & { payloadSha256: string }>,
  head: { tenantId: string; treeSize: number },
  known: Map<string, EventRecord>,
  receivedAt = new Date(),
) {
  let size = head.treeSize;
  const rows: NewEventRow[] = [];
  const results = batch.map((input): AppendResult | AppError => {
    if (input.tenantId !== head.tenantId) return notFound("stream");
    const existing = known.get(input.sourceRef);
    if (existing) {
      const same = existing.eventType === input.eventType && existing.occurredAt.getTime() === input.occurredAt.getTime() && existing.payloadSha256 === input.payloadSha256;
      return same
        ? { event: existing, duplicate: true }
        : new AppError("replay_conflict", `source_ref ${JSON.stringify(input.sourceRef)} was already committed with different content`, { field: "source_ref", reason: "REPLAY_CONFLICT" });
    }
    const seqNo = ++size;
    const { leaf, leafHash } = leafOf({ ...input, streamId, seqNo, receivedAt });
    const record = newRecord(streamId, seqNo, input, receivedAt, leafHash);
    known.set(input.sourceRef, record);
    rows.push({ ...record, leaf });
    return { event: record, duplicate: false };
  });
  return { results, rows, size };
}

/**
 * One commit's appends, by stream: each stream's members in arrival order
 * (its sequence numbers follow that order), streams in order of first
 * arrival. Several streams then share one statement and one commit.
 */
export function groupByStream<T extends { input: { streamId: string } }>(batch: readonly T[]): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const member of batch) {
    const group = groups.get(member.input.streamId);
    if (group) group.push(member);
    else groups.set(member.input.streamId, [member]);
  }
  return groups;
}
