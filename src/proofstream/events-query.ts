import { and, asc, eq, gt, gte, lt } from "drizzle-orm";
import type { Db } from "../db/db.js";
import { events } from "./schema.js";
import { notFound } from "../errors.js";
import { decodePageToken, encodePageToken, pageSizeOf } from "../ids.js";
import { toRecord, type EventRecord } from "./append.js";
import { getStreamRow } from "./streams.js";

export async function getEvent(db: Db, tenantId: string, streamId: string, seqNo: number): Promise<EventRecord> {
  await getStreamRow(db, tenantId, streamId);
  const [row] = await db
    .select()
    .from(events)
    .where(and(eq(events.streamId, streamId), eq(events.seqNo, seqNo)))
    .limit(1);
  if (!row) throw notFound(`event ${seqNo}`);
  return toRecord(row);
}

export interface EventFilter {
  fromSeqNo?: number;
  eventType?: string;
  occurredAfter?: Date;
  occurredBefore?: Date;
  pageSize?: number;
  pageToken?: string;
}

/** Ascending seq_no; the page token carries the last seq_no returned. */
export async function listEvents(db: Db, tenantId: string, streamId: string, f: EventFilter): Promise<{ events: EventRecord[]; nextPageToken: string }> {
  await getStreamRow(db, tenantId, streamId);
  const limit = pageSizeOf(f.pageSize);
  const token = decodePageToken(f.pageToken);
  const after = token !== undefined ? Number(token) : Math.max((f.fromSeqNo ?? 0) - 1, 0);
  const rows = await db
    .select()
    .from(events)
    .where(
      and(
        eq(events.streamId, streamId),
        gt(events.seqNo, Number.isSafeInteger(after) ? after : 0),
        f.eventType ? eq(events.eventType, f.eventType) : undefined,
        f.occurredAfter ? gte(events.occurredAt, f.occurredAfter) : undefined,
        f.occurredBefore ? lt(events.occurredAt, f.occurredBefore) : undefined,
      ),
    )
    .orderBy(asc(events.seqNo))
    .limit(limit + 1);
  const page = rows.slice(0, limit).map(toRecord);
  return { events: page, nextPageToken: rows.length > limit ? encodePageToken(String(page[page.length - 1]!.seqNo)) : "" };
}
