import type { Config } from "../config.js";
import type { OutboundPolicy } from "../net/outbound.js";

export interface ConnectorSettings {
  /** Read when a connector is shown: ingress URLs are absolute. */
  publicBaseUrl: () => string;
  /** Rotation overlap when the request gives none. */
  secretOverlapMs: number;
  /** How long an instance trusts a connector it loaded (revocations evict at once through Redis). */
  cacheMs: number;
  /** How often batched diagnostics are written. */
  statsFlushMs: number;
  /** The outbound guard of S3 endpoints. */
  policy: OutboundPolicy;
  /** Budget of one HeadObject call. */
  s3TimeoutMs: number;
}

/** The connectors' settings from the configuration; `publicBaseUrl` is read each time a connector is shown. */
export const connectorSettings = (config: Config, publicBaseUrl: () => string): ConnectorSettings => ({
  publicBaseUrl,
  secretOverlapMs: config.connectorSecretOverlapMs,
  cacheMs: config.connectorCacheMs,
  statsFlushMs: config.connectorStatsFlushMs,
  s3TimeoutMs: config.connectorS3TimeoutMs,
  policy: { allowLoopback: config.connectorAllowLoopback, loopbackSetting: "ATTESTO_CONNECTOR_ALLOW_LOOPBACK" },
});
