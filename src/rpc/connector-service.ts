import { create } from "@bufbuild/protobuf";
import { durationMs, type Duration } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  ConnectorDiagnosticsSchema,
  ConnectorKind,
  ConnectorSchema,
  ConnectorStatus,
  GitLabConfig_TokenMode,
  ObjectReceiptSchema,
  type Connector as ConnectorMsg,
  type ConnectorService,
} from "../../gen/ts/attesto/v1/connector_pb.js";
import type { Connector, Connectors, ConnectorStatus as Status, Diagnostics, GitLabTokenMode } from "../connectors/module.js";
import type { ConnectorKind as Kind } from "../connectors/schema.js";
import { invalidArgument } from "../errors.js";
import { tenantOf } from "./context.js";
import { eventMsg, receiptMsg } from "./proofstream-service.js";
import type { Proofstreams } from "../proofstream/module.js";
import { ts } from "./convert.js";

const kinds: Record<Kind, ConnectorKind> = {
  signed_webhook: ConnectorKind.SIGNED_WEBHOOK,
  github: ConnectorKind.GITHUB,
  gitlab: ConnectorKind.GITLAB,
  s3_object: ConnectorKind.S3_OBJECT,
};
const kindOf = (k: ConnectorKind): Kind | undefined => (Object.entries(kinds) as Array<[Kind, ConnectorKind]>).find(([, v]) => v === k)?.[0];

const tokenModes: Record<GitLabTokenMode, GitLabConfig_TokenMode> = {
  signing_token: GitLabConfig_TokenMode.SIGNING_TOKEN,
  legacy_token: GitLabConfig_TokenMode.LEGACY_TOKEN,
};

const statuses: Record<Status, ConnectorStatus> = {
  idle: ConnectorStatus.IDLE,
  healthy: ConnectorStatus.HEALTHY,
  auth_failed: ConnectorStatus.AUTH_FAILED,
  replay_conflict: ConnectorStatus.REPLAY_CONFLICT,
  revoked: ConnectorStatus.REVOKED,
};

export const connectorMsg = (c: Connector): ConnectorMsg =>
  create(ConnectorSchema, {
    id: c.id,
    streamId: c.streamId,
    name: c.name,
    kind: kinds[c.kind],
    config: c.settings.gitlab
      ? { case: "gitlab", value: { tokenMode: tokenModes[c.settings.gitlab.tokenMode] } }
      : c.settings.s3
        ? { case: "s3Object", value: { ...c.settings.s3 } }
        : c.settings.github
          ? { case: "github", value: { events: c.settings.github.events } }
          : { case: undefined },
    ingressUrl: c.ingressUrl,
    createdAt: ts(c.createdAt),
    secretRotatedAt: ts(c.secretRotatedAt),
    previousSecretExpiresAt: ts(c.previousSecretExpiresAt),
    revokedAt: ts(c.revokedAt),
    etag: c.etag,
  });

export const diagnosticsMsg = (d: Diagnostics) =>
  create(ConnectorDiagnosticsSchema, {
    connectorId: d.connectorId,
    status: statuses[d.status],
    lastSuccessAt: ts(d.lastSuccessAt),
    lastSuccessKind: d.lastSuccessKind,
    lastFailureAt: ts(d.lastFailureAt),
    lastFailureReason: d.lastFailureReason,
    counters: {
      acceptedCount: BigInt(d.counters.accepted),
      duplicateCount: BigInt(d.counters.duplicate),
      authFailureCount: BigInt(d.counters.authFailure),
      replayConflictCount: BigInt(d.counters.replayConflict),
      rejectedCount: BigInt(d.counters.rejected),
      pingCount: BigInt(d.counters.ping),
      ignoredCount: BigInt(d.counters.ignored),
    },
  });

/** A Duration as milliseconds; undefined when unset. */
function overlapMs(d: Duration | undefined): number | undefined {
  if (!d) return undefined;
  if (d.seconds < 0n || d.nanos < 0) throw invalidArgument("overlap", "must not be negative");
  if (d.seconds > 7n * 24n * 3600n) throw invalidArgument("overlap", "must be at most 7 days");
  return Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6);
}

/** ConnectorService: thin handlers over src/connectors, scoped by the caller's tenant. */
export function connectorService({ connectors, proofstreams }: { connectors: Connectors; proofstreams: Pick<Proofstreams, "receipt"> }): Partial<ServiceImpl<typeof ConnectorService>> {
  return {
    async createConnector(req, ctx) {
      const kind = kindOf(req.kind);
      if (!kind) throw invalidArgument("kind", "must be set to a known value");
      const config = req.config;
      const { connector, secret } = await connectors.create(tenantOf(ctx).tenantId, {
        streamId: req.streamId,
        name: req.name,
        kind,
        requestId: req.requestId,
        github: config.case === "github" ? { events: config.value.events } : undefined,
        gitlab: config.case === "gitlab" ? { tokenMode: config.value.tokenMode === GitLabConfig_TokenMode.LEGACY_TOKEN ? "legacy_token" : "signing_token" } : undefined,
        s3:
          config.case === "s3Object"
            ? {
                endpoint: config.value.endpoint,
                region: config.value.region,
                bucket: config.value.bucket,
                keyPrefix: config.value.keyPrefix,
                forcePathStyle: config.value.forcePathStyle,
                accessKeyId: config.value.accessKeyId,
                secretAccessKey: config.value.secretAccessKey,
              }
            : undefined,
      });
      return { connector: connectorMsg(connector), secret };
    },
    async getConnector(req, ctx) {
      return { connector: connectorMsg(await connectors.get(tenantOf(ctx).tenantId, req.connectorId)) };
    },
    async listConnectors(req, ctx) {
      const page = await connectors.list(tenantOf(ctx).tenantId, {
        pageSize: req.pageSize,
        pageToken: req.pageToken,
        streamId: req.streamId,
        includeRevoked: req.includeRevoked,
      });
      return { connectors: page.connectors.map(connectorMsg), nextPageToken: page.nextPageToken };
    },
    async rotateConnectorSecret(req, ctx) {
      const { connector, secret } = await connectors.rotate(tenantOf(ctx).tenantId, req.connectorId, {
        overlapMs: overlapMs(req.overlap),
        credentials: req.accessKeyId !== undefined || req.secretAccessKey !== undefined ? { accessKeyId: req.accessKeyId, secretAccessKey: req.secretAccessKey } : undefined,
        etag: req.etag || undefined,
      });
      return { connector: connectorMsg(connector), secret };
    },
    async revokeConnector(req, ctx) {
      return { connector: connectorMsg(await connectors.revoke(tenantOf(ctx).tenantId, req.connectorId, req.etag || undefined)) };
    },
    async commitS3Object(req, ctx) {
      const { result, receipt } = await connectors.commitS3Object(tenantOf(ctx).tenantId, req.connectorId, {
        key: req.key,
        versionId: req.versionId,
        metadata: req.metadata,
      });
      const proofReceipt = req.waitForProof ? receiptMsg(await proofstreams.receipt(result, req.proofTimeout ? durationMs(req.proofTimeout) : 0)) : undefined;
      return {
        event: eventMsg(result.event),
        duplicate: result.duplicate,
        proofReceipt,
        receipt: create(ObjectReceiptSchema, {
          bucket: receipt.bucket,
          key: receipt.key,
          versionId: receipt.versionId,
          etag: receipt.etag,
          size: BigInt(receipt.size),
          checksumAlgorithm: receipt.checksumAlgorithm,
          checksumValue: receipt.checksumValue,
          lastModified: ts(receipt.lastModified),
          contentType: receipt.contentType,
        }),
      };
    },
    async getConnectorDiagnostics(req, ctx) {
      return { diagnostics: diagnosticsMsg(await connectors.diagnostics(tenantOf(ctx).tenantId, req.connectorId)) };
    },
  };
}
