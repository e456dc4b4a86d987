import { and, desc, eq, isNull, lt, sql } from "drizzle-orm";
import type { Keyring } from "../crypto/keyring.js";
import type { Db } from "../db/db.js";
import { normalizeDbError } from "../db/errors.js";
import { pageOf, pageWindow } from "../db/pagination.js";
import { AppError, invalidArgument, notFound } from "../errors.js";
import { checkEtag, etagOf } from "../etag.js";
import { newId } from "../ids.js";
import { createOnce, type RequestIds } from "../request-ids/module.js";
import { configureKind, newConnectorSecret, sealSecret } from "./kind-config.js";
import type { LiveConnectors } from "./live.js";
import { connectors, type ConnectorKind } from "./schema.js";
import type { ConnectorSettings } from "./settings.js";
import type { Connector, ConnectorStreams, ConnectorWithSecret, CreateConnectorInput, KindSettings, S3Credentials } from "./types.js";

type Row = typeof connectors.$inferSelect;

const ROUTE: Record<ConnectorKind, string> = {
  signed_webhook: "/v2/connectors/signed-webhooks/{id}/events",
  github: "/v2/connectors/github/{id}/events",
  gitlab: "/v2/connectors/gitlab/{id}/events",
  s3_object: "/v2/tenant/connectors/s3-objects/{id}/commit",
};

/** The longest rotation overlap a request may ask for. */
export const MAX_SECRET_OVERLAP_MS = 7 * 24 * 3600_000;

const revoked = () => new AppError("failed_precondition", "connector is revoked", { reason: "CONNECTOR_REVOKED" });

/**
 * Connector management: create (a request_id remembered by request-ids),
 * read, list, rotate and revoke, every call scoped by tenant. Secrets are
 * sealed and shown once; a rotation or revocation evicts the connector from
 * every instance's live cache.
 */
export class ConnectorRegistry {
  constructor(
    private readonly deps: { db: Db; keyring: Keyring; proofstreams: Pick<ConnectorStreams, "getStream">; requestIds?: RequestIds; live: LiveConnectors },
    private readonly settings: Pick<ConnectorSettings, "publicBaseUrl" | "secretOverlapMs" | "policy">,
  ) {}

  /** A new connector and its secret, shown once; a repeated `requestId` (within its window) answers the first create. */
  create(tenantId: string, input: CreateConnectorInput): Promise<ConnectorWithSecret> {
    const { requestId, ...request } = input;
    // The request's fingerprint leaves out the S3 secret key: it is hashed into nothing that is stored.
    const fingerprinted = request.s3 ? { ...request, s3: { ...request.s3, secretAccessKey: undefined } } : request;
    return createOnce(
      this.deps.requestIds,
      this.deps.db,
      requestId ? { scope: tenantId, method: "CreateConnector", requestId, request: fingerprinted } : undefined,
      async (tx) => {
        const created = await this.#create(tx, tenantId, request);
        return { result: created, resourceId: created.connector.id, secret: created.secret };
      },
      async (id, secret) => {
        const connector = await this.get(tenantId, id);
        if (connector.revokedAt || connector.secretRotatedAt.getTime() !== connector.createdAt.getTime()) {
          throw new AppError("already_exists", `request_id already created connector ${id}; its secret can no longer be shown`, {
            field: "request_id",
            reason: "REQUEST_ID_REUSED",
          });
        }
        return { connector, secret: secret ?? "" };
      },
    );
  }

  async #create(tx: Db, tenantId: string, input: Omit<CreateConnectorInput, "requestId">): Promise<ConnectorWithSecret> {
    const { settings, sealed, secret } = await configureKind(this.deps.keyring, this.settings.policy, tenantId, input);
    await this.deps.proofstreams.getStream(tenantId, input.streamId);
    try {
      const [row] = await tx
        .insert(connectors)
        .values({ id: newId("con"), tenantId, streamId: input.streamId, name: input.name, kind: input.kind, settings, secretEnc: sealed })
        .returning();
      return { connector: this.#toConnector(row!), secret };
    } catch (err) {
      throw normalizeDbError(err);
    }
  }

  async get(tenantId: string, id: string): Promise<Connector> {
    return this.#toConnector(await this.#row(tenantId, id));
  }

  /** Newest first. */
  async list(tenantId: string, opts: { pageSize?: number; pageToken?: string; streamId?: string; includeRevoked?: boolean } = {}): Promise<{ connectors: Connector[]; nextPageToken: string }> {
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
    const { items, nextPageToken } = pageOf(
      rows,
      win,
      (r) => r.id,
      (r) => this.#toConnector(r),
    );
    return { connectors: items, nextPageToken };
  }

  /**
   * Replaces the secret; the current one stays valid for the overlap (the
   * configured default when undefined, zero ends it at once) and is kept
   * sealed after it, only to recognize a sender still using it. A
   * legacy-token GitLab connector moves to signing tokens, its token retired
   * at once (it is of the other scheme). S3 connectors take new credentials.
   */
  async rotate(tenantId: string, id: string, opts: { overlapMs?: number; credentials?: Partial<S3Credentials>; etag?: string } = {}): Promise<ConnectorWithSecret> {
    const overlapMs = opts.overlapMs ?? this.settings.secretOverlapMs;
    if (overlapMs < 0) throw invalidArgument("overlap", "must not be negative");
    if (overlapMs > MAX_SECRET_OVERLAP_MS) throw invalidArgument("overlap", "must be at most 7 days");
    const current = await this.#row(tenantId, id);
    if (current.revokedAt || !current.secretEnc) throw revoked();
    checkEtag(opts.etag, this.#toConnector(current).etag, "connector");
    const seal = (text: string) => sealSecret(this.deps.keyring, tenantId, text);
    const now = new Date();
    let settings = current.settings as KindSettings;
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
      if (latest.revokedAt) throw revoked();
      checkEtag(opts.etag, this.#toConnector(latest).etag, "connector");
      throw new AppError("aborted", "etag: the connector changed while it was rotated; read it again and retry", { field: "etag", reason: "ETAG_MISMATCH" });
    }
    this.deps.live.evictEverywhere(id);
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
    this.deps.live.evictEverywhere(id);
    return this.#toConnector(row ?? (await this.#row(tenantId, id)));
  }

  /** The tenant of a connector, for the operator CLI; NOT_FOUND when unknown. */
  async tenantOf(id: string): Promise<string> {
    const [row] = await this.deps.db.select({ tenantId: connectors.tenantId }).from(connectors).where(eq(connectors.id, id)).limit(1);
    if (!row) throw notFound("connector");
    return row.tenantId;
  }

  async #row(tenantId: string, id: string): Promise<Row> {
    const [row] = await this.deps.db
      .select()
      .from(connectors)
      .where(and(eq(connectors.id, id), eq(connectors.tenantId, tenantId)))
      .limit(1);
    if (!row) throw notFound("connector");
    return row;
  }

  #toConnector(row: Row, now = new Date()): Connector {
    const connector: Omit<Connector, "etag"> = {
      id: row.id,
      tenantId: row.tenantId,
      streamId: row.streamId,
      name: row.name,
      kind: row.kind,
      settings: row.settings as KindSettings,
      ingressUrl: this.settings.publicBaseUrl().replace(/\/$/, "") + ROUTE[row.kind].replace("{id}", row.id),
      createdAt: row.createdAt,
      secretRotatedAt: row.secretRotatedAt,
      previousSecretExpiresAt: row.previousSecretEnc && row.previousSecretExpiresAt && row.previousSecretExpiresAt > now ? row.previousSecretExpiresAt : null,
      revokedAt: row.revokedAt,
    };
    // The etag covers the stored state, not the clock: an overlap running out does not change it.
    return { ...connector, etag: etagOf({ ...connector, ingressUrl: undefined, previousSecretExpiresAt: row.previousSecretExpiresAt }) };
  }
}
