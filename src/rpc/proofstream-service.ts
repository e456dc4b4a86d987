import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  CheckpointSchema,
  EventSchema,
  ForkEvidenceKind,
  ForkEvidenceSchema,
  ForkEvidenceSource,
  type ProofstreamService,
  StreamSchema,
} from "../../gen/ts/attesto/v1/proofstream_pb.js";
import type { Db } from "../db/db.js";
import { invalidArgument } from "../errors.js";
import type { EventRecord } from "../proofstream/append.js";
import { getCheckpoint, type CheckpointRecord } from "../proofstream/checkpoints.js";
import { getEvent, listEvents } from "../proofstream/events-query.js";
import { getForkEvidence, listForkEvidence, submitCheckpoint, type ForkEvidenceRecord } from "../proofstream/forks.js";
import type { JsonObject } from "../proofstream/leaf.js";
import type { Proofstreams } from "../proofstream/module.js";
import { consistencyProofToCheckpoint, inclusionProof } from "../proofstream/proofs.js";
import { tlogProofOf } from "../proofstream/tlog-proof.js";
import { createStream, getStream, getStreamRow, listStreams, type Stream } from "../proofstream/streams.js";
import { tenantOf } from "./context.js";
import { ts } from "./convert.js";

/** uint64 from the wire, as a safe JS number (larger values cannot name anything stored). */
function count(value: bigint, field: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw invalidArgument(field, "is too large");
  return Number(value);
}

const streamMsg = (s: Stream) =>
  create(StreamSchema, {
    id: s.id,
    name: s.name,
    origin: s.origin,
    verifierKey: s.verifierKey,
    previousVerifierKeys: s.previousVerifierKeys,
    treeSize: BigInt(s.treeSize),
    checkpointSize: BigInt(s.checkpointSize),
    createdAt: ts(s.createdAt),
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

const checkpointMsg = (c: CheckpointRecord) =>
  create(CheckpointSchema, { streamId: c.streamId, treeSize: BigInt(c.treeSize), rootHash: c.rootHash, note: c.note, signedAt: ts(c.signedAt) });

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
      hashes: f.proofAttempt.hashes.map((h) => Buffer.from(h, "hex")),
      failure: f.proofAttempt.failure,
    },
    detectedAt: ts(f.detectedAt),
  });

/**
 * ProofstreamService: thin handlers over src/proofstream. Bundles arrive
 * with their own issue and answer UNIMPLEMENTED until then.
 */
export function proofstreamService(deps: { db: Db; proofstreams: Proofstreams }): Partial<ServiceImpl<typeof ProofstreamService>> {
  const { db, proofstreams } = deps;
  const { tileStore } = proofstreams;
  return {
    async createStream(req, ctx) {
      const stream = await createStream(db, proofstreams.deps.keyring, { tenantId: tenantOf(ctx).tenantId, name: req.name, publicBaseUrl: proofstreams.options.publicBaseUrl() });
      return { stream: streamMsg(stream) };
    },
    async getStream(req, ctx) {
      return { stream: streamMsg(await getStream(db, tenantOf(ctx).tenantId, req.streamId)) };
    },
    async listStreams(req, ctx) {
      const page = await listStreams(db, tenantOf(ctx).tenantId, { pageSize: req.page?.pageSize, pageToken: req.page?.pageToken });
      return { streams: page.streams.map(streamMsg), page: { nextPageToken: page.nextPageToken } };
    },
    async appendEvent(req, ctx) {
      const result = await proofstreams.appender.append({
        tenantId: tenantOf(ctx).tenantId,
        streamId: req.streamId,
        sourceRef: req.sourceRef,
        eventType: req.eventType,
        occurredAt: timestampDate(req.occurredAt!),
        payload: req.payload as JsonObject,
      });
      return { event: eventMsg(result.event), duplicate: result.duplicate };
    },
    async getEvent(req, ctx) {
      return { event: eventMsg(await getEvent(db, tenantOf(ctx).tenantId, req.streamId, count(req.seqNo, "seq_no"))) };
    },
    async listEvents(req, ctx) {
      const page = await listEvents(db, tenantOf(ctx).tenantId, req.streamId, {
        fromSeqNo: count(req.fromSeqNo, "from_seq_no"),
        eventType: req.eventType,
        occurredAfter: req.occurredAfter && timestampDate(req.occurredAfter),
        occurredBefore: req.occurredBefore && timestampDate(req.occurredBefore),
        pageSize: req.page?.pageSize,
        pageToken: req.page?.pageToken,
      });
      return { events: page.events.map(eventMsg), page: { nextPageToken: page.nextPageToken } };
    },
    async getCheckpoint(req, ctx) {
      return { checkpoint: checkpointMsg(await getCheckpoint(db, tenantOf(ctx).tenantId, req.streamId, count(req.treeSize, "tree_size"))) };
    },
    async createCheckpoint(req, ctx) {
      await getStreamRow(db, tenantOf(ctx).tenantId, req.streamId);
      const { checkpoint, created } = await proofstreams.checkpointer.checkpoint(req.streamId);
      return { checkpoint: checkpointMsg(checkpoint), created };
    },
    async getInclusionProof(req, ctx) {
      const leaf =
        req.leaf.case === "seqNo"
          ? { seqNo: count(req.leaf.value, "seq_no") }
          : req.leaf.case === "leafHash"
            ? { leafHash: Buffer.from(req.leaf.value) }
            : undefined;
      if (!leaf) throw invalidArgument("leaf", "set seq_no or leaf_hash");
      const proof = await inclusionProof(db, proofstreams, tenantOf(ctx).tenantId, req.streamId, leaf, count(req.treeSize, "tree_size"));
      return {
        proof: {
          leafIndex: BigInt(proof.leafIndex),
          treeSize: BigInt(proof.treeSize),
          leafHash: proof.leafHash,
          hashes: proof.hashes,
          checkpoint: checkpointMsg(proof.checkpoint),
        },
        tlogProof: await tlogProofOf(db, req.streamId, proof),
      };
    },
    async getConsistencyProof(req, ctx) {
      const proof = await consistencyProofToCheckpoint(db, proofstreams, tenantOf(ctx).tenantId, req.streamId, count(req.fromSize, "from_size"), count(req.toSize, "to_size"));
      return { proof: { fromSize: BigInt(proof.fromSize), toSize: BigInt(proof.toSize), hashes: proof.hashes, checkpoint: checkpointMsg(proof.checkpoint) } };
    },
    async submitCheckpoint(req, ctx) {
      const result = await submitCheckpoint(
        { db, tileStore, events: proofstreams.deps.events },
        { tenantId: tenantOf(ctx).tenantId, streamId: req.streamId, note: req.note, submitter: req.submitter },
      );
      return {
        consistent: result.consistent,
        forkEvidenceId: result.evidence?.id ?? "",
        checkpoint: result.latest && checkpointMsg(result.latest),
        consistencyProof: result.consistencyProof && {
          fromSize: BigInt(result.consistencyProof.fromSize),
          toSize: BigInt(result.consistencyProof.toSize),
          hashes: result.consistencyProof.hashes,
          checkpoint: result.latest && checkpointMsg(result.latest),
        },
      };
    },
    async listForkEvidence(req, ctx) {
      const page = await listForkEvidence(db, tenantOf(ctx).tenantId, { streamId: req.streamId, pageSize: req.page?.pageSize, pageToken: req.page?.pageToken });
      return { forkEvidence: page.evidence.map(forkMsg), page: { nextPageToken: page.nextPageToken } };
    },
    async getForkEvidence(req, ctx) {
      return { forkEvidence: forkMsg(await getForkEvidence(db, tenantOf(ctx).tenantId, req.forkEvidenceId)) };
    },
  };
}
