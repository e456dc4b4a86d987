import { and, desc, eq, isNull, lt } from "drizzle-orm";
import type { Keyring } from "../crypto/keyring.js";
import type { Db } from "../db/db.js";
import { withDbErrors } from "../db/errors.js";
import { AppError, invalidArgument, notFound } from "../errors.js";
import { decodePageToken, encodePageToken, newId, pageSizeOf } from "../ids.js";
import { checkOutboundUrl, type OutboundPolicy } from "../net/outbound.js";
import { requireActiveTenant } from "../tenancy/tenants.js";
import { isWebhookEventType, type WebhookEventType } from "./events.js";
import { webhookDeliveries, webhookSubscriptions } from "./schema.js";
import { newSigningSecret } from "./signing.js";

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
}

export interface SubscriptionInput {
  name: string;
  url: string;
  eventTypes: readonly string[];
  description?: string;
}

export interface SubscriptionPatch {
  name?: string;
  url?: string;
  eventTypes?: readonly string[];
  description?: string;
  enabled?: boolean;
}

type Row = typeof webhookSubscriptions.$inferSelect;

export function toSubscription(row: Row, now = new Date()): Subscription {
  return {
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
  };
}

/** Known, de-duplicated event types (order kept); `field` names the request field in errors. */
export function checkEventTypes(values: readonly string[], field = "event_types"): WebhookEventType[] {
  if (values.length === 0) throw invalidArgument(field, "is required");
  values.forEach((value, i) => {
    if (!isWebhookEventType(value)) throw invalidArgument(`${field}[${i}]`, `unknown event type "${value.slice(0, 64)}"`);
  });
  return [...new Set(values as WebhookEventType[])];
}

const live = (tenantId: string, id: string) =>
  and(eq(webhookSubscriptions.id, id), eq(webhookSubscriptions.tenantId, tenantId), isNull(webhookSubscriptions.deletedAt));

/** Creates a subscription; the signing secret is returned once and stored sealed. */
export async function createSubscription(
  db: Db,
  keyring: Keyring,
  policy: OutboundPolicy,
  tenantId: string,
  input: SubscriptionInput,
  fields: { eventTypes?: string } = {},
): Promise<{ subscription: Subscription; signingSecret: string }> {
  const eventTypes = checkEventTypes(input.eventTypes, fields.eventTypes);
  const url = (await checkOutboundUrl(input.url, policy)).href;
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
        secretEnc: keyring.encrypt(SECRET_CONTEXT, signingSecret, tenantId),
      })
      .returning(),
  );
  return { subscription: toSubscription(row!), signingSecret };
}

export async function getSubscription(db: Db, tenantId: string, id: string): Promise<Subscription> {
  const [row] = await db.select().from(webhookSubscriptions).where(live(tenantId, id)).limit(1);
  if (!row) throw notFound("subscription");
  return toSubscription(row);
}

/** Newest first. */
export async function listSubscriptions(
  db: Db,
  tenantId: string,
  page: { pageSize?: number; pageToken?: string } = {},
): Promise<{ subscriptions: Subscription[]; nextPageToken: string }> {
  const limit = pageSizeOf(page.pageSize);
  const before = decodePageToken(page.pageToken);
  const rows = await db
    .select()
    .from(webhookSubscriptions)
    .where(and(eq(webhookSubscriptions.tenantId, tenantId), isNull(webhookSubscriptions.deletedAt), before ? lt(webhookSubscriptions.id, before) : undefined))
    .orderBy(desc(webhookSubscriptions.id))
    .limit(limit + 1);
  const items = rows.slice(0, limit);
  return { subscriptions: items.map((r) => toSubscription(r)), nextPageToken: rows.length > limit ? encodePageToken(items[items.length - 1]!.id) : "" };
}

/**
 * Changes the fields that are set. Disabling fails the subscription's
 * pending deliveries; a new URL applies to deliveries enqueued afterwards.
 */
export async function updateSubscription(
  db: Db,
  policy: OutboundPolicy,
  tenantId: string,
  id: string,
  patch: SubscriptionPatch,
  fields: { eventTypes?: string } = {},
): Promise<Subscription> {
  const set: Partial<typeof webhookSubscriptions.$inferInsert> = { updatedAt: new Date() };
  if (patch.name !== undefined) set.name = patch.name;
  if (patch.description !== undefined) set.description = patch.description;
  if (patch.eventTypes !== undefined) set.eventTypes = checkEventTypes(patch.eventTypes, fields.eventTypes);
  if (patch.url !== undefined) set.url = (await checkOutboundUrl(patch.url, policy)).href;
  if (patch.enabled !== undefined) {
    set.enabled = patch.enabled;
    set.disabledReason = patch.enabled ? null : "disabled_by_tenant";
  }
  return db.transaction(async (tx) => {
    const [row] = await tx.update(webhookSubscriptions).set(set).where(live(tenantId, id)).returning();
    if (!row) throw notFound("subscription");
    if (patch.enabled === false) await failPendingDeliveries(tx, id, "subscription_disabled");
    return toSubscription(row);
  });
}

/** Deletes a subscription and its secrets; its pending deliveries fail, its records stay readable. */
export async function deleteSubscription(db: Db, tenantId: string, id: string): Promise<void> {
  await db.transaction(async (tx) => {
    const now = new Date();
    const [row] = await tx
      .update(webhookSubscriptions)
      .set({ deletedAt: now, updatedAt: now, enabled: false, secretEnc: null, previousSecretEnc: null, previousSecretExpiresAt: null })
      .where(live(tenantId, id))
      .returning({ id: webhookSubscriptions.id });
    if (!row) throw notFound("subscription");
    await failPendingDeliveries(tx, id, "subscription_deleted");
  });
}

/**
 * Replaces the signing secret; the current one keeps signing for overlapMs
 * (zero ends it at once). A second rotation during an overlap ends the
 * older overlap: only one previous secret is kept.
 */
export async function rotateSubscriptionSecret(
  db: Db,
  keyring: Keyring,
  tenantId: string,
  id: string,
  overlapMs: number,
): Promise<{ subscription: Subscription; signingSecret: string }> {
  if (overlapMs < 0) throw invalidArgument("overlap", "must not be negative");
  if (overlapMs > MAX_SECRET_OVERLAP_MS) throw invalidArgument("overlap", "must be at most 7 days");
  const signingSecret = newSigningSecret();
  return db.transaction(async (tx) => {
    const [current] = await tx.select().from(webhookSubscriptions).where(live(tenantId, id)).limit(1);
    if (!current?.secretEnc) throw notFound("subscription");
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
    return { subscription: toSubscription(row, now), signingSecret };
  });
}

/** Marks a subscription's pending deliveries failed (an attempt in flight still records its result). */
export async function failPendingDeliveries(tx: Db, subscriptionId: string, reason: string): Promise<void> {
  await tx
    .update(webhookDeliveries)
    .set({ status: "failed", failureReason: reason, nextAttemptAt: null, completedAt: new Date() })
    .where(and(eq(webhookDeliveries.subscriptionId, subscriptionId), eq(webhookDeliveries.status, "pending")));
}

/** The secrets that sign a delivery now: the current one and a previous one inside its overlap. */
export function openSecrets(
  keyring: Keyring,
  tenantId: string,
  row: { secretEnc: Uint8Array | null; previousSecretEnc: Uint8Array | null; previousSecretExpiresAt: Date | null },
  now = new Date(),
): { secret: string; previousSecret?: string } {
  if (!row.secretEnc) throw new AppError("failed_precondition", "subscription is deleted");
  const secret = keyring.decryptText(SECRET_CONTEXT, row.secretEnc, tenantId);
  const previousLive = row.previousSecretEnc && row.previousSecretExpiresAt && row.previousSecretExpiresAt > now;
  return previousLive ? { secret, previousSecret: keyring.decryptText(SECRET_CONTEXT, row.previousSecretEnc!, tenantId) } : { secret };
}
