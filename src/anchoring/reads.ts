import { and, asc, desc, eq, gt, inArray, lt, sql } from "drizzle-orm";
import type { Db } from "../db/db.js";
import { pageOf, pageWindow, type PageRequest } from "../db/pagination.js";
import { AppError } from "../errors.js";
import { splitHashes } from "./batch-tree.js";
import { anchorBatches, anchorMembers } from "./schema.js";

export type BatchStatus = (typeof anchorBatches.$inferSelect)["status"];

/** A batch as a tenant sees it: with the count of its own members. */
export type BatchView = typeof anchorBatches.$inferSelect & { tenantMemberCount: number };

export interface MemberView {
  streamId: string;
  treeSize: number;
  leafIndex: number;
  previousTreeSize: number;
}

export interface ReceiptView {
  streamId: string;
  treeSize: number;
  note: string;
  batch: typeof anchorBatches.$inferSelect;
  leafIndex: number;
  auditPath: Buffer[];
  previousTreeSize: number;
  consistencyProof: Buffer[];
}

const batchNotFound = () => new AppError("not_found", "batch not found", { reason: "RESOURCE_NOT_FOUND" });

/** The tenant's batches, newest first; `streamId` already checked to be the tenant's. */
export async function listBatches(db: Db, tenantId: string, filter: PageRequest & { status?: BatchStatus; streamId?: string }): Promise<{ batches: BatchView[]; nextPageToken: string }> {
  const win = pageWindow(filter);
  const { fetch, after: before } = win;
  const mine = db
    .select({ batchId: anchorMembers.batchId, n: sql<number>`count(*)::int`.as("n") })
    .from(anchorMembers)
    .where(and(eq(anchorMembers.tenantId, tenantId), filter.streamId ? eq(anchorMembers.streamId, filter.streamId) : undefined, before ? lt(anchorMembers.batchId, before) : undefined))
    .groupBy(anchorMembers.batchId)
    .as("mine");
  const rows = await db
    .select({ batch: anchorBatches, n: mine.n })
    .from(anchorBatches)
    .innerJoin(mine, eq(mine.batchId, anchorBatches.id))
    .where(filter.status ? eq(anchorBatches.status, filter.status) : undefined)
    .orderBy(desc(anchorBatches.id))
    .limit(fetch);
  const page = pageOf(
    rows,
    win,
    (r) => r.batch.id,
    (r) => ({ ...r.batch, tenantMemberCount: r.n }),
  );
  return { batches: page.items, nextPageToken: page.nextPageToken };
}

export async function getBatch(db: Db, tenantId: string, batchId: string): Promise<BatchView> {
  const [row] = await db
    .select({ batch: anchorBatches, n: sql<number>`count(*)::int` })
    .from(anchorBatches)
    .innerJoin(anchorMembers, and(eq(anchorMembers.batchId, anchorBatches.id), eq(anchorMembers.tenantId, tenantId)))
    .where(eq(anchorBatches.id, batchId))
    .groupBy(anchorBatches.id);
  if (!row) throw batchNotFound();
  return { ...row.batch, tenantMemberCount: row.n };
}

export async function listBatchMembers(db: Db, tenantId: string, batchId: string, page: PageRequest): Promise<{ members: MemberView[]; nextPageToken: string }> {
  await getBatch(db, tenantId, batchId);
  const win = pageWindow(page);
  const { fetch, after } = win;
  const rows = await db
    .select({ streamId: anchorMembers.streamId, treeSize: anchorMembers.treeSize, leafIndex: anchorMembers.leafIndex, previousTreeSize: anchorMembers.previousTreeSize })
    .from(anchorMembers)
    .where(and(eq(anchorMembers.batchId, batchId), eq(anchorMembers.tenantId, tenantId), after ? gt(anchorMembers.leafIndex, Number(after) || 0) : undefined))
    .orderBy(asc(anchorMembers.leafIndex))
    .limit(fetch);
  const out = pageOf(rows, win, (r) => r.leafIndex);
  return { members: out.items, nextPageToken: out.nextPageToken };
}

/**
 * The receipt of a stream's checkpoint of `treeSize` (0: the newest
 * confirmed one): from its confirmed batch, or an error saying why there is none.
 */
export async function getReceipt(db: Db, tenantId: string, streamId: string, treeSize: number): Promise<ReceiptView> {
  const statuses = treeSize ? (["pending", "submitted", "confirmed"] as const) : (["confirmed"] as const);
  const [row] = await db
    .select({ member: anchorMembers, batch: anchorBatches })
    .from(anchorMembers)
    .innerJoin(anchorBatches, eq(anchorBatches.id, anchorMembers.batchId))
    .where(and(eq(anchorMembers.tenantId, tenantId), eq(anchorMembers.streamId, streamId), treeSize ? eq(anchorMembers.treeSize, treeSize) : undefined, inArray(anchorBatches.status, [...statuses])))
    // A confirmed batch first, then the newest.
    .orderBy(sql`(${anchorBatches.status} = 'confirmed') DESC`, desc(anchorMembers.treeSize), desc(anchorBatches.id))
    .limit(1);
  if (!row) throw new AppError("not_found", treeSize ? `no anchored checkpoint of size ${treeSize}` : "no confirmed anchor for this stream yet", { reason: "ANCHOR_NOT_FOUND" });
  if (row.batch.status !== "confirmed") {
    throw new AppError("failed_precondition", `the batch holding this checkpoint is ${row.batch.status}, not confirmed yet`, { reason: "ANCHOR_NOT_CONFIRMED" });
  }
  const m = row.member;
  return {
    streamId: m.streamId,
    treeSize: m.treeSize,
    note: m.note,
    batch: row.batch,
    leafIndex: m.leafIndex,
    auditPath: splitHashes(m.auditPath),
    previousTreeSize: m.previousTreeSize,
    consistencyProof: splitHashes(m.consistencyProof),
  };
}

/** Receipts of confirmed batches for one checkpoint (a bundle's), oldest batch first. */
export async function confirmedReceiptsOf(db: Db, streamId: string, treeSize: number): Promise<ReceiptView[]> {
  const rows = await db
    .select({ member: anchorMembers, batch: anchorBatches })
    .from(anchorMembers)
    .innerJoin(anchorBatches, eq(anchorBatches.id, anchorMembers.batchId))
    .where(and(eq(anchorMembers.streamId, streamId), eq(anchorMembers.treeSize, treeSize), eq(anchorBatches.status, "confirmed")))
    .orderBy(asc(anchorBatches.id));
  return rows.map(({ member: m, batch }) => ({
    streamId: m.streamId,
    treeSize: m.treeSize,
    note: m.note,
    batch,
    leafIndex: m.leafIndex,
    auditPath: splitHashes(m.auditPath),
    previousTreeSize: m.previousTreeSize,
    consistencyProof: splitHashes(m.consistencyProof),
  }));
}
