import type { Config } from "../config.js";
import type { BundleSettings } from "./bundles.js";
import { MAX_PROOF_TIMEOUT_MS } from "./receipts.js";
import type { Keyring } from "../crypto/keyring.js";
import type { Db } from "../db/db.js";
import type { Broadcast } from "../infra/broadcast.js";
import type { JobRuntime } from "../jobs/runtime.js";
import type { Logger } from "../logger.js";
import type { RequestIds } from "../request-ids/module.js";
import type { WebhookEmitter } from "../webhooks/module.js";
import type { AnchorReceiptSource } from "./bundles.js";

/** What the Proofstreams facade is built from. */
export interface ProofstreamDeps {
  db: Db;
  keyring: Keyring;
  jobs: JobRuntime;
  /** Where checkpoints and fork evidence are announced, in the same transaction. */
  events: WebhookEmitter;
  logger: Logger;
  /** Remembers CreateStream and CreateBundle request ids; without it (the CLI) every create creates. */
  requestIds?: RequestIds;
  /** Where bundles get their checkpoint's anchor receipts (the anchoring module, composed after this one). */
  anchorReceipts?: AnchorReceiptSource;
  /** Announces signed checkpoints to every instance's proof path; without it each instance learns of them by its head cache's lifetime. */
  broadcast?: Broadcast;
}

export interface ProofstreamSettings {
  /** Read when a stream is created: its origin is fixed then. */
  publicBaseUrl: () => string;
  tileCacheBytes: number;
  /** The proof path's entry bundles (each event's leaf bytes), in bytes. */
  leafCacheBytes: number;
  /** The appender's warm set (each stream's owner and the right edge of its tree), in bytes; 64 MiB when unset. */
  warmStreamBytes?: number;
  /** How long the proof path trusts its cached "latest checkpoint" of a stream when no announcement refreshes it. */
  headCacheMs: number;
  checkpointIntervalMs: number;
  /** Appends that wait for their proof: signing at most every `minIntervalMs` per stream, waits of at most `maxWaitMs`. */
  receipts: { minIntervalMs: number; maxWaitMs: number };
  selfAuditIntervalMs: number;
  selfAuditSample: number;
  selfAuditMaxLeaves: number;
  /** Verifier bundles: paging, chunking and size limits. */
  bundles: Omit<BundleSettings, "publicBaseUrl">;
}

/**
 * The proofstream module's settings. `publicBaseUrl` is read when a stream is
 * created: with port 0 the server's address is known only after listening.
 */
export function proofstreamSettings(config: Config, publicBaseUrl: () => string = () => config.publicBaseUrl): ProofstreamSettings {
  return {
    publicBaseUrl,
    tileCacheBytes: config.tileCacheBytes,
    leafCacheBytes: config.leafCacheBytes,
    headCacheMs: config.headCacheMs,
    checkpointIntervalMs: config.checkpointIntervalMs,
    receipts: {
      minIntervalMs: config.receiptSignIntervalMs,
      // A wait for proof ends a second before the request's own deadline would answer UNAVAILABLE for a durable append.
      maxWaitMs: config.requestDeadlineMs > 0 ? Math.max(100, Math.min(MAX_PROOF_TIMEOUT_MS, config.requestDeadlineMs - 1_000)) : MAX_PROOF_TIMEOUT_MS,
    },
    selfAuditIntervalMs: config.selfAuditIntervalMs,
    selfAuditSample: config.selfAuditSample,
    selfAuditMaxLeaves: config.selfAuditMaxLeaves,
    bundles: { maxEvents: config.bundleMaxEvents, pageSize: config.bundlePageSize, chunkBytes: config.bundleChunkBytes, inlineBytes: config.bundleInlineBytes },
  };
}
