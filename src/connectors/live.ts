import { eq } from "drizzle-orm";
import { LRUCache } from "lru-cache";
import type { Keyring } from "../crypto/keyring.js";
import type { Db } from "../db/db.js";
import { AppError } from "../errors.js";
import type { Broadcast } from "../infra/broadcast.js";
import { AUTH_EVICT_CHANNEL, type Tenancy } from "../tenancy/module.js";
import { CONNECTOR_SECRET_CONTEXT } from "./kind-config.js";
import type { ObjectStore } from "./s3.js";
import { connectors, type ConnectorKind } from "./schema.js";
import type { KindSettings } from "./types.js";

/** A revoked or rotated connector, by id, dropped from every instance's cache. */
export const CONNECTOR_EVICT_CHANNEL = "attesto:connectors:evict";

/** A connector as ingress needs it, cached per instance. */
export interface LiveConnector {
  id: string;
  tenantId: string;
  streamId: string;
  kind: ConnectorKind;
  settings: KindSettings;
  /** The current secret, then the previous one while its overlap lasts. */
  secrets: string[];
  /** The secret replaced at the last rotation, once its overlap ended: never accepted, only recognized (see ingress.ts). */
  retiredSecret?: string;
  /** When this entry must be reloaded (cache age, or the end of an overlap). */
  validUntil: number;
  /** S3_OBJECT: the client over the current credentials, made on first use. */
  store?: ObjectStore;
}

/** Unknown and revoked connectors answer exactly this, so they cannot be told apart. */
export const connectorNotFound = () => new AppError("not_found", "connector not found", { reason: "CONNECTOR_NOT_FOUND" });

/**
 * The connectors ingress serves, with their secrets opened, cached per
 * instance for `cacheMs` (or until a rotation overlap ends). A revocation or
 * rotation evicts its connector here at once and on the other instances
 * through the broadcast; a deactivated tenant (the whole API key cache
 * evicted) clears the cache, so its connectors fail closed like its keys.
 */
export class LiveConnectors {
  readonly #cache: LRUCache<string, LiveConnector | "missing">;

  constructor(
    private readonly deps: { db: Db; keyring: Keyring; tenancy: Pick<Tenancy, "isActiveTenant">; broadcast?: Broadcast },
    private readonly cacheMs: number,
  ) {
    this.#cache = new LRUCache({
      max: 10_000,
      // Evicted, expired or replaced: its S3 connections are closed.
      dispose: (entry) => {
        if (entry !== "missing") entry.store?.close();
      },
    });
  }

  /** Listens for the other instances' evictions. */
  async start(): Promise<void> {
    await this.deps.broadcast?.subscribe(CONNECTOR_EVICT_CHANNEL, (id) => this.#cache.delete(id));
    await this.deps.broadcast?.subscribe(AUTH_EVICT_CHANNEL, (keyHash) => keyHash === "" && this.#cache.clear());
  }

  /** Disposing the entries closes their S3 connections. */
  close(): void {
    this.#cache.clear();
  }

  /** A live connector of `kind`; unknown, revoked and other kinds look alike. */
  async of(id: string, kind: ConnectorKind): Promise<LiveConnector> {
    const entry = await this.entry(id);
    if (entry === "missing" || entry.kind !== kind) throw connectorNotFound();
    return entry;
  }

  /** The cached entry, loaded when absent or past its validity. */
  async entry(id: string): Promise<LiveConnector | "missing"> {
    const now = Date.now();
    let entry = this.#cache.get(id);
    if (entry === undefined || (entry !== "missing" && entry.validUntil <= now)) {
      entry = await this.#load(id, now);
      this.#cache.set(id, entry, { ttl: this.cacheMs > 0 ? this.cacheMs : 1 });
    }
    return entry;
  }

  /** Drops the connector from every instance's cache: here at once, elsewhere through Redis. */
  evictEverywhere(id: string): void {
    this.#cache.delete(id);
    this.deps.broadcast?.publish(CONNECTOR_EVICT_CHANNEL, id);
  }

  async #load(id: string, now: number): Promise<LiveConnector | "missing"> {
    if (!/^con_[0-9A-HJKMNP-TV-Z]{26}$/.test(id)) return "missing";
    const [row] = await this.deps.db.select().from(connectors).where(eq(connectors.id, id)).limit(1);
    if (!row || row.revokedAt || !row.secretEnc) return "missing";
    if (!(await this.deps.tenancy.isActiveTenant(row.tenantId))) return "missing";
    const open = (sealed: Uint8Array) => this.deps.keyring.decryptText(CONNECTOR_SECRET_CONTEXT, sealed, row.tenantId);
    const previous = row.previousSecretEnc ? open(row.previousSecretEnc) : undefined;
    const previousLive = previous !== undefined && row.previousSecretExpiresAt !== null && row.previousSecretExpiresAt.getTime() > now;
    const secrets = [open(row.secretEnc), ...(previousLive ? [previous] : [])];
    const validUntil = Math.min(now + this.cacheMs, previousLive ? row.previousSecretExpiresAt!.getTime() : Infinity);
    const retiredSecret = previousLive ? undefined : previous;
    return { id: row.id, tenantId: row.tenantId, streamId: row.streamId, kind: row.kind, settings: row.settings as KindSettings, secrets, retiredSecret, validUntil };
  }
}
