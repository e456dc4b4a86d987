import { and, desc, eq, lt } from "drizzle-orm";
import type { Keyring } from "../crypto/keyring.js";
import type { Db } from "../db/db.js";
import { withDbErrors } from "../db/errors.js";
import { streamKeys, streams } from "./schema.js";
import { notFound } from "../errors.js";
import { newId } from "../ids.js";
import { pageOf, pageWindow } from "../db/pagination.js";
import { requireActiveTenant } from "../tenancy/tenants.js";
import { newStreamKey, StreamKeys } from "./keys.js";
import { checkKeyName } from "./note.js";

export type StreamRow = typeof streams.$inferSelect;

export interface Stream extends StreamRow {
  verifierKey: string;
  previousVerifierKeys: string[];
}

/** `<public host>/proofstreams/<stream id>`: the checkpoint origin and note key name. */
export function originOf(publicBaseUrl: string, streamId: string): string {
  const origin = `${new URL(publicBaseUrl).host}/proofstreams/${streamId}`;
  checkKeyName(origin);
  return origin;
}

export async function createStream(db: Db, keyring: Keyring, opts: { tenantId: string; name: string; publicBaseUrl: string }): Promise<Stream> {
  await requireActiveTenant(db, opts.tenantId);
  const id = newId("str");
  const origin = originOf(opts.publicBaseUrl, id);
  const key = newStreamKey(keyring, id, origin);
  await withDbErrors(() =>
    db.transaction(async (tx) => {
      await tx.insert(streams).values({ id, tenantId: opts.tenantId, name: opts.name, origin });
      await tx.insert(streamKeys).values(key);
    }),
  );
  return getStream(db, opts.tenantId, id);
}

/** The stream row, only for its own tenant: another tenant's stream is not found. */
export async function getStreamRow(db: Db, tenantId: string, streamId: string): Promise<StreamRow> {
  const [row] = await db
    .select()
    .from(streams)
    .where(and(eq(streams.id, streamId), eq(streams.tenantId, tenantId)))
    .limit(1);
  if (!row) throw notFound("stream");
  return row;
}

export async function getStream(db: Db, tenantId: string, streamId: string): Promise<Stream> {
  return withKeys(db, await getStreamRow(db, tenantId, streamId));
}

/** Newest first. */
export async function listStreams(db: Db, tenantId: string, page: { pageSize?: number; pageToken?: string }): Promise<{ streams: Stream[]; nextPageToken: string }> {
  const win = pageWindow(page);
  const { fetch, after: before } = win;
  const rows = await db
    .select()
    .from(streams)
    .where(and(eq(streams.tenantId, tenantId), before ? lt(streams.id, before) : undefined))
    .orderBy(desc(streams.id))
    .limit(fetch);
  const { items, nextPageToken } = pageOf(rows, win, (r) => r.id);
  return { streams: await Promise.all(items.map((r) => withKeys(db, r))), nextPageToken };
}

async function withKeys(db: Db, row: StreamRow): Promise<Stream> {
  const keys = await StreamKeys.verifierKeys(db, row.id, row.origin);
  return { ...row, verifierKey: keys.current, previousVerifierKeys: keys.previous };
}
