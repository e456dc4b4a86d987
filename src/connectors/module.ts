import type { Keyring } from "../crypto/keyring.js";
import type { Db } from "../db/db.js";
import type { Broadcast } from "../infra/broadcast.js";
import type { Logger } from "../logger.js";
import type { RequestIds } from "../request-ids/module.js";
import type { Tenancy } from "../tenancy/module.js";
import type { IngressDeps } from "./ingress.js";
import { ingestGitHub } from "./ingress-github.js";
import { ingestGitLab } from "./ingress-gitlab.js";
import { ingestSignedWebhook } from "./ingress-signed-webhook.js";
import { LiveConnectors } from "./live.js";
import { ConnectorRegistry } from "./registry.js";
import { commitS3Object } from "./s3-commit.js";
import type { ConnectorSettings } from "./settings.js";
import { ConnectorStats } from "./stats.js";
import type { AppendResult, Connector, ConnectorStreams, ConnectorWithSecret, CreateConnectorInput, Diagnostics, IngressRequest, IngressResult, ObjectReceipt, S3Credentials } from "./types.js";

// The object receipt's committed form (the REST answer's too) and the metadata rule the contract's validator applies.
/** Where this module keeps values sealed with the keyring (`attesto reseal`). */
export { sealedColumns } from "./sealed.js";
export { checkMetadata, receiptJson } from "./s3.js";
export type * from "./types.js";

export interface ConnectorDeps {
  db: Db;
  keyring: Keyring;
  /** Commits go through its append (same idempotency, replay and batching rules as AppendEvent); a new connector's stream is read through it. */
  proofstreams: ConnectorStreams;
  /** A deactivated tenant's connectors fail closed like its API keys. */
  tenancy: Pick<Tenancy, "isActiveTenant">;
  /** Remembers CreateConnector request ids; without it (the CLI) every create creates. */
  requestIds?: RequestIds;
  /** Evictions to and from the other instances; without one (a CLI with no Redis) caches expire on their own. */
  broadcast?: Broadcast;
  logger: Logger;
}

/**
 * The connectors domain: management (registry.ts: create, rotate, revoke;
 * secrets sealed and shown once), the per-instance cache ingress reads
 * (live.ts), ingress for each kind (verify over the raw bytes, normalize,
 * commit through the Proofstreams append), S3 object commits and batched
 * diagnostics (stats.ts).
 */
export class Connectors {
  readonly stats: ConnectorStats;
  readonly #live: LiveConnectors;
  readonly #registry: ConnectorRegistry;
  readonly #ingress: IngressDeps;
  #flushTimer: NodeJS.Timeout | undefined;

  constructor(
    deps: ConnectorDeps,
    private readonly settings: ConnectorSettings,
  ) {
    this.stats = new ConnectorStats({ db: deps.db, logger: deps.logger });
    this.#live = new LiveConnectors({ db: deps.db, keyring: deps.keyring, tenancy: deps.tenancy, broadcast: deps.broadcast }, settings.cacheMs);
    this.#registry = new ConnectorRegistry({ db: deps.db, keyring: deps.keyring, proofstreams: deps.proofstreams, requestIds: deps.requestIds, live: this.#live }, settings);
    this.#ingress = { live: this.#live, stats: this.stats, proofstreams: deps.proofstreams };
  }

  /** Listens for revocations of other instances and flushes diagnostics periodically. */
  async start(): Promise<void> {
    await this.#live.start();
    this.#flushTimer = setInterval(() => void this.stats.flush(), this.settings.statsFlushMs);
    this.#flushTimer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.#flushTimer);
    this.#live.close();
    await this.stats.flush();
  }

  // ---- management ------------------------------------------------------

  create(tenantId: string, input: CreateConnectorInput): Promise<ConnectorWithSecret> {
    return this.#registry.create(tenantId, input);
  }

  get(tenantId: string, id: string): Promise<Connector> {
    return this.#registry.get(tenantId, id);
  }

  /** Newest first. */
  list(tenantId: string, opts: { pageSize?: number; pageToken?: string; streamId?: string; includeRevoked?: boolean } = {}) {
    return this.#registry.list(tenantId, opts);
  }

  /** Replaces the secret (S3: the credentials); the previous one stays valid for the overlap. */
  rotate(tenantId: string, id: string, opts: { overlapMs?: number; credentials?: Partial<S3Credentials>; etag?: string } = {}): Promise<ConnectorWithSecret> {
    return this.#registry.rotate(tenantId, id, opts);
  }

  /** Disables ingress for good and destroys the secrets, on every instance at once. Idempotent. */
  revoke(tenantId: string, id: string, etag?: string): Promise<Connector> {
    return this.#registry.revoke(tenantId, id, etag);
  }

  /** The tenant of a connector, for the operator CLI; NOT_FOUND when unknown. */
  tenantOf(id: string): Promise<string> {
    return this.#registry.tenantOf(id);
  }

  /** This instance's pending outcomes are flushed first, so they show. */
  async diagnostics(tenantId: string, id: string): Promise<Diagnostics> {
    const connector = await this.#registry.get(tenantId, id);
    await this.stats.flush();
    return this.stats.read(id, connector.revokedAt !== null);
  }

  // ---- ingress ---------------------------------------------------------

  /** POST /v2/connectors/signed-webhooks/{id}/events. */
  ingestSignedWebhook(id: string, req: IngressRequest): Promise<IngressResult> {
    return ingestSignedWebhook(this.#ingress, id, req);
  }

  /** POST /v2/connectors/github/{id}/events. */
  ingestGitHub(id: string, req: IngressRequest): Promise<IngressResult> {
    return ingestGitHub(this.#ingress, id, req);
  }

  /** POST /v2/connectors/gitlab/{id}/events. */
  ingestGitLab(id: string, req: IngressRequest): Promise<IngressResult> {
    return ingestGitLab(this.#ingress, id, req);
  }

  /** CommitS3Object: a real HeadObject, then the receipt and the metadata committed. */
  commitS3Object(tenantId: string, id: string, input: { key: string; versionId: string; metadata: Record<string, unknown> }): Promise<{ result: AppendResult; receipt: ObjectReceipt }> {
    return commitS3Object({ ...this.#ingress, settings: this.settings }, tenantId, id, input);
  }
}
