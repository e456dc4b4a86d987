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
      const conflict = replayConflict(existing, input);
      return conflict ?? { event: existing, duplicate: true };
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
 * A replay that differs from the stored event, as the error that says which
 * fields differ and how to replay it (the caller owns the stream, so the
 * stored event type and time are theirs to see; a payload is only said to
 * differ). A client that fills occurred_at with "now" on each run meets this
 * on its second run: the stored time is what it must send again.
 */
export function replayConflict(existing: EventRecord, input: Pick<AppendInput, "sourceRef" | "eventType" | "occurredAt"> & { payloadSha256: string }): AppError | undefined {
  const differs: string[] = [];
  if (existing.eventType !== input.eventType) differs.push(`event_type (stored ${JSON.stringify(existing.eventType)}, sent ${JSON.stringify(input.eventType)})`);
  if (existing.occurredAt.getTime() !== input.occurredAt.getTime()) differs.push(`occurred_at (stored ${existing.occurredAt.toISOString()}, sent ${input.occurredAt.toISOString()})`);
  if (existing.payloadSha256 !== input.payloadSha256) differs.push("payload (its SHA-256 differs)");
  if (differs.length === 0) return undefined;
  return new AppError(
    "replay_conflict",
    `source_ref ${JSON.stringify(input.sourceRef)} was already committed with another ${differs.join(", another ")}: ` +
      "a replay repeats event_type, occurred_at and payload exactly; a new event needs a new source_ref",
    { field: "source_ref", reason: "REPLAY_CONFLICT" },
  );
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
