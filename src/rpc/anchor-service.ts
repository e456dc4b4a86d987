import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { AnchorReceiptSchema, type AnchorService, BatchMemberSchema, BatchSchema, BatchStatus, ConfirmationRule } from "../../gen/ts/attesto/v1/anchor_pb.js";
import type { Anchoring, BatchView, ReceiptView } from "../anchoring/module.js";
import { tenantOf } from "./context.js";
import { safeUint64, ts } from "./convert.js";

const statusMsg: Record<BatchView["status"], BatchStatus> = {
  pending: BatchStatus.PENDING,
  submitted: BatchStatus.SUBMITTED,
  confirmed: BatchStatus.CONFIRMED,
  failed: BatchStatus.FAILED,
};
const statusOf: Partial<Record<BatchStatus, BatchView["status"]>> = {
  [BatchStatus.PENDING]: "pending",
  [BatchStatus.SUBMITTED]: "submitted",
  [BatchStatus.CONFIRMED]: "confirmed",
  [BatchStatus.FAILED]: "failed",
};
const ruleMsg = (rule: BatchView["confirmationRule"]) => (rule === "finalized" ? ConfirmationRule.FINALIZED : rule === "confirmations" ? ConfirmationRule.CONFIRMATIONS : ConfirmationRule.UNSPECIFIED);

const batchMsg = (b: BatchView) =>
  create(BatchSchema, {
    id: b.id,
    status: statusMsg[b.status],
    root: b.root,
    chainId: BigInt(b.chainId),
    txHash: b.txHash ?? "",
    blockNumber: BigInt(b.blockNumber ?? 0),
    blockHash: b.blockHash ?? "",
    memberCount: b.memberCount,
    createdAt: ts(b.createdAt),
    submittedAt: ts(b.submittedAt),
    confirmedAt: ts(b.confirmedAt),
    failureReason: b.failureReason,
    blockTime: ts(b.blockTime),
    confirmationRule: ruleMsg(b.confirmationRule),
    confirmations: b.confirmations,
    tenantMemberCount: b.tenantMemberCount,
  });

const receiptMsg = (r: ReceiptView) =>
  create(AnchorReceiptSchema, {
    streamId: r.streamId,
    treeSize: BigInt(r.treeSize),
    checkpointNote: r.note,
    batchId: r.batch.id,
    chainId: BigInt(r.batch.chainId),
    txHash: r.batch.txHash ?? "",
    blockNumber: BigInt(r.batch.blockNumber ?? 0),
    blockHash: r.batch.blockHash ?? "",
    batchRoot: r.batch.root,
    batchSize: BigInt(r.batch.memberCount),
    leafIndex: BigInt(r.leafIndex),
    auditPath: r.auditPath,
    previousTreeSize: BigInt(r.previousTreeSize),
    consistencyProof: r.consistencyProof,
    confirmedAt: ts(r.batch.confirmedAt),
    blockTime: ts(r.batch.blockTime),
    confirmationRule: ruleMsg(r.batch.confirmationRule),
    confirmations: r.batch.confirmations,
  });

/** AnchorService: thin conversion around the Anchoring facade. */
export function anchorService(deps: { anchoring: Anchoring }): ServiceImpl<typeof AnchorService> {
  const { anchoring } = deps;
  return {
    async listBatches(req, ctx) {
      const { tenantId } = tenantOf(ctx);
      const out = await anchoring.listBatches(tenantId, { pageSize: req.pageSize, pageToken: req.pageToken, status: statusOf[req.status], streamId: req.streamId });
      return { batches: out.batches.map(batchMsg), nextPageToken: out.nextPageToken };
    },
    async getBatch(req, ctx) {
      return { batch: batchMsg(await anchoring.getBatch(tenantOf(ctx).tenantId, req.batchId)) };
    },
    async listBatchMembers(req, ctx) {
      const out = await anchoring.listBatchMembers(tenantOf(ctx).tenantId, req.batchId, { pageSize: req.pageSize, pageToken: req.pageToken });
      return {
        members: out.members.map((m) =>
          create(BatchMemberSchema, { streamId: m.streamId, treeSize: BigInt(m.treeSize), leafIndex: BigInt(m.leafIndex), previousTreeSize: BigInt(m.previousTreeSize) }),
        ),
        nextPageToken: out.nextPageToken,
      };
    },
    async getAnchorReceipt(req, ctx) {
      return { receipt: receiptMsg(await anchoring.getReceipt(tenantOf(ctx).tenantId, req.streamId, safeUint64(req.treeSize, "tree_size"))) };
    },
  };
}
