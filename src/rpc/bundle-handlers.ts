import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { BundleSchema, BundleStatus, type ProofstreamService } from "../../gen/ts/attesto/v1/proofstream_pb.js";
import type { Bundles, BundleView } from "../proofstream/module.js";
import { tenantOf } from "./context.js";
import { safeUint64, ts } from "./convert.js";

const statuses: Record<BundleView["status"], BundleStatus> = {
  pending: BundleStatus.PENDING,
  ready: BundleStatus.READY,
  failed: BundleStatus.FAILED,
};

const bundleMsg = (b: BundleView) =>
  create(BundleSchema, {
    id: b.id,
    streamId: b.streamId,
    fromSeqNo: BigInt(b.fromSeqNo),
    toSeqNo: BigInt(b.toSeqNo),
    includePayloads: b.includePayloads,
    includeInclusionProofs: b.includeInclusionProofs,
    status: statuses[b.status],
    bundleJson: b.bundleJson,
    verificationUrl: b.verificationUrl,
    checkpointSize: BigInt(b.checkpointSize),
    failureReason: b.failureReason,
    createdAt: ts(b.createdAt),
    completedAt: b.completedAt ? ts(b.completedAt) : undefined,
    eventsDone: BigInt(b.eventsDone),
    sizeBytes: BigInt(b.sizeBytes),
    downloadUrl: b.downloadUrl,
  });

/** CreateBundle and GetBundle of ProofstreamService: thin handlers over src/proofstream/bundles.ts. */
export function bundleHandlers(deps: { bundles: Bundles }): Pick<ServiceImpl<typeof ProofstreamService>, "createBundle" | "getBundle"> {
  return {
    async createBundle(req, ctx) {
      const bundle = await deps.bundles.create(
        tenantOf(ctx).tenantId,
        {
          streamId: req.streamId,
          fromSeqNo: safeUint64(req.fromSeqNo, "from_seq_no"),
          toSeqNo: safeUint64(req.toSeqNo, "to_seq_no"),
          includePayloads: req.includePayloads,
          includeInclusionProofs: req.includeInclusionProofs,
        },
        req.requestId,
      );
      return { bundle: bundleMsg(bundle) };
    },
    async getBundle(req, ctx) {
      return { bundle: bundleMsg(await deps.bundles.get(tenantOf(ctx).tenantId, req.bundleId)) };
    },
  };
}
