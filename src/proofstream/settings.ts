import type { Config } from "../config.js";
import type { ProofstreamSettings } from "./module.js";

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
    selfAuditIntervalMs: config.selfAuditIntervalMs,
    selfAuditSample: config.selfAuditSample,
    selfAuditMaxLeaves: config.selfAuditMaxLeaves,
    bundles: { maxEvents: config.bundleMaxEvents, pageSize: config.bundlePageSize, chunkBytes: config.bundleChunkBytes, inlineBytes: config.bundleInlineBytes },
  };
}
