import { create } from "@bufbuild/protobuf";
import { durationMs, timestampDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  CheckpointSchema,
  EventSchema,
  ForkEvidenceKind,
  ForkEvidenceSchema,
  ForkEvidenceSource,
  ProofReceiptSchema,
  ProofReceiptStatus,
  type ProofstreamService,
  StreamKeySchema,
  StreamSchema,
} from "../../gen/ts/attesto/v1/proofstream_pb.js";
import { invalidArgument } from "../errors.js";
import type { CheckpointRecord, EventRecord, ForkEvidenceRecord, JsonObject, ProofReceipt, Proofstreams, Stream } from "../proofstream/module.js";
import { immutableOnGet, tenantOf } from "./context.js";
import { safeUint64, ts } from "./convert.js";

const streamMsg = (s: Stream) =>
  create(StreamSchema, {
    id: s.id,
    name: s.name,
    origin: s.origin,
    verifierKey: s.verifierKey,
    previousVerifierKeys: s.previousVerifierKeys,
    mlDsa44VerifierKey: s.mlDsa44VerifierKey,
    treeSize: BigInt(s.treeSize),
    checkpointSize: BigInt(s.checkpointSize),
    createdAt: ts(s.createdAt),
    keyHistory: s.keyHistory.map((k) =>
      create(StreamKeySchema, {
        verifierKey: k.verifierKey,
        algorithm: k.algorithm,
        generation: k.generation,
        takesOverAfter: BigInt(k.takesOverAfter),
        createdAt: ts(k.createdAt),
        retiredAt: k.retiredAt ? ts(k.retiredAt) : undefined,
        rotationStatement: k.rotationStatement,
      }),
    ),
  });

export const eventMsg = (e: EventRecord) =>
  create(EventSchema, {
    streamId: e.streamId,
    seqNo: BigInt(e.seqNo),
    sourceRef: e.sourceRef,
    eventType: e.eventType,
    occurredAt: ts(e.occurredAt),
    receivedAt: ts(e.receivedAt),
    payload: e.payload,
    payloadSha256: e.payloadSha256,
    leafHash: e.leafHash,
  });

/** An append's receipt (wait_for_proof) as the contract's ProofReceipt. */
export const receiptMsg = (r: ProofReceipt) =>
  r.status === "proven"
    ? create(ProofReceiptSchema, { status: ProofReceiptStatus.PROVEN, tlogProof: r.tlogProof, checkpointTreeSize: BigInt(r.checkpointTreeSize) })
    : create(ProofReceiptSchema, { status: ProofReceiptStatus.PENDING, pendingReason: r.reason });

const checkpointMsg = (c: CheckpointRecord) =>
  create(CheckpointSchema, {
    streamId: c.streamId,
    treeSize: BigInt(c.treeSize),
    rootHash: c.rootHash,
    note: c.note,
    signedAt: ts(c.signedAt),
    cosignatures: c.cosignatureCount,
    witnessed: c.witnessedAt !== null,
    timestampToken: c.timestampToken ?? new Uint8Array(0),
    timestampedAt: c.timestampedAt ? ts(c.timestampedAt) : undefined,
  });

const kinds: Record<ForkEvidenceRecord["kind"], ForkEvidenceKind> = {
  same_size_different_root: ForkEvidenceKind.SAME_SIZE_DIFFERENT_ROOT,
  inconsistent: ForkEvidenceKind.INCONSISTENT,
  anchor_contradiction: ForkEvidenceKind.ANCHOR_CONTRADICTION,
  self_audit_mismatch: ForkEvidenceKind.SELF_AUDIT_MISMATCH,
};
const sources: Record<ForkEvidenceRecord["source"], ForkEvidenceSource> = {
  submitted_checkpoint: ForkEvidenceSource.SUBMITTED_CHECKPOINT,
  anchor: ForkEvidenceSource.ANCHOR,
  self_audit: ForkEvidenceSource.SELF_AUDIT,
};

const forkMsg = (f: ForkEvidenceRecord) =>
  create(ForkEvidenceSchema, {
    id: f.id,
    streamId: f.streamId,
    kind: kinds[f.kind],
    source: sources[f.source],
    sourceDetail: f.sourceDetail,
    historyNote: f.historyNote,
    conflictingNote: f.conflictingNote,
    historySize: BigInt(f.historySize),
    conflictingSize: BigInt(f.conflictingSize),
    historyRoot: f.historyRoot,
    conflictingRoot: f.conflictingRoot,
    proofAttempt: {
      fromSize: BigInt(f.proofAttempt.fromSize),
      toSize: BigInt(f.proofAttempt.toSize),
      consistencyPath: f.proofAttempt.hashes.map((h) => Buffer.from(h, "hex")),
      failure: f.proofAttempt.failure,
    },
    detectedAt: ts(f.detectedAt),
  });

/**
 * ProofstreamService: thin handlers over the Proofstreams facade (its
 * bundle methods are in bundle-handlers.ts).
 */
export function proofstreamService({ proofstreams }: { proofstreams: Proofstreams }): Partial<ServiceImpl<typeof ProofstreamService>> {
  return {
    async createStream(req, ctx) {
      const stream = await proofstreams.createStream(tenantOf(ctx).tenantId, req.name, { requestId: req.requestId, mlDsa44: req.mlDsa44 });
      return { stream: streamMsg(stream) };
    },
    async rotateStreamKey(req, ctx) {
      const { rotation, stream, handover } = await proofstreams.rotations.rotate(tenantOf(ctx).tenantId, req.streamId);
      return {
        stream: streamMsg(stream),
        verifierKeys: rotation.verifierKeys,
        rotationStatement: rotation.statement,
        takesOverAfter: BigInt(rotation.takesOverAfter),
        handoverCheckpoint: handover && checkpointMsg(handover),
      };
    },
    async getStream(req, ctx) {
      return { stream: streamMsg(await proofstreams.getStream(tenantOf(ctx).tenantId, req.streamId)) };
    },
    async listStreams(req, ctx) {
      const page = await proofstreams.listStreams(tenantOf(ctx).tenantId, { pageSize: req.pageSize, pageToken: req.pageToken });
      return { streams: page.streams.map(streamMsg), nextPageToken: page.nextPageToken };
    },
    async appendEvent(req, ctx) {
      const result = await proofstreams.append({
        tenantId: tenantOf(ctx).tenantId,
        streamId: req.streamId,
        sourceRef: req.sourceRef,
        eventType: req.eventType,
        occurredAt: timestampDate(req.occurredAt!),
        payload: req.payload as JsonObject,
        waitForProof: req.waitForProof,
      });
      if (!req.waitForProof) return { event: eventMsg(result.event), duplicate: result.duplicate };
      const receipt = await proofstreams.receipt(result, req.proofTimeout ? durationMs(req.proofTimeout) : 0);
      return { event: eventMsg(result.event), duplicate: result.duplicate, proofReceipt: receiptMsg(receipt) };
    },
    async getEvent(req, ctx) {
      const ref = req.event.case === "seqNo" ? { seqNo: safeUint64(req.event.value, "seq_no") } : req.event.case === "sourceRef" ? { sourceRef: req.event.value } : undefined;
      if (!ref) throw invalidArgument("event", "set seq_no or source_ref");
      const event = await proofstreams.getEvent(tenantOf(ctx).tenantId, req.streamId, ref);
      immutableOnGet(ctx);
      return { event: eventMsg(event) };
    },
    async listEvents(req, ctx) {
      const page = await proofstreams.listEvents(tenantOf(ctx).tenantId, req.streamId, {
        fromSeqNo: safeUint64(req.fromSeqNo, "from_seq_no"),
        eventType: req.eventType,
        occurredAfter: req.occurredAfter && timestampDate(req.occurredAfter),
        occurredBefore: req.occurredBefore && timestampDate(req.occurredBefore),
        pageSize: req.pageSize,
        pageToken: req.pageToken,
      });
      return { events: page.events.map(eventMsg), nextPageToken: page.nextPageToken };
    },
    async getCheckpoint(req, ctx) {
      const checkpoint = await proofstreams.getCheckpoint(tenantOf(ctx).tenantId, req.streamId, safeUint64(req.treeSize, "tree_size"));
      if (req.treeSize > 0n) immutableOnGet(ctx);
      return { checkpoint: checkpointMsg(checkpoint) };
    },
    async createCheckpoint(req, ctx) {
      const { checkpoint, created } = await proofstreams.createCheckpoint(tenantOf(ctx).tenantId, req.streamId);
      return { checkpoint: checkpointMsg(checkpoint), created };
    },
    async getInclusionProof(req, ctx) {
      const leaf = req.leaf.case === "seqNo" ? { seqNo: safeUint64(req.leaf.value, "seq_no") } : req.leaf.case === "leafHash" ? { leafHash: Buffer.from(req.leaf.value) } : undefined;
      if (!leaf) throw invalidArgument("leaf", "set seq_no or leaf_hash");
      const proof = await proofstreams.inclusionProof(tenantOf(ctx).tenantId, req.streamId, leaf, safeUint64(req.treeSize, "tree_size"));
      const evidence = await proofstreams.proofEvidence(req.streamId, proof);
      if (req.treeSize > 0n) immutableOnGet(ctx);
      return {
        proof: {
          leafIndex: BigInt(proof.leafIndex),
          treeSize: BigInt(proof.treeSize),
          leafHash: proof.leafHash,
          auditPath: proof.hashes,
          checkpoint: checkpointMsg(proof.checkpoint),
          leaf: evidence.leaf,
        },
        tlogProof: evidence.tlogProof,
      };
    },
    async getConsistencyProof(req, ctx) {
      const proof = await proofstreams.consistencyProof(tenantOf(ctx).tenantId, req.streamId, safeUint64(req.fromSize, "from_size"), safeUint64(req.toSize, "to_size"));
      if (req.toSize > 0n) immutableOnGet(ctx);
      return { proof: { fromSize: BigInt(proof.fromSize), toSize: BigInt(proof.toSize), consistencyPath: proof.hashes, checkpoint: checkpointMsg(proof.checkpoint) } };
    },
    async submitCheckpoint(req, ctx) {
      const result = await proofstreams.submitCheckpoint({ tenantId: tenantOf(ctx).tenantId, streamId: req.streamId, note: req.note, submitter: req.submitter });
      return {
        consistent: result.consistent,
        forkEvidenceId: result.evidence?.id ?? "",
        checkpoint: result.latest && checkpointMsg(result.latest),
        consistencyProof: result.consistencyProof && {
          fromSize: BigInt(result.consistencyProof.fromSize),
          toSize: BigInt(result.consistencyProof.toSize),
          consistencyPath: result.consistencyProof.hashes,
          checkpoint: result.latest && checkpointMsg(result.latest),
        },
      };
    },
    async listForkEvidence(req, ctx) {
      const page = await proofstreams.listForkEvidence(tenantOf(ctx).tenantId, { streamId: req.streamId, pageSize: req.pageSize, pageToken: req.pageToken });
      return { forkEvidence: page.evidence.map(forkMsg), nextPageToken: page.nextPageToken };
    },
    async getForkEvidence(req, ctx) {
      return { forkEvidence: forkMsg(await proofstreams.getForkEvidence(tenantOf(ctx).tenantId, req.forkEvidenceId)) };
    },
  };
}
