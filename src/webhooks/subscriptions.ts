import { and, desc, eq, isNull, lt } from "drizzle-orm";
import type { Keyring } from "../crypto/keyring.js";
import type { Db } from "../db/db.js";
import { withDbErrors } from "../db/errors.js";
import { AppError, invalidArgument, notFound } from "../errors.js";
import { newId } from "../ids.js";
import { pageOf, pageWindow, type PageRequest } from "../db/pagination.js";
import { checkOutboundUrl, type OutboundPolicy } from "../net/outbound.js";
import { requireActiveTenant } from "../tenancy/module.js";
import { isWebhookEventType, type WebhookEventType } from "./event-types.js";
import { failSubscriptionDeliveries, releaseHeldDeliveries } from "./delivery-rows.js";
import { webhookSubscriptions } from "./schema.js";
import { checkEtag, etagOf } from "../etag.js";
import { createOnce, type RequestIds } from "../request-ids/module.js";
import { newSigningSecret } from "./signing.js";
import { checkOrderingBound } from "./ordering.js";

/** Encryption context (HKDF info) of the sealed signing secrets. */
export const SECRET_CONTEXT = "webhook_subscriptions.secret";

/** The longest rotation overlap a request may ask for. */
export const MAX_SECRET_OVERLAP_MS = 7 * 24 * 3600_000;

export interface Subscription {
  id: string;
  tenantId: string;
  name: string;
  url: string;
  eventTypes: WebhookEventType[];
  description: string;
  enabled: boolean;
  disabledReason: string | null;
  createdAt: Date;
  updatedAt: Date;
  secretRotatedAt: Date;
  /** Set while the previous secret still signs. */
  previousSecretExpiresAt: Date | null;
  /** At most this many deliveries per second across all instances; 0: no limit. */
  maxDeliveriesPerSecond: number;
  /** Ordered delivery (ordering.ts): deliveries of one ordering key are attempted in order. */
  ordered: boolean;
  /** How long an ordered delivery waits behind an earlier pending one before it is sent anyway, in seconds. */
  orderingBoundSeconds: number;
  /** Changes whenever any field above does (see etag.ts); not with the health counters below. */
  etag: string;
  /** Deliveries that ended failed in a row (auto-disable). */
  consecutiveFailedDeliveries: number;
  /** The first failed attempt since the last success (auto-disable). */
  failingSince: Date | null;
}

export interface SubscriptionInput {
  name: string;
  url: string;
  eventTypes: readonly string[];
  description?: string;
  maxDeliveriesPerSecond?: number;
  ordered?: boolean;
  /** 0 or unset: the default (ordering.ts). */
  orderingBoundSeconds?: number;
}

export interface SubscriptionPatch {
  name?: string;
  url?: string;
  eventTypes?: readonly string[];
  description?: string;
  enabled?: boolean;
  maxDeliveriesPerSecond?: number;
  ordered?: boolean;
  /** 0: back to the default (ordering.ts). */
  orderingBoundSeconds?: number;
  /** The etag as the caller read it; unset changes unconditionally. */
  etag?: string;
}

type Row = typeof webhookSubscriptions.$inferSelect;

export function toSubscription(row: Row, now = new Date()): Subscription {
  const subscription: Omit<Subscription, "etag" | "consecutiveFailedDeliveries" | "failingSince"> = {
    id: row.id,
    tenantId: row.tenantId,
    name: row.name,
    url: row.url,
    eventTypes: row.eventTypes as WebhookEventType[],
    description: row.description,
    enabled: row.enabled,
    disabledReason: row.disabledReason,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    secretRotatedAt: row.secretRotatedAt,
    previousSecretExpiresAt: row.previousSecretEnc && row.previousSecretExpiresAt && row.previousSecretExpiresAt > now ? row.previousSecretExpiresAt : null,
    maxDeliveriesPerSecond: row.maxDeliveriesPerSecond,
    ordered: row.ordered,
    orderingBoundSeconds: row.orderingBoundSeconds,
  };
  // The etag covers the stored state, not the clock: an overlap running out does not change it.
  return {
    ...subscription,
    etag: etagOf({ ...subscription, previousSecretExpiresAt: row.previousSecretExpiresAt, secretRotatedAt: row.secretRotatedAt }),
    consecutiveFailedDeliveries: row.consecutiveFailedDeliveries,
    failingSince: row.failingSince,
  };
}

/** The highest per-subscription delivery rate a tenant may set. */
export const MAX_DELIVERIES_PER_SECOND = 10_000;

/** A delivery rate limit: a whole number from 0 (none) to MAX_DELIVERIES_PER_SECOND. */
export function checkRate(value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > MAX_DELIVERIES_PER_SECOND) throw invalidArgument("max_deliveries_per_second", `must be a whole number from 0 to ${MAX_DELIVERIES_PER_SECOND}`);
  return value;
}

/** Known, de-duplicated event types (order kept); errors name the contract field `event_types`. */
export function checkEventTypes(values: readonly string[]): WebhookEventType[] {
  const field = "event_types";
  if (values.length === 0) throw invalidArgument(field, "is required");
  values.forEach((value, i) => {
    if (!isWebhookEventType(value)) throw invalidArgument(`${field}[${i}]`, `unknown event type "${value.slice(0, 64)}"`);
  });
  return [...new Set(values as WebhookEventType[])];
}

const live = (tenantId: string, id: string) => and(eq(webhookSubscriptions.id, id), eq(webhookSubscriptions.tenantId, tenantId), isNull(webhookSubscriptions.deletedAt));

/**
 * A tenant's webhook subscriptions: URLs checked by the outbound guard on
 * every save, signing secrets sealed at rest and shown once, rotation with
 * an overlap during which the previous secret signs too. Every call is
 * scoped by tenant; another tenant's subscription reads as missing.
 */
export class Subscriptions {
  constructor(
    private readonly deps: {
      db: Db;
      keyring: Keyring;
      /** The outbound policy a tenant's receiver URLs are checked against (ReceiverPolicies). */
      policyFor: (tenantId: string) => OutboundPolicy;
      secretOverlapMs: number;
      requestIds?: RequestIds;
      /** Runs the jobs of held deliveries an update made due (ordering off, a new bound): the engine's. */
      released?: (deliveryIds: string[]) => void;
    },
  ) {}

  /** Creates a subscription; the signing secret is returned once and stored sealed. */
  async create(tenantId: string, input: SubscriptionInput, requestId?: string): Promise<{ subscription: Subscription; secret: string }> {
    const key = requestId ? { scope: tenantId, method: "CreateSubscription", requestId, request: input } : undefined;
    return createOnce(
      this.deps.requestIds,
      this.deps.db,
      key,
      async (tx) => {
        const created = await this.#create(tx, tenantId, input);
        return { result: created, resourceId: created.subscription.id, secret: created.secret };
      },
      async (id, secret) => {
        const subscription = await this.get(tenantId, id);
        if (subscription.secretRotatedAt.getTime() !== subscription.createdAt.getTime()) {
          throw new AppError("already_exists", `request_id already created subscription ${id}; its secret was rotated since and can no longer be shown`, {
            field: "request_id",
            reason: "REQUEST_ID_REUSED",
          });
        }
        return { subscription, secret: secret ?? "" };
      },
    );
  }

  async #create(db: Db, tenantId: string, input: SubscriptionInput): Promise<{ subscription: Subscription; secret: string }> {
    const { keyring, policyFor } = this.deps;
    const eventTypes = checkEventTypes(input.eventTypes);
    const url = (await checkOutboundUrl(input.url, policyFor(tenantId))).href;
    await requireActiveTenant(db, tenantId);
    const signingSecret = newSigningSecret();
    const [row] = await withDbErrors(() =>
      db
        .insert(webhookSubscriptions)
        .values({
          id: newId("sub"),
          tenantId,
          name: input.name,
          url,
          eventTypes,
          description: input.description ?? "",
          maxDeliveriesPerSecond: checkRate(input.maxDeliveriesPerSecond ?? 0),
          ordered: input.ordered ?? false,
          orderingBoundSeconds: checkOrderingBound(input.orderingBoundSeconds ?? 0),
          secretEnc: keyring.encrypt(SECRET_CONTEXT, signingSecret, tenantId),
        })
        .returning(),
    );
    return { subscription: toSubscription(row!), secret: signingSecret };
  }

  async get(tenantId: string, id: string): Promise<Subscription> {
    const [row] = await this.deps.db.select().from(webhookSubscriptions).where(live(tenantId, id)).limit(1);
    if (!row) throw notFound("subscription");
    return toSubscription(row);
  }

  /** Newest first. */
  async list(tenantId: string, page: PageRequest = {}): Promise<{ subscriptions: Subscription[]; nextPageToken: string }> {
    const win = pageWindow(page);
    const { fetch, after: before } = win;
    const rows = await this.deps.db
      .select()
      .from(webhookSubscriptions)
      .where(and(eq(webhookSubscriptions.tenantId, tenantId), isNull(webhookSubscriptions.deletedAt), before ? lt(webhookSubscriptions.id, before) : undefined))
      .orderBy(desc(webhookSubscriptions.id))
      .limit(fetch);
    const { items, nextPageToken } = pageOf(
      rows,
      win,
      (r) => r.id,
      (r) => toSubscription(r),
    );
    return { subscriptions: items, nextPageToken };
  }

  /**
   * Changes the fields that are set. Disabling fails the subscription's
   * pending deliveries; a new URL applies to deliveries enqueued afterwards.
   */
  async update(tenantId: string, id: string, patch: SubscriptionPatch): Promise<Subscription> {
    const set: Partial<typeof webhookSubscriptions.$inferInsert> = { updatedAt: new Date() };
    if (patch.name !== undefined) set.name = patch.name;
    if (patch.description !== undefined) set.description = patch.description;
    if (patch.eventTypes !== undefined) set.eventTypes = checkEventTypes(patch.eventTypes);
    if (patch.url !== undefined) set.url = (await checkOutboundUrl(patch.url, this.deps.policyFor(tenantId))).href;
    if (patch.maxDeliveriesPerSecond !== undefined) set.maxDeliveriesPerSecond = checkRate(patch.maxDeliveriesPerSecond);
    // Turning ordering on orders the deliveries written from then on; off (or a new bound), the held ones are due again.
    if (patch.ordered !== undefined) set.ordered = patch.ordered;
    if (patch.orderingBoundSeconds !== undefined) set.orderingBoundSeconds = checkOrderingBound(patch.orderingBoundSeconds);
    if (patch.enabled !== undefined) {
      set.enabled = patch.enabled;
      set.disabledReason = patch.enabled ? null : "disabled_by_tenant";
      // Re-enabled: its health starts again (and nothing is requeued: RecoverDeliveries does that).
      if (patch.enabled) Object.assign(set, { consecutiveFailedDeliveries: 0, failingSince: null });
    }
    const { subscription, released } = await this.deps.db.transaction(async (tx) => {
      await this.#lockCurrent(tx, tenantId, id, patch.etag);
      const [row] = await tx.update(webhookSubscriptions).set(set).where(live(tenantId, id)).returning();
      if (!row) throw notFound("subscription");
      if (patch.enabled === false) await failSubscriptionDeliveries(tx, id, "subscription_disabled");
      const released = patch.ordered === false || patch.orderingBoundSeconds !== undefined ? await releaseHeldDeliveries(tx, id, patch.ordered === false) : [];
      return { subscription: toSubscription(row), released };
    });
    if (released.length > 0) this.deps.released?.(released);
    return subscription;
  }

  /** Deletes a subscription and its secrets; its pending deliveries fail, its records stay readable. */
  async delete(tenantId: string, id: string, etag?: string): Promise<void> {
    await this.deps.db.transaction(async (tx) => {
      await this.#lockCurrent(tx, tenantId, id, etag);
      const now = new Date();
      const [row] = await tx
        .update(webhookSubscriptions)
        .set({ deletedAt: now, updatedAt: now, enabled: false, secretEnc: null, previousSecretEnc: null, previousSecretExpiresAt: null })
        .where(live(tenantId, id))
        .returning({ id: webhookSubscriptions.id });
      if (!row) throw notFound("subscription");
      await failSubscriptionDeliveries(tx, id, "subscription_deleted");
    });
  }

  /**
   * Replaces the signing secret; the current one keeps signing for
   * `overlapMs` (the configured default when unset; zero ends it at once). A
   * second rotation during an overlap ends the older overlap: only one
   * previous secret is kept.
   */
  async rotateSecret(tenantId: string, id: string, overlapMs = this.deps.secretOverlapMs, etag?: string): Promise<{ subscription: Subscription; secret: string }> {
    if (overlapMs < 0) throw invalidArgument("overlap", "must not be negative");
    if (overlapMs > MAX_SECRET_OVERLAP_MS) throw invalidArgument("overlap", "must be at most 7 days");
    const { db, keyring } = this.deps;
    const signingSecret = newSigningSecret();
    return db.transaction(async (tx) => {
      const current = await this.#lockCurrent(tx, tenantId, id, etag);
      if (!current.secretEnc) throw notFound("subscription");
      const now = new Date();
      const [row] = await tx
        .update(webhookSubscriptions)
        .set({
          secretEnc: keyring.encrypt(SECRET_CONTEXT, signingSecret, tenantId),
          secretRotatedAt: now,
          previousSecretEnc: overlapMs > 0 ? current.secretEnc : null,
          previousSecretExpiresAt: overlapMs > 0 ? new Date(now.getTime() + overlapMs) : null,
          updatedAt: now,
        })
        .where(live(tenantId, id))
        .returning();
      if (!row) throw notFound("subscription");
      return { subscription: toSubscription(row, now), secret: signingSecret };
    });
  }

  /** The live row, locked for the change; ABORTED when `etag` is set and no longer the row's. */
  async #lockCurrent(tx: Db, tenantId: string, id: string, etag: string | undefined): Promise<Row> {
    const [row] = await tx.select().from(webhookSubscriptions).where(live(tenantId, id)).for("update").limit(1);
    if (!row) throw notFound("subscription");
    checkEtag(etag, toSubscription(row).etag, "subscription");
    return row;
  }
}

/** The secrets that sign a delivery now: the current one and a previous one inside its overlap. */
export function openSecrets(
  keyring: Keyring,
  tenantId: string,
  row: { secretEnc: Uint8Array | null; previousSecretEnc: Uint8Array | null; previousSecretExpiresAt: Date | null },
  now = new Date(),
): { secret: string; previousSecret?: string } {
  if (!row.secretEnc) throw new AppError("failed_precondition", "subscription is deleted", { reason: "SUBSCRIPTION_DELETED" });
  const secret = keyring.decryptText(SECRET_CONTEXT, row.secretEnc, tenantId);
  const previousLive = row.previousSecretEnc && row.previousSecretExpiresAt && row.previousSecretExpiresAt > now;
  return previousLive ? { secret, previousSecret: keyring.decryptText(SECRET_CONTEXT, row.previousSecretEnc!, tenantId) } : { secret };
}
