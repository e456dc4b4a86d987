import { AppError, notFound } from "../errors.js";
import type { AppendInput, AppendResult, EventRecord } from "./append.js";
import { leafOf } from "./leaf.js";
import { partialTiles, type TileWrite } from "./merkle/tiles.js";

/** What this process knows of a stream it appended to: owner, size and the rightmost, incomplete tile of each level. */
export interface Frontier {
  tenantId: string;
  size: number;
  partial: Map<number, Buffer>;
}

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
      const same =
        existing.eventType === input.eventType && existing.occurredAt.getTime() === input.occurredAt.getTime() && existing.payloadSha256 === input.payloadSha256;
      return same
        ? { event: existing, duplicate: true }
        : new AppError("replay_conflict", `source_ref ${JSON.stringify(input.sourceRef)} was already committed with different content`, { field: "source_ref", reason: "REPLAY_CONFLICT" });
    }
    const seqNo = ++size;
    const { leaf, leafHash } = leafOf({ ...input, streamId, seqNo, receivedAt });
    const record: EventRecord = { streamId, seqNo, sourceRef: input.sourceRef, eventType: input.eventType, occurredAt: input.occurredAt, receivedAt, payload: input.payload, payloadSha256: input.payloadSha256, leafHash };
    known.set(input.sourceRef, record);
    rows.push({ ...record, leaf });
    return { event: record, duplicate: false };
  });
  return { results, rows, size };
}

/** The frontier after a batch: each level's rightmost tile as just written, or as it was when the batch did not reach it. */
export function advance(before: Frontier, size: number, writes: readonly TileWrite[]): Frontier {
  const partial = new Map<number, Buffer>();
  for (const p of partialTiles(size)) {
    const written = writes.find((w) => w.level === p.level && w.index === p.index);
    partial.set(p.level, written?.hashes ?? before.partial.get(p.level)!);
  }
  return { tenantId: before.tenantId, size, partial };
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

/**
 * Which streams can take the one-statement path (this process wrote them
 * last, so it knows their size and open tiles) and which must lock their
 * row first: never written here, or another writer moved them since.
 */
export function splitByFrontier<T>(groups: ReadonlyMap<string, T>, frontierOf: (streamId: string) => Frontier | undefined) {
  const optimistic: Array<{ streamId: string; members: T; before: Frontier }> = [];
  const locked: Array<{ streamId: string; members: T }> = [];
  for (const [streamId, members] of groups) {
    const before = frontierOf(streamId);
    if (before) optimistic.push({ streamId, members, before });
    else locked.push({ streamId, members });
  }
  return { optimistic, locked };
}
