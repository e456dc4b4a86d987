import type { Db } from "../db/db.js";
import type { PageRequest } from "../db/pagination.js";
import { notFound } from "../errors.js";
import type { Broadcast } from "../infra/broadcast.js";
import type { Logger } from "../logger.js";
import { createOnce, type RequestIds } from "../request-ids/module.js";
import { getApiKey, issueApiKey, listApiKeys, revokeApiKey } from "./api-keys.js";
import { Authenticator } from "./authenticator.js";
import { createTenant, deactivateTenant, getTenant, isActiveTenant, listTenants } from "./tenants.js";
import type { ApiKey, Tenant, TenantPrincipal } from "./types.js";

/** Revocations are broadcast so every instance drops its cached credentials. */
export type { Authenticator } from "./authenticator.js";
export { ensureDevCredentials } from "./dev-bootstrap.js";
export { requireActiveTenant } from "./tenants.js";

export const AUTH_EVICT_CHANNEL = "attesto:auth:evict";

export interface TenancySettings {
  /** The operator token; unset refuses operator calls. */
  adminToken: string | undefined;
  /** How long a looked-up API key is trusted without asking the database. */
  apiKeyCacheMs: number;
}

/**
 * Tenants, their API keys and who is calling. Revoking a key or
 * deactivating a tenant evicts cached keys on every instance at once
 * through the broadcast (when there is one: the CLI without Redis only
 * reaches its own process, and other instances follow within the cache's
 * lifetime).
 */
export class Tenancy {
  readonly authenticator: Authenticator;

  constructor(
    private readonly deps: { db: Db; logger: Logger; broadcast?: Broadcast; requestIds?: RequestIds },
    settings: TenancySettings,
  ) {
    this.authenticator = new Authenticator(deps.db, { adminToken: settings.adminToken, cacheMs: settings.apiKeyCacheMs, logger: deps.logger });
  }

  /**
   * Listens for evictions from other instances; after the broadcast lost its
   * connection (evictions published meanwhile are lost) it forgets every key.
   */
  async start(): Promise<void> {
    await this.deps.broadcast?.subscribe(
      AUTH_EVICT_CHANNEL,
      (keyHash) => this.authenticator.evict(keyHash || undefined),
      () => this.authenticator.evict(),
    );
  }

  async close(): Promise<void> {}

  /** A new tenant; a repeated `requestId` (within its window) returns the first one. */
  createTenant(name: string, requestId?: string): Promise<Tenant> {
    const { db, requestIds } = this.deps;
    return createOnce(
      requestIds,
      db,
      requestId ? { scope: "operator", method: "CreateTenant", requestId, request: { name } } : undefined,
      async (tx) => {
        const tenant = await createTenant(tx, name);
        return { result: tenant, resourceId: tenant.id };
      },
      (id) => getTenant(db, id),
    );
  }

  /**
   * The caller's tenant and key rows: from memory when this instance
   * resolved the principal (the key cache holds them), else two reads.
   */
  async currentAccount(principal: TenantPrincipal): Promise<{ tenant: Tenant; apiKey: ApiKey }> {
    const cached = this.authenticator.accountOf(principal);
    if (cached) return cached;
    const [tenant, apiKey] = await Promise.all([getTenant(this.deps.db, principal.tenantId), getApiKey(this.deps.db, principal.tenantId, principal.apiKeyId)]);
    return { tenant, apiKey };
  }

  getTenant(id: string): Promise<Tenant> {
    return getTenant(this.deps.db, id);
  }

  listTenants(opts: PageRequest & { includeInactive?: boolean }): Promise<{ tenants: Tenant[]; nextPageToken: string }> {
    return listTenants(this.deps.db, opts);
  }

  /**
   * Whether the tenant exists and is active. For the unauthenticated ways in
   * (provider notifications, connector ingress), where a deactivated tenant
   * fails closed like its API keys; any string is safe to pass.
   */
  isActiveTenant(tenantId: string): Promise<boolean> {
    return isActiveTenant(this.deps.db, tenantId);
  }

  /** Throws NOT_FOUND for a tenant that does not exist or is deactivated: the caller learns no more than that. */
  async requireActiveTenant(tenantId: string): Promise<void> {
    if (!(await isActiveTenant(this.deps.db, tenantId))) throw notFound("tenant");
  }

  /** One-way: the tenant's keys stop resolving, here and on every instance. */
  async deactivateTenant(id: string): Promise<Tenant> {
    const tenant = await deactivateTenant(this.deps.db, id);
    this.#evict();
    return tenant;
  }

  /**
   * A new key for the tenant, shown once. `caller` scopes `requestId`: the
   * operator's and each tenant's ids are apart. A repeated id (within its
   * window) returns the same key, secret included.
   */
  createApiKey(tenantId: string, name: string, opts: { caller: string; requestId?: string }): Promise<{ apiKey: ApiKey; secret: string }> {
    const { db, requestIds } = this.deps;
    return createOnce(
      requestIds,
      db,
      opts.requestId ? { scope: opts.caller, method: "CreateApiKey", requestId: opts.requestId, request: { tenantId, name } } : undefined,
      async (tx) => {
        const created = await issueApiKey(tx, tenantId, name);
        return { result: created, resourceId: created.apiKey.id, secret: created.secret };
      },
      async (id, secret) => ({ apiKey: await getApiKey(db, tenantId, id), secret: secret ?? "" }),
    );
  }

  /** The tenant's keys (which must exist as a tenant), in creation order. */
  async listApiKeys(tenantId: string, opts: PageRequest & { includeRevoked?: boolean } = {}): Promise<{ apiKeys: ApiKey[]; nextPageToken: string }> {
    await getTenant(this.deps.db, tenantId);
    return listApiKeys(this.deps.db, tenantId, opts);
  }

  getApiKey(tenantId: string, apiKeyId: string): Promise<ApiKey> {
    return getApiKey(this.deps.db, tenantId, apiKeyId);
  }

  /** Revokes a key, evicting it everywhere; with `tenantId`, another tenant's key reads as not found. */
  async revokeApiKey(apiKeyId: string, tenantId?: string): Promise<ApiKey> {
    const { keyHash, ...apiKey } = await revokeApiKey(this.deps.db, apiKeyId, tenantId);
    this.#evict(keyHash);
    return apiKey;
  }

  #evict(keyHash?: string): void {
    this.authenticator.evict(keyHash);
    this.deps.broadcast?.publish(AUTH_EVICT_CHANNEL, keyHash ?? "");
  }
}
