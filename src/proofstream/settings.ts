import type { Config } from "../config.js";
import type { ProofstreamSettings } from "./module.js";
import { MAX_PROOF_TIMEOUT_MS } from "./receipts.js";

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
