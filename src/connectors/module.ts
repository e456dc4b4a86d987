import { randomBytes } from "node:crypto";
import { and, desc, eq, isNull, lt, sql } from "drizzle-orm";
import { LRUCache } from "lru-cache";
import type { Keyring } from "../crypto/keyring.js";
import type { Db } from "../db/db.js";
import { isUniqueViolation, normalizeDbError } from "../db/errors.js";
import { pageOf, pageWindow } from "../db/pagination.js";
import { tenants } from "../tenancy/schema.js";
import { AppError, invalidArgument, notFound } from "../errors.js";
import { checkStorableJson, checkStorableText } from "../db/storable.js";
import { newId } from "../ids.js";
import type { Broadcast } from "../infra/broadcast.js";
import { AUTH_EVICT_CHANNEL } from "../tenancy/module.js";
import type { Logger } from "../logger.js";
import { checkOutboundUrl, type OutboundPolicy } from "../net/outbound.js";
import type { AppendResult, Appender } from "../proofstream/append.js";
import { getStreamRow } from "../proofstream/streams.js";
import { deliveryId, gitHubPush, gitLabPush, parseJsonObject, signedWebhookEvent, type NormalizedEvent } from "./normalize.js";
import { connectors, type ConnectorKind } from "./schema.js";
import { SIGNING_TOKEN_PREFIX, verifyGitHub, verifyGitLabToken, verifySignedWebhook, verifyStandardWebhook, type SignatureVerdict } from "./signatures.js";
import { checkKey, checkMetadata, objectEvent, ObjectStore, type ObjectReceipt } from "./s3.js";
import { checkEtag, etagOf } from "../etag.js";
import { ConnectorStats, type Diagnostics } from "./stats.js";

/** Encryption context (HKDF info) of sealed connector secrets and credentials. */
export const CONNECTOR_SECRET_CONTEXT = "connectors.secret";

/** The longest rotation overlap a request may ask for. */
export const MAX_SECRET_OVERLAP_MS = 7 * 24 * 3600_000;

/** How long a CreateConnector retry with the same request_id gets the first answer, secret included. */
export const REQUEST_ID_WINDOW_MS = 10 * 60_000;

/** A revoked or rotated connector, by id, dropped from every instance's cache. */
export const CONNECTOR_EVICT_CHANNEL = "attesto:connectors:evict";

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
export interface ConnectorSettings {
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
  settings: ConnectorSettings;
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

export interface ConnectorSettingsOptions {
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

export interface ConnectorDeps {
  db: Db;
  keyring: Keyring;
  /** Commits go through the Proofstream append: same idempotency, replay and batching rules as AppendEvent. */
  appender: Pick<Appender, "append" | "occurredAtOf">;
  /** Evictions to and from the other instances; without one (a CLI with no Redis) caches expire on their own. */
  broadcast?: Broadcast;
  logger: Logger;
}

/** What an ingress request ended in, for the edge to answer. */
export type IngressResult = { kind: "committed"; result: AppendResult } | { kind: "ping" } | { kind: "ignored"; event: string };

/** The raw request as the provider adapters hand it over. */
export interface IngressRequest {
  /** Lower-case header names. */
  header: (name: string) => string | undefined;
  body: Buffer;
}

type Row = typeof connectors.$inferSelect;

/** A connector as ingress needs it, cached per instance. */
interface LiveConnector {
  id: string;
  tenantId: string;
  streamId: string;
  kind: ConnectorKind;
  settings: ConnectorSettings;
  /** The current secret, then the previous one while its overlap lasts. */
  secrets: string[];
  /** The secret replaced at the last rotation, once its overlap ended: never accepted, only recognized (see #authenticate). */
  retiredSecret?: string;
  /** When this entry must be reloaded (cache age, or the end of an overlap). */
  validUntil: number;
  /** S3_OBJECT: the client over the current credentials, made on first use. */
  store?: ObjectStore;
}

const ROUTE: Record<ConnectorKind, string> = {
  signed_webhook: "/v2/connectors/signed-webhooks/{id}/events",
  github: "/v2/connectors/github/{id}/events",
  gitlab: "/v2/connectors/gitlab/{id}/events",
  s3_object: "/v2/tenant/connectors/s3-objects/{id}/commit",
};

/** Unknown and revoked connectors answer exactly this, so they cannot be told apart. */
const connectorNotFound = () => new AppError("not_found", "connector not found", { reason: "CONNECTOR_NOT_FOUND" });
const authFailed = () => new AppError("unauthenticated", "authentication failed", { reason: "SIGNATURE_INVALID" });

/** A random secret of the kind's form: hex, or "whsec_" + base64 for Standard Webhooks. */
export function newConnectorSecret(kind: ConnectorKind, tokenMode?: GitLabTokenMode): string {
  const bytes = randomBytes(32);
  return kind === "gitlab" && tokenMode !== "legacy_token" ? SIGNING_TOKEN_PREFIX + bytes.toString("base64") : bytes.toString("hex");
}

/**
 * The connectors domain: management (create, rotate, revoke; secrets sealed
 * and shown once), ingress for every kind (verify over the raw bytes,
 * normalize, commit through the Appender) and batched diagnostics.
 */
export class Connectors {
  readonly stats: ConnectorStats;
  readonly #cache: LRUCache<string, LiveConnector | "missing">;
  #flushTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly deps: ConnectorDeps,
    readonly settings: ConnectorSettingsOptions,
  ) {
    this.stats = new ConnectorStats({ db: deps.db, logger: deps.logger });
    this.#cache = new LRUCache({
      max: 10_000,
      // Evicted, expired or replaced: its S3 connections are closed.
      dispose: (entry) => {
        if (entry !== "missing") entry.store?.close();
      },
    });
  }

  /** Listens for revocations of other instances and flushes diagnostics periodically. */
  async start(): Promise<void> {
    await this.deps.broadcast?.subscribe(CONNECTOR_EVICT_CHANNEL, (id) => this.#cache.delete(id));
    // A deactivated tenant (the whole key cache evicted) takes its connectors with it.
    await this.deps.broadcast?.subscribe(AUTH_EVICT_CHANNEL, (keyHash) => keyHash === "" && this.#cache.clear());
    this.#flushTimer = setInterval(() => void this.stats.flush(), this.settings.statsFlushMs);
    this.#flushTimer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.#flushTimer);
    // Disposing the entries closes their S3 connections.
    this.#cache.clear();
    await this.stats.flush();
  }

  // ---- management ------------------------------------------------------

  async create(tenantId: string, input: CreateConnectorInput): Promise<{ connector: Connector; secret: string }> {
    if (input.requestId) {
      const earlier = await this.#byRequestId(tenantId, input.requestId);
      if (earlier) return earlier;
    }
    const { settings, sealed, secret } = await this.#configure(tenantId, input);
    await getStreamRow(this.deps.db, tenantId, input.streamId);
    try {
      const [row] = await this.deps.db
        .insert(connectors)
        .values({
          id: newId("con"),
          tenantId,
          streamId: input.streamId,
          name: input.name,
          kind: input.kind,
          settings,
          secretEnc: sealed,
          requestId: input.requestId ?? null,
        })
        .returning();
      return { connector: this.#toConnector(row!), secret };
    } catch (err) {
      // A concurrent retry with the same request_id won: answer what it answered.
      if (input.requestId && isUniqueViolation(err)) {
        const earlier = await this.#byRequestId(tenantId, input.requestId);
        if (earlier) return earlier;
      }
      throw normalizeDbError(err);
    }
  }

  async #byRequestId(tenantId: string, requestId: string): Promise<{ connector: Connector; secret: string } | undefined> {
    const [row] = await this.deps.db.select().from(connectors).where(and(eq(connectors.tenantId, tenantId), eq(connectors.requestId, requestId))).limit(1);
    if (!row) return undefined;
    const fresh = Date.now() - row.createdAt.getTime() < REQUEST_ID_WINDOW_MS && row.secretRotatedAt.getTime() === row.createdAt.getTime();
    if (!fresh || !row.secretEnc) {
      throw new AppError("already_exists", `request_id already created connector ${row.id}; its secret can no longer be shown`, {
        field: "request_id",
        reason: "REQUEST_ID_REUSED",
      });
    }
    const secret = row.kind === "s3_object" ? "" : this.deps.keyring.decryptText(CONNECTOR_SECRET_CONTEXT, row.secretEnc, tenantId);
    return { connector: this.#toConnector(row), secret };
  }

  /** Checks the kind's config and makes its secret. */
  async #configure(tenantId: string, input: CreateConnectorInput): Promise<{ settings: ConnectorSettings; sealed: Buffer; secret: string }> {
    const seal = (text: string) => this.deps.keyring.encrypt(CONNECTOR_SECRET_CONTEXT, text, tenantId);
    const refuse = (field: string) => {
      throw invalidArgument(field, `does not apply to ${input.kind} connectors`);
    };
    if (input.github && input.kind !== "github") refuse("github");
    if (input.gitlab && input.kind !== "gitlab") refuse("gitlab");
    if (input.s3 && input.kind !== "s3_object") refuse("s3_object");
    switch (input.kind) {
      case "signed_webhook": {
        const secret = newConnectorSecret("signed_webhook");
        return { settings: {}, sealed: seal(secret), secret };
      }
      case "github": {
        const secret = newConnectorSecret("github");
        return { settings: { github: { events: [...new Set(input.github?.events ?? [])] } }, sealed: seal(secret), secret };
      }
      case "gitlab": {
        const tokenMode = input.gitlab?.tokenMode ?? "signing_token";
        const secret = newConnectorSecret("gitlab", tokenMode);
        return { settings: { gitlab: { tokenMode } }, sealed: seal(secret), secret };
      }
      case "s3_object": {
        const s3 = input.s3;
        if (!s3) throw invalidArgument("s3_object", "is required for s3_object connectors");
        // The contract's rules, again here: the operator CLI reaches this without the RPC validator.
        if (!/^[a-z0-9-]{1,64}$/.test(s3.region)) throw invalidArgument("s3_object.region", "must be 1 to 64 characters of [a-z0-9-] (auto for R2)");
        if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(s3.bucket)) throw invalidArgument("s3_object.bucket", "must be a bucket name of 3 to 63 characters");
        if (s3.keyPrefix.length > 1024) throw invalidArgument("s3_object.key_prefix", "must be at most 1024 characters");
        if (!s3.accessKeyId || s3.accessKeyId.length > 128) throw invalidArgument("s3_object.access_key_id", "is required: up to 128 characters");
        if (!s3.secretAccessKey || s3.secretAccessKey.length > 256) throw invalidArgument("s3_object.secret_access_key", "is required: up to 256 characters");
        const endpoint = s3.endpoint ? (await checkOutboundUrl(s3.endpoint, this.settings.policy, "s3_object.endpoint")).href.replace(/\/$/, "") : "";
        const credentials: S3Credentials = { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey };
        return {
          settings: { s3: { endpoint, region: s3.region, bucket: s3.bucket, keyPrefix: s3.keyPrefix, forcePathStyle: s3.forcePathStyle } },
          sealed: seal(JSON.stringify(credentials)),
          secret: "",
        };
      }
      default:
        throw invalidArgument("kind", "must be set to a known value");
    }
  }

  async get(tenantId: string, id: string): Promise<Connector> {
    return this.#toConnector(await this.#row(tenantId, id));
  }

  /** Newest first. */
  async list(
    tenantId: string,
    opts: { pageSize?: number; pageToken?: string; streamId?: string; includeRevoked?: boolean } = {},
  ): Promise<{ connectors: Connector[]; nextPageToken: string }> {
    const win = pageWindow(opts);
    const { fetch, after: before } = win;
    const rows = await this.deps.db
      .select()
      .from(connectors)
      .where(
        and(
          eq(connectors.tenantId, tenantId),
          before ? lt(connectors.id, before) : undefined,
          opts.streamId ? eq(connectors.streamId, opts.streamId) : undefined,
          opts.includeRevoked ? undefined : isNull(connectors.revokedAt),
        ),
      )
      .orderBy(desc(connectors.id))
      .limit(fetch);
    const { items, nextPageToken } = pageOf(rows, win, (r) => r.id, (r) => this.#toConnector(r));
    return { connectors: items, nextPageToken };
  }

  /**
   * Replaces the secret; the current one stays valid for the overlap (the
   * configured default when undefined, zero ends it at once). A legacy-token
   * GitLab connector moves to signing tokens, without overlap: the old token
   * is of the other scheme. S3 connectors take new credentials instead.
   */
  async rotate(
    tenantId: string,
    id: string,
    opts: { overlapMs?: number; credentials?: Partial<S3Credentials>; etag?: string } = {},
  ): Promise<{ connector: Connector; secret: string }> {
    const overlapMs = opts.overlapMs ?? this.settings.secretOverlapMs;
    if (overlapMs < 0) throw invalidArgument("overlap", "must not be negative");
    if (overlapMs > MAX_SECRET_OVERLAP_MS) throw invalidArgument("overlap", "must be at most 7 days");
    const current = await this.#row(tenantId, id);
    if (current.revokedAt || !current.secretEnc) throw new AppError("failed_precondition", "connector is revoked", { reason: "CONNECTOR_REVOKED" });
    checkEtag(opts.etag, this.#toConnector(current).etag, "connector");
    const seal = (text: string) => this.deps.keyring.encrypt(CONNECTOR_SECRET_CONTEXT, text, tenantId);
    const now = new Date();
    let settings = current.settings as ConnectorSettings;
    let secret = "";
    let set: Partial<typeof connectors.$inferInsert>;
    if (current.kind === "s3_object") {
      const { accessKeyId, secretAccessKey } = opts.credentials ?? {};
      if (!accessKeyId) throw invalidArgument("access_key_id", "is required for s3_object connectors");
      if (!secretAccessKey) throw invalidArgument("secret_access_key", "is required for s3_object connectors");
      set = { secretEnc: seal(JSON.stringify({ accessKeyId, secretAccessKey })), previousSecretEnc: null, previousSecretExpiresAt: null };
    } else {
      if (opts.credentials?.accessKeyId !== undefined) throw invalidArgument("access_key_id", "applies to s3_object connectors only");
      if (opts.credentials?.secretAccessKey !== undefined) throw invalidArgument("secret_access_key", "applies to s3_object connectors only");
      const leavingLegacy = current.kind === "gitlab" && settings.gitlab?.tokenMode === "legacy_token";
      if (leavingLegacy) settings = { ...settings, gitlab: { tokenMode: "signing_token" } };
      secret = newConnectorSecret(current.kind, settings.gitlab?.tokenMode);
      // The replaced secret stays sealed in any case: valid for the overlap, then kept only to recognize a
      // sender still set up with it (the legacy token, of the other scheme, is retired at once).
      const overlapEnds = new Date(now.getTime() + (leavingLegacy ? 0 : overlapMs));
      set = { secretEnc: seal(secret), previousSecretEnc: current.secretEnc, previousSecretExpiresAt: overlapEnds };
    }
    const [row] = await this.deps.db
      .update(connectors)
      .set({ ...set, settings, secretRotatedAt: now })
      .where(
        and(
          eq(connectors.id, id),
          eq(connectors.tenantId, tenantId),
          isNull(connectors.revokedAt),
          // With an etag, the rotation applies only to the state that was checked (compare-and-swap).
          // (Milliseconds: what the row read into JavaScript keeps of the stored microseconds.)
          opts.etag ? sql`date_trunc('milliseconds', ${connectors.secretRotatedAt}) = ${current.secretRotatedAt.toISOString()}::timestamptz` : undefined,
        ),
      )
      .returning();
    if (!row) {
      const latest = await this.#row(tenantId, id);
      if (latest.revokedAt) throw new AppError("failed_precondition", "connector is revoked", { reason: "CONNECTOR_REVOKED" });
      checkEtag(opts.etag, this.#toConnector(latest).etag, "connector");
      throw new AppError("aborted", "etag: the connector changed while it was rotated; read it again and retry", { field: "etag", reason: "ETAG_MISMATCH" });
    }
    await this.#broadcastEviction(id);
    return { connector: this.#toConnector(row), secret };
  }

  /** Disables ingress for good and destroys the secrets, on every instance at once. Idempotent. */
  async revoke(tenantId: string, id: string, etag?: string): Promise<Connector> {
    const current = await this.#row(tenantId, id);
    if (current.revokedAt) return this.#toConnector(current);
    checkEtag(etag, this.#toConnector(current).etag, "connector");
    const [row] = await this.deps.db
      .update(connectors)
      .set({ revokedAt: new Date(), secretEnc: null, previousSecretEnc: null, previousSecretExpiresAt: null })
      .where(and(eq(connectors.id, id), eq(connectors.tenantId, tenantId), isNull(connectors.revokedAt)))
      .returning();
    await this.#broadcastEviction(id);
    return this.#toConnector(row ?? (await this.#row(tenantId, id)));
  }

  /** This instance's pending outcomes are flushed first, so they show. */
  async diagnostics(tenantId: string, id: string): Promise<Diagnostics> {
    const row = await this.#row(tenantId, id);
    await this.stats.flush();
    return this.stats.read(id, row.revokedAt !== null);
  }

  /** The tenant of a connector, for the operator CLI; NOT_FOUND when unknown. */
  async tenantOf(id: string): Promise<string> {
    const [row] = await this.deps.db.select({ tenantId: connectors.tenantId }).from(connectors).where(eq(connectors.id, id)).limit(1);
    if (!row) throw notFound("connector");
    return row.tenantId;
  }

  async #row(tenantId: string, id: string): Promise<Row> {
    const [row] = await this.deps.db.select().from(connectors).where(and(eq(connectors.id, id), eq(connectors.tenantId, tenantId))).limit(1);
    if (!row) throw notFound("connector");
    return row;
  }

  /** Drops the connector from every instance's cache: here at once, elsewhere through Redis. */
  async #broadcastEviction(id: string): Promise<void> {
    this.#cache.delete(id);
    this.deps.broadcast?.publish(CONNECTOR_EVICT_CHANNEL, id);
  }

  #toConnector(row: Row, now = new Date()): Connector {
    const connector: Omit<Connector, "etag"> = {
      id: row.id,
      tenantId: row.tenantId,
      streamId: row.streamId,
      name: row.name,
      kind: row.kind,
      settings: row.settings as ConnectorSettings,
      ingressUrl: this.settings.publicBaseUrl().replace(/\/$/, "") + ROUTE[row.kind].replace("{id}", row.id),
      createdAt: row.createdAt,
      secretRotatedAt: row.secretRotatedAt,
      previousSecretExpiresAt: row.previousSecretEnc && row.previousSecretExpiresAt && row.previousSecretExpiresAt > now ? row.previousSecretExpiresAt : null,
      revokedAt: row.revokedAt,
    };
    // The etag covers the stored state, not the clock: an overlap running out does not change it.
    return { ...connector, etag: etagOf({ ...connector, ingressUrl: undefined, previousSecretExpiresAt: row.previousSecretExpiresAt }) };
  }

  // ---- ingress ---------------------------------------------------------

  /** A live connector of `kind`, from the cache or the database; unknown, revoked and other kinds look alike. */
  async live(id: string, kind: ConnectorKind): Promise<LiveConnector> {
    const entry = await this.#cached(id);
    if (entry === "missing" || entry.kind !== kind) throw connectorNotFound();
    return entry;
  }

  async #cached(id: string): Promise<LiveConnector | "missing"> {
    const now = Date.now();
    let entry = this.#cache.get(id);
    if (entry === undefined || (entry !== "missing" && entry.validUntil <= now)) {
      entry = await this.#load(id, now);
      this.#cache.set(id, entry, { ttl: this.settings.cacheMs > 0 ? this.settings.cacheMs : 1 });
    }
    return entry;
  }

  /**
   * CommitS3Object: a real HeadObject with the connector's credentials, then
   * the receipt and the caller's metadata committed through the Appender.
   * Object content is never read.
   */
  async commitS3Object(
    tenantId: string,
    id: string,
    input: { key: string; versionId: string; metadata: Record<string, unknown> },
  ): Promise<{ result: AppendResult; receipt: ObjectReceipt }> {
    const c = await this.#cached(id);
    if (c === "missing" || c.tenantId !== tenantId) throw connectorNotFound();
    if (c.kind !== "s3_object" || !c.settings.s3) {
      throw new AppError("failed_precondition", "connector is not an s3_object connector", { reason: "CONNECTOR_KIND_MISMATCH" });
    }
    const s3 = c.settings.s3;
    let metadata: Record<string, string>;
    try {
      checkKey(input.key, s3.keyPrefix);
      metadata = checkMetadata(input.metadata);
    } catch (err) {
      this.stats.record(c.id, { kind: "rejected", reason: (err as AppError).details.reason ?? "BODY_INVALID" });
      throw err;
    }
    c.store ??= new ObjectStore({ ...s3, ...(JSON.parse(c.secrets[0]!) as S3Credentials) }, { policy: this.settings.policy, timeoutMs: this.settings.s3TimeoutMs });
    let receipt: ObjectReceipt;
    try {
      receipt = await c.store.head(input.key, input.versionId);
    } catch (err) {
      const reason = err instanceof AppError ? (err.details.reason ?? "OBJECT_STORE_UNAVAILABLE") : "OBJECT_STORE_UNAVAILABLE";
      this.stats.record(c.id, reason === "OBJECT_STORE_DENIED" ? { kind: "auth_failed", reason } : { kind: "rejected", reason });
      throw err;
    }
    const committed = await this.#commit(c, () => objectEvent(receipt, metadata));
    if (committed.kind !== "committed") throw new AppError("internal", "object commit did not commit");
    return { result: committed.result, receipt };
  }

  async #load(id: string, now: number): Promise<LiveConnector | "missing"> {
    if (!/^con_[0-9A-HJKMNP-TV-Z]{26}$/.test(id)) return "missing";
    const [row] = await this.deps.db.select().from(connectors).where(eq(connectors.id, id)).limit(1);
    if (!row || row.revokedAt || !row.secretEnc) return "missing";
    // A deactivated tenant's connectors fail closed like its API keys.
    const [tenant] = await this.deps.db.select({ active: tenants.active }).from(tenants).where(eq(tenants.id, row.tenantId)).limit(1);
    if (!tenant?.active) return "missing";
    const open = (sealed: Uint8Array) => this.deps.keyring.decryptText(CONNECTOR_SECRET_CONTEXT, sealed, row.tenantId);
    const previous = row.previousSecretEnc ? open(row.previousSecretEnc) : undefined;
    const previousLive = previous !== undefined && row.previousSecretExpiresAt !== null && row.previousSecretExpiresAt.getTime() > now;
    const secrets = [open(row.secretEnc), ...(previousLive ? [previous] : [])];
    const validUntil = Math.min(now + this.settings.cacheMs, previousLive ? row.previousSecretExpiresAt!.getTime() : Infinity);
    const retiredSecret = previousLive ? undefined : previous;
    return { id: row.id, tenantId: row.tenantId, streamId: row.streamId, kind: row.kind, settings: row.settings as ConnectorSettings, secrets, retiredSecret, validUntil };
  }

  /**
   * Checks a delivery with `verify` against the connector's valid secrets and
   * throws the one refusal every failure gets (401, no detail). Anyone can
   * post to an ingress URL, so a refusal only counts: the status a tenant
   * acts on (auth_failed) is set only by a delivery that verifies with the
   * retired secret, which only a sender holding that secret can make (the
   * provider still set up with the secret the tenant replaced). A valid
   * signature with a stale timestamp (the sender's clock, or a replay of a
   * delivery someone saw) is named as the last failure, without the status.
   */
  #authenticate(c: LiveConnector, verify: (secrets: readonly string[]) => SignatureVerdict): void {
    const verdict = verify(c.secrets);
    if (verdict === "ok") return;
    if (verdict === "stale_timestamp") this.stats.record(c.id, { kind: "unauthenticated", reason: "TIMESTAMP_STALE" });
    else if (c.retiredSecret !== undefined && verify([c.retiredSecret]) === "ok") this.stats.record(c.id, { kind: "auth_failed", reason: "SECRET_RETIRED" });
    else this.stats.record(c.id, { kind: "unauthenticated" });
    throw authFailed();
  }

  /** Parses and commits; body errors and replay conflicts are recorded. */
  async #commit(c: LiveConnector, normalize: () => NormalizedEvent): Promise<IngressResult> {
    let event: NormalizedEvent;
    try {
      event = normalize();
      // Before the append's batch: a body Postgres would refuse answers 400 naming the value.
      checkStorableText(event.sourceRef, "source_ref");
      checkStorableText(event.eventType, "event_type");
      checkStorableJson(event.payload, "payload");
    } catch (err) {
      this.stats.record(c.id, { kind: "rejected", reason: "BODY_INVALID" });
      throw err;
    }
    try {
      const occurredAt = event.occurredAt ?? (await this.#firstReceipt(c.streamId, event.sourceRef)) ?? new Date();
      const result = await this.deps.appender.append({ tenantId: c.tenantId, streamId: c.streamId, ...event, occurredAt });
      this.stats.record(c.id, { kind: result.duplicate ? "duplicate" : "accepted" });
      return { kind: "committed", result };
    } catch (err) {
      if (err instanceof AppError && err.code === "replay_conflict") {
        this.stats.record(c.id, { kind: "replay_conflict" });
        throw new AppError("replay_conflict", "source_ref was already committed with different content", {
          field: c.kind === "s3_object" ? "metadata" : "source_ref",
          reason: "REPLAY_CONFLICT",
        });
      }
      throw err;
    }
  }

  /** For provider events without a time of their own: the time of the first receipt, so a redelivery is a duplicate. */
  async #firstReceipt(streamId: string, sourceRef: string): Promise<Date | undefined> {
    return this.deps.appender.occurredAtOf(streamId, sourceRef);
  }

  /** POST /v2/connectors/signed-webhooks/{id}/events. */
  async ingestSignedWebhook(id: string, req: IngressRequest): Promise<IngressResult> {
    const c = await this.live(id, "signed_webhook");
    const headers = { timestamp: req.header("x-attesto-connector-timestamp"), signature: req.header("x-attesto-connector-signature") };
    this.#authenticate(c, (secrets) => verifySignedWebhook(secrets, headers, req.body, Math.floor(Date.now() / 1000)));
    return this.#commit(c, () => signedWebhookEvent(req.body));
  }

  /** POST /v2/connectors/github/{id}/events. */
  async ingestGitHub(id: string, req: IngressRequest): Promise<IngressResult> {
    const c = await this.live(id, "github");
    this.#authenticate(c, (secrets) => verifyGitHub(secrets, req.header("x-hub-signature-256"), req.body));
    const event = req.header("x-github-event");
    if (!event || !/^[a-z_]{1,64}$/.test(event)) {
      this.stats.record(c.id, { kind: "rejected", reason: "BODY_INVALID" });
      throw invalidArgument("X-GitHub-Event", "is required: a GitHub event name");
    }
    if (event === "ping") {
      this.stats.record(c.id, { kind: "ping" });
      return { kind: "ping" };
    }
    const allowed = c.settings.github?.events ?? [];
    if (event !== "push" || (allowed.length > 0 && !allowed.includes(event))) {
      this.stats.record(c.id, { kind: "ignored" });
      return { kind: "ignored", event };
    }
    return this.#commit(c, () => gitHubPush(parseJsonObject(req.body)));
  }

  /** POST /v2/connectors/gitlab/{id}/events. */
  async ingestGitLab(id: string, req: IngressRequest): Promise<IngressResult> {
    const c = await this.live(id, "gitlab");
    const legacy = c.settings.gitlab?.tokenMode === "legacy_token";
    const signed = { id: req.header("webhook-id"), timestamp: req.header("webhook-timestamp"), signature: req.header("webhook-signature") };
    // By the secret's form: a retired legacy token (hex) is checked as the token it was.
    this.#authenticate(c, (secrets) =>
      secrets[0]?.startsWith(SIGNING_TOKEN_PREFIX)
        ? verifyStandardWebhook(secrets, signed, req.body, Math.floor(Date.now() / 1000))
        : verifyGitLabToken(secrets, req.header("x-gitlab-token")),
    );
    let body: Record<string, unknown>;
    try {
      body = parseJsonObject(req.body);
    } catch (err) {
      this.stats.record(c.id, { kind: "rejected", reason: "BODY_INVALID" });
      throw err;
    }
    const kind = typeof body.object_kind === "string" && /^[a-z_]{1,64}$/.test(body.object_kind) ? body.object_kind : undefined;
    if (!kind) {
      this.stats.record(c.id, { kind: "rejected", reason: "BODY_INVALID" });
      throw invalidArgument("object_kind", "is required: a GitLab hook kind");
    }
    if (kind !== "push") {
      this.stats.record(c.id, { kind: "ignored" });
      return { kind: "ignored", event: kind };
    }
    // The signed webhook-id (GitLab sends the Idempotency-Key's value, the same on every retry), never the
    // unsigned Idempotency-Key itself: a replay with a fresh one must not be new evidence.
    return this.#commit(c, () => gitLabPush(body, legacy ? undefined : deliveryId(req.header("webhook-id"), "webhook-id")));
  }
}
