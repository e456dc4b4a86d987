import type { Proofstreams } from "../proofstream/module.js";
import type { ConnectorKind } from "./schema.js";

/** What the Connectors facade takes and returns, and what its files share. */

/** A commit through the Proofstreams facade: same idempotency, replay and batching rules as AppendEvent. */
export type AppendResult = Awaited<ReturnType<Proofstreams["append"]>>;

/** A committed payload, as the Proofstreams append takes it. */
export type JsonObject = Parameters<Proofstreams["append"]>[0]["payload"];

/** What connectors use of the Proofstreams facade: appends, and the stream a new connector names. */
export type ConnectorStreams = Pick<Proofstreams, "append" | "occurredAtOf" | "getStream">;

export type GitLabTokenMode = "signing_token" | "legacy_token";

export interface S3Settings {
  /** Empty for AWS S3. */
  endpoint: string;
  region: string;
  bucket: string;
  keyPrefix: string;
  forcePathStyle: boolean;
}

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** Kind-specific settings, as stored (no secrets). */
export interface KindSettings {
  github?: { events: string[] };
  gitlab?: { tokenMode: GitLabTokenMode };
  s3?: S3Settings;
}

export interface Connector {
  id: string;
  tenantId: string;
  streamId: string;
  name: string;
  kind: ConnectorKind;
  settings: KindSettings;
  ingressUrl: string;
  createdAt: Date;
  secretRotatedAt: Date;
  previousSecretExpiresAt: Date | null;
  revokedAt: Date | null;
  /** Changes whenever the connector does (see etag.ts). */
  etag: string;
}

export interface CreateConnectorInput {
  streamId: string;
  name: string;
  kind: ConnectorKind;
  github?: { events: string[] };
  gitlab?: { tokenMode?: GitLabTokenMode };
  s3?: { endpoint?: string; region: string; bucket: string; keyPrefix: string; forcePathStyle: boolean } & S3Credentials;
  requestId?: string;
}

/** A connector with a secret shown once (create, rotate; empty for S3, whose credentials the caller gave). */
export interface ConnectorWithSecret {
  connector: Connector;
  secret: string;
}

/** The raw request as the provider adapters hand it over. */
export interface IngressRequest {
  /** Lower-case header names. */
  header: (name: string) => string | undefined;
  body: Buffer;
  /**
   * Called once the delivery's signature verified, before it is committed:
   * from then on the request is the connector's tenant's, and the edge may
   * stop counting it as a public (unauthenticated) one.
   */
  authenticated?: () => void;
}

/** What an ingress request ended in, for the edge to answer. */
export type IngressResult = { kind: "committed"; result: AppendResult } | { kind: "ping" } | { kind: "ignored"; event: string };

/** Identity and integrity metadata of one object version, as HeadObject returned it. */
export interface ObjectReceipt {
  bucket: string;
  key: string;
  /** "" when the bucket is not versioned. */
  versionId: string;
  /** Without quotes. */
  etag: string;
  size: number;
  lastModified: Date;
  contentType: string;
  /** "CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256" or "" when the store gives none. */
  checksumAlgorithm: string;
  checksumValue: string;
}

export type ConnectorStatus = "idle" | "healthy" | "auth_failed" | "replay_conflict" | "revoked";

export interface Diagnostics {
  connectorId: string;
  status: ConnectorStatus;
  lastSuccessAt: Date | null;
  lastSuccessKind: string;
  lastFailureAt: Date | null;
  lastFailureReason: string;
  counters: { accepted: number; duplicate: number; authFailure: number; replayConflict: number; rejected: number; ping: number; ignored: number };
}
