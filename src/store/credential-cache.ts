import { createPrivateKey, type KeyObject } from "node:crypto";
import { eq } from "drizzle-orm";
import { LRUCache } from "lru-cache";
import type { Keyring } from "../crypto/keyring.js";
import type { Db } from "../db/db.js";
import { appleCredentials, googleCredentials } from "./schema.js";
import { APPLE_KEY_CONTEXT, GOOGLE_ACCOUNT_CONTEXT } from "./credentials.js";

/** Credential changes are broadcast so every instance drops its decrypted copy at once. */
export const STORE_CREDENTIALS_EVICT_CHANNEL = "attesto:store:credentials:evict";

/** A tenant's Apple credentials, decrypted: in process memory only, never logged. */
export interface AppleCredentials {
  bundleId: string;
  keyId: string;
  issuerId: string;
  environment: "production" | "sandbox";
  /** The environments whose signed data and notifications the tenant accepts. */
  acceptedEnvironments: Array<"production" | "sandbox">;
  privateKey: KeyObject;
}

/** A tenant's Google credentials, decrypted: in process memory only, never logged. */
export interface GoogleCredentials {
  packageName: string;
  clientEmail: string;
  pubsubAudience: string | null;
  pubsubPushEmail: string | null;
  /** Acknowledge verified, unacknowledged purchases at once. */
  autoAcknowledge: boolean;
  privateKey: KeyObject;
  privateKeyId: string | undefined;
  /** The service account's token_uri; the configured OAuth endpoint is used when it has none. */
  tokenUri: string | undefined;
}

interface Slot<T> {
  value: T | undefined;
}

/**
 * The decrypted store credentials of the tenants, behind a TTL cache with
 * in-flight dedup: N concurrent verifies for one tenant are one DB read and
 * one decryption. A change anywhere evicts everywhere through a Redis
 * broadcast (STORE_CREDENTIALS_EVICT_CHANNEL), as API-key revocations do.
 */
export class StoreCredentialCache {
  private readonly apples: LRUCache<string, Slot<AppleCredentials>>;
  private readonly googles: LRUCache<string, Slot<GoogleCredentials>>;
  private readonly inFlight = new Map<string, Promise<unknown>>();
  /** Bumped by every eviction, so a read that started before it is not cached after it. */
  private generation = 0;
  /** DB reads done (each is also one decryption when credentials exist). */
  loads = 0;

  constructor(
    private readonly db: Db,
    private readonly keyring: Keyring,
    settings: { ttlMs: number; max?: number },
  ) {
    const options = { max: settings.max ?? 10_000, ttl: Math.max(1, settings.ttlMs) };
    this.apples = new LRUCache(options);
    this.googles = new LRUCache(options);
  }

  apple(tenantId: string): Promise<AppleCredentials | undefined> {
    return this.load(this.apples, `apple:${tenantId}`, () => this.readApple(tenantId));
  }

  google(tenantId: string): Promise<GoogleCredentials | undefined> {
    return this.load(this.googles, `google:${tenantId}`, () => this.readGoogle(tenantId));
  }

  /** Drops one tenant's credentials, or everyone's. */
  evict(tenantId?: string): void {
    this.generation++;
    if (tenantId) {
      this.apples.delete(`apple:${tenantId}`);
      this.googles.delete(`google:${tenantId}`);
      this.inFlight.delete(`apple:${tenantId}`);
      this.inFlight.delete(`google:${tenantId}`);
    } else {
      this.apples.clear();
      this.googles.clear();
      this.inFlight.clear();
    }
  }

  private async load<T>(cache: LRUCache<string, Slot<T>>, key: string, read: () => Promise<T | undefined>): Promise<T | undefined> {
    const hit = cache.get(key);
    if (hit) return hit.value;
    let pending = this.inFlight.get(key) as Promise<T | undefined> | undefined;
    if (!pending) {
      const generation = this.generation;
      this.loads++;
      pending = read().then((value) => {
        if (generation === this.generation) cache.set(key, { value });
        return value;
      });
      const cleared = pending.finally(() => {
        if (this.inFlight.get(key) === cleared) this.inFlight.delete(key);
      });
      this.inFlight.set(key, cleared);
      pending = cleared;
    }
    return pending;
  }

  private async readApple(tenantId: string): Promise<AppleCredentials | undefined> {
    const [row] = await this.db.select().from(appleCredentials).where(eq(appleCredentials.tenantId, tenantId)).limit(1);
    if (!row) return undefined;
    const pem = this.keyring.decrypt(APPLE_KEY_CONTEXT, row.privateKeyEnc, tenantId);
    return {
      bundleId: row.bundleId,
      keyId: row.keyId,
      issuerId: row.issuerId,
      environment: row.environment,
      acceptedEnvironments: row.acceptedEnvironments,
      privateKey: createPrivateKey({ key: pem, format: "pem" }),
    };
  }

  private async readGoogle(tenantId: string): Promise<GoogleCredentials | undefined> {
    const [row] = await this.db.select().from(googleCredentials).where(eq(googleCredentials.tenantId, tenantId)).limit(1);
    if (!row) return undefined;
    const account = JSON.parse(this.keyring.decrypt(GOOGLE_ACCOUNT_CONTEXT, row.serviceAccountEnc, tenantId).toString("utf8")) as Record<string, unknown>;
    return {
      packageName: row.packageName,
      clientEmail: row.clientEmail,
      pubsubAudience: row.pubsubAudience,
      pubsubPushEmail: row.pubsubPushEmail,
      autoAcknowledge: row.autoAcknowledge,
      privateKey: createPrivateKey({ key: String(account.private_key), format: "pem" }),
      privateKeyId: typeof account.private_key_id === "string" ? account.private_key_id : undefined,
      tokenUri: typeof account.token_uri === "string" ? account.token_uri : undefined,
    };
  }
}
