import { and, asc, eq, getTableColumns, gt, gte, lt, sql } from "drizzle-orm";
import type { Db } from "../db/db.js";
import { streamEvents } from "./schema.js";
import { notFound } from "../errors.js";
import { nextToken, pageOf, pageWindow } from "../db/pagination.js";
import { toRecord, type EventRecord } from "./event-record.js";
import { getStreamRow } from "./streams.js";

/** One event, by its sequence number or its source_ref. */
export type EventRef = { seqNo: number } | { sourceRef: string };

export async function getEvent(db: Db, tenantId: string, streamId: string, ref: EventRef): Promise<EventRecord> {
  await getStreamRow(db, tenantId, streamId);
  const [row] = await db
    .select()
    .from(streamEvents)
    .where(and(eq(streamEvents.streamId, streamId), "seqNo" in ref ? eq(streamEvents.seqNo, ref.seqNo) : eq(streamEvents.sourceRef, ref.sourceRef)))
    .limit(1);
  if (!row) throw notFound("seqNo" in ref ? `event ${ref.seqNo}` : "event");
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

/** A page of events ends once its payloads pass this many bytes (it always holds one event). */
export const LIST_EVENTS_MAX_PAYLOAD_BYTES = 4 * 1024 * 1024;

/**
 * Ascending seq_no; the page token carries the last seq_no returned. A page
 * is cut by bytes too: the database sums the payloads' sizes in order and
 * ships only the events that start below the cap, so a page of large
 * payloads never reaches this process whole.
 */
export async function listEvents(db: Db, tenantId: string, streamId: string, f: EventFilter): Promise<{ events: EventRecord[]; nextPageToken: string }> {
  await getStreamRow(db, tenantId, streamId);
  const win = pageWindow(f);
  const { fetch, after: token } = win;
  const after = token !== undefined ? Number(token) : Math.max((f.fromSeqNo ?? 0) - 1, 0);
  const size = sql<number>`octet_length(${streamEvents.payload}::text)`;
  const sized = db
    .select({
      ...getTableColumns(streamEvents),
      size: size.as("size"),
      upTo: sql<number>`sum(${size}) over (order by ${streamEvents.seqNo})`.as("up_to"),
    })
    .from(streamEvents)
    .where(
      and(
        eq(streamEvents.streamId, streamId),
        gt(streamEvents.seqNo, Number.isSafeInteger(after) ? after : 0),
        f.eventType ? eq(streamEvents.eventType, f.eventType) : undefined,
        f.occurredAfter ? gte(streamEvents.occurredAt, f.occurredAfter) : undefined,
        f.occurredBefore ? lt(streamEvents.occurredAt, f.occurredBefore) : undefined,
      ),
    )
    .orderBy(asc(streamEvents.seqNo))
    .limit(fetch)
    .as("sized");
  const rows = await db
    .select()
    .from(sized)
    .where(lt(sql`${sized.upTo} - ${sized.size}`, LIST_EVENTS_MAX_PAYLOAD_BYTES))
    .orderBy(asc(sized.seqNo));
  const last = rows[rows.length - 1];
  if (last && rows.length <= win.limit && Number(last.upTo) >= LIST_EVENTS_MAX_PAYLOAD_BYTES) {
    // Cut by bytes: the next page starts after the last event shipped.
    return { events: rows.map(toRecord), nextPageToken: nextToken(win, last.seqNo) };
  }
  const page = pageOf(rows, win, (r) => r.seqNo, toRecord);
  return { events: page.items, nextPageToken: page.nextPageToken };
}
