import { hash, randomBytes } from "node:crypto";
import { and, asc, eq, gt, isNull, sql } from "drizzle-orm";
import type { Db } from "../db/db.js";
import { statement } from "../db/statement.js";
import { withDbErrors } from "../db/errors.js";
import { pageOf, pageWindow, type PageRequest } from "../db/pagination.js";
import { apiKeys, tenants } from "./schema.js";
import { notFound } from "../errors.js";
import { newId } from "../ids.js";
import { requireActiveTenant } from "./tenants.js";
import type { ApiKey, Tenant, TenantPrincipal } from "./types.js";

const KEY_PREFIX = "atk_";
/** How much of the key is kept in clear, to recognise it in lists. */
const SHOWN_PREFIX_LENGTH = KEY_PREFIX.length + 8;

/** The stored key hash of a SHA-256 digest of the secret (for a caller that has the digest already). */
export const apiKeyHashOf = (digest: Buffer) => digest.toString("hex");
// One-shot hash(): no Hash object per call (every authenticated request hashes its key).
export const hashApiKey = (secret: string) => apiKeyHashOf(hash("sha256", secret, "buffer"));

/** Keys look like atk_<43 base64url chars>: 256 random bits. */
export const looksLikeApiKey = (value: string) => /^atk_[A-Za-z0-9_-]{43}$/.test(value);

const toApiKey = ({ keyHash: _hash, ...row }: typeof apiKeys.$inferSelect): ApiKey => row;

export async function issueApiKey(db: Db, tenantId: string, name: string): Promise<{ apiKey: ApiKey; secret: string }> {
  await requireActiveTenant(db, tenantId);
  const secret = KEY_PREFIX + randomBytes(32).toString("base64url");
  const [row] = await withDbErrors(() =>
    db
      .insert(apiKeys)
      .values({ id: newId("key"), tenantId, name, keyHash: hashApiKey(secret), prefix: secret.slice(0, SHOWN_PREFIX_LENGTH) })
      .returning(),
  );
  return { apiKey: toApiKey(row!), secret };
}

/** In creation order, a page at a time. */
export async function listApiKeys(db: Db, tenantId: string, opts: PageRequest & { includeRevoked?: boolean }): Promise<{ apiKeys: ApiKey[]; nextPageToken: string }> {
  const win = pageWindow({ pageSize: opts.pageSize, pageToken: opts.pageToken, includeRevoked: opts.includeRevoked ?? false } as PageRequest);
  const rows = await db
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.tenantId, tenantId), win.after ? gt(apiKeys.id, win.after) : undefined, opts.includeRevoked ? undefined : isNull(apiKeys.revokedAt)))
    .orderBy(asc(apiKeys.id))
    .limit(win.fetch);
  const page = pageOf(rows, win, (r) => r.id, toApiKey);
  return { apiKeys: page.items, nextPageToken: page.nextPageToken };
}

/** Built once per handle: GetCurrentTenant reads it on every call. */
const apiKeyById = statement((db) =>
  db
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.id, sql.placeholder("apiKeyId")), eq(apiKeys.tenantId, sql.placeholder("tenantId"))))
    .limit(1)
    .prepare("api_key_by_id"),
);

export async function getApiKey(db: Db, tenantId: string, apiKeyId: string): Promise<ApiKey> {
  const [row] = await apiKeyById(db).execute({ apiKeyId, tenantId });
  if (!row) throw notFound("api key");
  return toApiKey(row);
}

/**
 * Revokes a key. With `tenantId` (a tenant acting on itself) another
 * tenant's key reads as not found. Revoking twice returns the revoked key.
 */
export async function revokeApiKey(db: Db, apiKeyId: string, tenantId?: string): Promise<ApiKey & { keyHash: string }> {
  const scope = and(eq(apiKeys.id, apiKeyId), tenantId ? eq(apiKeys.tenantId, tenantId) : undefined);
  await db
    .update(apiKeys)
    .set({ revokedAt: new Date() })
    .where(and(scope, isNull(apiKeys.revokedAt)));
  const [row] = await db.select().from(apiKeys).where(scope).limit(1);
  if (!row) throw notFound("api key");
  return { ...toApiKey(row), keyHash: row.keyHash };
}

/**
 * The principal of a live key of an active tenant with the key's and the
 * tenant's rows, in one prepared read (built once per handle): what the
 * authenticator caches, so GetCurrentTenant answers from memory.
 */
const accountByKeyHash = statement((db) =>
  db
    .select({ apiKey: apiKeys, tenant: tenants })
    .from(apiKeys)
    .innerJoin(tenants, eq(tenants.id, apiKeys.tenantId))
    .where(and(eq(apiKeys.keyHash, sql.placeholder("keyHash")), isNull(apiKeys.revokedAt), eq(tenants.active, true)))
    .limit(1)
    .prepare("account_by_key_hash"),
);

/** A live key of an active tenant: who calls (the principal) and the rows GetCurrentTenant answers with. */
export interface Account {
  principal: TenantPrincipal;
  tenant: Tenant;
  apiKey: ApiKey;
}

export async function findAccountByKeyHash(db: Db, keyHash: string): Promise<Account | null> {
  const [row] = await accountByKeyHash(db).execute({ keyHash });
  return row ? { principal: { kind: "tenant", tenantId: row.tenant.id, apiKeyId: row.apiKey.id }, tenant: row.tenant, apiKey: toApiKey(row.apiKey) } : null;
}

export async function touchApiKey(db: Db, apiKeyId: string, at: Date): Promise<void> {
  await db.update(apiKeys).set({ lastUsedAt: at }).where(eq(apiKeys.id, apiKeyId));
}

/** The principal of a live key of an active tenant, or null. */
export async function findPrincipalByKeyHash(db: Db, keyHash: string): Promise<TenantPrincipal | null> {
  return (await findAccountByKeyHash(db, keyHash))?.principal ?? null;
}
