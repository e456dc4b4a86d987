import { hash, timingSafeEqual } from "node:crypto";
import { LRUCache } from "lru-cache";
import type { Db } from "../db/db.js";
import { AppError } from "../errors.js";
import type { Logger } from "../logger.js";
import { apiKeyHashOf, findAccountByKeyHash, hashApiKey, looksLikeApiKey, touchApiKey, type Account } from "./api-keys.js";
import type { Principal, TenantPrincipal } from "./types.js";

/** last_used_at is written at most this often per key and instance. */
const TOUCH_INTERVAL_MS = 60_000;
const MAX_CACHED_KEYS = 10_000;

/** A cache entry: the key's account (principal, key and tenant rows), or null for a key that resolves to nothing. */
interface Lookup {
  account: Account | null;
}

/**
 * Turns `Authorization: Bearer …` into a principal. Tenant keys are looked
 * up by SHA-256 and cached briefly (cacheMs) with the key's and the tenant's
 * rows, so that a busy key costs no query per request, GetCurrentTenant
 * included; revocation and deactivation evict at once on this instance and,
 * through `evict`, on others.
 */
export class Authenticator {
  readonly #cache: LRUCache<string, Lookup> | undefined;
  /** The rows each principal was resolved with, for as long as someone holds the principal. */
  readonly #accounts = new WeakMap<TenantPrincipal, Account>();
  /** When this instance last recorded each key's use. */
  readonly #touched = new LRUCache<string, true>({ max: MAX_CACHED_KEYS, ttl: TOUCH_INTERVAL_MS });
  readonly #adminTokenHash: Buffer | undefined;

  constructor(
    private readonly db: Db,
    private readonly opts: { adminToken: string | undefined; cacheMs: number; logger: Logger },
  ) {
    this.#adminTokenHash = opts.adminToken ? sha256(opts.adminToken) : undefined;
    this.#cache = opts.cacheMs > 0 ? new LRUCache({ max: MAX_CACHED_KEYS, ttl: opts.cacheMs }) : undefined;
  }

  /** Parses the header; throws unauthenticated when absent or malformed. */
  static bearerToken(header: string | null | undefined): string {
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) throw new AppError("unauthenticated", "missing or malformed Authorization: Bearer header", { reason: "CREDENTIALS_MISSING" });
    return match[1]!;
  }

  isOperatorToken(token: string): boolean {
    return this.#isOperatorDigest(sha256(token));
  }

  /** Hashing both sides keeps the comparison constant-time whatever the lengths. */
  #isOperatorDigest(digest: Buffer): boolean {
    return this.#adminTokenHash !== undefined && timingSafeEqual(digest, this.#adminTokenHash);
  }

  async authenticate(header: string | null | undefined): Promise<Principal> {
    const token = Authenticator.bearerToken(header);
    // One SHA-256 per request: the operator check and the key lookup share it.
    const digest = sha256(token);
    if (this.#isOperatorDigest(digest)) return { kind: "operator" };
    const principal = looksLikeApiKey(token) ? await this.#lookup(apiKeyHashOf(digest)) : null;
    if (!principal) throw new AppError("unauthenticated", "invalid API key");
    this.#touch(principal);
    return principal;
  }

  async requireTenant(header: string | null | undefined): Promise<TenantPrincipal> {
    const principal = await this.authenticate(header);
    if (principal.kind !== "tenant") throw new AppError("permission_denied", "this call takes a tenant API key");
    return principal;
  }

  async requireOperator(header: string | null | undefined): Promise<void> {
    const token = Authenticator.bearerToken(header);
    if (this.isOperatorToken(token)) return;
    if (this.#adminTokenHash === undefined) {
      throw new AppError("permission_denied", "operator calls are disabled: ATTESTO_ADMIN_TOKEN is not set", { reason: "OPERATOR_DISABLED" });
    }
    const isTenant = looksLikeApiKey(token) && (await this.#lookup(hashApiKey(token))) !== null;
    throw isTenant
      ? new AppError("permission_denied", "this call takes the operator token", { reason: "OPERATOR_TOKEN_REQUIRED" })
      : new AppError("unauthenticated", "invalid operator token", { reason: "OPERATOR_TOKEN_INVALID" });
  }

  /** Forgets cached keys: one key hash, or all of them. */
  evict(keyHash?: string): void {
    if (keyHash) this.#cache?.delete(keyHash);
    else this.#cache?.clear();
  }

  /**
   * The key's and the tenant's rows as this instance resolved the principal
   * (at most the key cache's lifetime ago, and never across an eviction it
   * heard of); undefined for a principal it did not make.
   */
  accountOf(principal: TenantPrincipal): Account | undefined {
    return this.#accounts.get(principal);
  }

  async #lookup(keyHash: string): Promise<TenantPrincipal | null> {
    const hit = this.#cache?.get(keyHash);
    if (hit) return hit.account?.principal ?? null;
    const account = await findAccountByKeyHash(this.db, keyHash);
    if (account) this.#accounts.set(account.principal, account);
    // Unknown keys are cached too, so a flood of bad keys stays off the database.
    this.#cache?.set(keyHash, { account });
    return account?.principal ?? null;
  }

  #touch(principal: TenantPrincipal): void {
    const { apiKeyId } = principal;
    if (this.#touched.has(apiKeyId)) return;
    this.#touched.set(apiKeyId, true);
    const at = new Date();
    // The cached row says what this instance just recorded, as a fresh read would.
    const account = this.#accounts.get(principal);
    if (account) account.apiKey = { ...account.apiKey, lastUsedAt: at };
    touchApiKey(this.db, apiKeyId, at).catch((err) => this.opts.logger.warn({ err: (err as Error).message, apiKeyId }, "could not record api key use"));
  }
}

const sha256 = (s: string) => hash("sha256", s, "buffer");
