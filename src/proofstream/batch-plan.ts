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
