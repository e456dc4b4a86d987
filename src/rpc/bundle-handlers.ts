import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { durationMs, type Duration } from "@bufbuild/protobuf/wkt";
import { BundleSchema, BundleShareLinkSchema, BundleStatus, type ProofstreamService } from "../../gen/ts/attesto/v1/proofstream_pb.js";
import type { Bundles, BundleView, ShareLinkView } from "../proofstream/module.js";
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

const shareLinkMsg = (l: ShareLinkView) =>
  create(BundleShareLinkSchema, {
    id: l.id,
    bundleId: l.bundleId,
    url: l.url,
    token: l.token,
    expiresAt: ts(l.expiresAt),
    createdAt: ts(l.createdAt),
    revokedAt: l.revokedAt ? ts(l.revokedAt) : undefined,
  });

/** A Duration as milliseconds (negative ones stay negative, for the domain to refuse); undefined when unset. */
const msOf = (d: Duration | undefined) => (d ? (d.seconds < 0n || d.nanos < 0 ? -1 : durationMs(d)) : undefined);

/** The bundle methods of ProofstreamService: thin handlers over src/proofstream/bundles.ts and bundle-shares.ts. */
export function bundleHandlers(deps: { bundles: Bundles }): Pick<ServiceImpl<typeof ProofstreamService>, "createBundle" | "getBundle" | "createBundleShareLink" | "revokeBundleShareLink"> {
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
          share: req.share,
          shareTtlMs: msOf(req.shareTtl),
        },
        req.requestId,
      );
      return { bundle: bundleMsg(bundle), shareLink: bundle.shareLink ? shareLinkMsg(bundle.shareLink) : undefined };
    },
    async getBundle(req, ctx) {
      return { bundle: bundleMsg(await deps.bundles.get(tenantOf(ctx).tenantId, req.bundleId)) };
    },
    async createBundleShareLink(req, ctx) {
      return { shareLink: shareLinkMsg(await deps.bundles.shares.create(tenantOf(ctx).tenantId, req.bundleId, msOf(req.ttl), req.requestId)) };
    },
    async revokeBundleShareLink(req, ctx) {
      return { shareLink: shareLinkMsg(await deps.bundles.shares.revoke(tenantOf(ctx).tenantId, req.shareLinkId)) };
    },
  };
}
