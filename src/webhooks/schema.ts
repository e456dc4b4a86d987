import { sql } from "drizzle-orm";
import { bigint, boolean, index, integer, pgSequence, pgTable, primaryKey, text, timestamp } from "drizzle-orm/pg-core";
import { bytea } from "../db/columns.js";
import { tenants } from "../tenancy/schema.js";

const tstz = (name: string) => timestamp(name, { withTimezone: true });

/**
 * Outbound webhook subscriptions. Signing secrets are sealed with the
 * keyring (context webhook_subscriptions.secret, the tenant id as associated
 * data). A deleted subscription keeps its row, without secrets, so that its
 * deliveries stay readable; it reads as not found.
 */
export const webhookSubscriptions = pgTable(
  "webhook_subscriptions",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id),
    name: text("name").notNull(),
    url: text("url").notNull(),
    eventTypes: text("event_types").array().notNull(),
    description: text("description").notNull().default(""),
    enabled: boolean("enabled").notNull().default(true),
    /** "gone" (the endpoint answered 410), "failing" (auto-disabled), "disabled_by_tenant". */
    disabledReason: text("disabled_reason"),
    /** At most this many deliveries per second across all instances; 0: no limit. */
    maxDeliveriesPerSecond: integer("max_deliveries_per_second").notNull().default(0),
    /** Ordered delivery (ordering.ts): the deliveries of one ordering key are attempted in order. */
    ordered: boolean("ordered").notNull().default(false),
    /** How long a delivery of an ordered subscription waits behind an earlier pending one before it is sent anyway. */
    orderingBoundSeconds: integer("ordering_bound_seconds").notNull().default(600),
    /** Deliveries that ended failed in a row; a success resets it (auto-disable). */
    consecutiveFailedDeliveries: integer("consecutive_failed_deliveries").notNull().default(0),
    /** The first failed attempt since the last success; null after a success (auto-disable). */
    failingSince: tstz("failing_since"),
    secretEnc: bytea("secret_enc"),
    secretRotatedAt: tstz("secret_rotated_at").notNull().defaultNow(),
    previousSecretEnc: bytea("previous_secret_enc"),
    previousSecretExpiresAt: tstz("previous_secret_expires_at"),
    createdAt: tstz("created_at").notNull().defaultNow(),
    updatedAt: tstz("updated_at").notNull().defaultNow(),
    deletedAt: tstz("deleted_at"),
  },
  (t) => [index("webhook_subscriptions_tenant").on(t.tenantId, t.id)],
);

/** The order of ordered deliveries: each row of an ordered subscription takes the next value when it is written. */
export const webhookDeliveryOrderingSeq = pgSequence("webhook_delivery_ordering_seq");

export type DeliveryStatus = "pending" | "succeeded" | "failed";

/**
 * The outbox: one row per (event, subscription), written in the transaction
 * of the change that caused the event. The row, not Redis, is the truth: the
 * BullMQ job (jobId = the delivery id) only says "make the next attempt", and
 * the relay re-enqueues rows whose job was lost.
 */
export const webhookDeliveries = pgTable(
  "webhook_deliveries",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id),
    subscriptionId: text("subscription_id")
      .notNull()
      .references(() => webhookSubscriptions.id),
    eventType: text("event_type").notNull(),
    /** The subscription's URL when the delivery was enqueued. */
    url: text("url").notNull(),
    /** The exact JSON body, the same bytes on every attempt. */
    body: text("body").notNull(),
    test: boolean("test").notNull().default(false),
    status: text("status", { enum: ["pending", "succeeded", "failed"] })
      .notNull()
      .default("pending"),
    /** Why a delivery failed: attempts_exhausted, gone, subscription_disabled, subscription_deleted. */
    failureReason: text("failure_reason"),
    /** Attempts started (the number of the latest). */
    attemptCount: integer("attempt_count").notNull().default(0),
    /** Interrupted attempts (the worker stopped mid-attempt): they do not use up the schedule. */
    extraAttempts: integer("extra_attempts").notNull().default(0),
    /** Set by a redelivery: the delivery fails when this attempt fails. */
    finalAttempt: integer("final_attempt"),
    /** When the next (or the in-flight) attempt is due; null when done. */
    nextAttemptAt: tstz("next_attempt_at"),
    /** The lease of the attempt in flight: past it, the attempt counts as interrupted. */
    inFlightUntil: tstz("in_flight_until"),
    /** When an instance's outbox poller took the row to put its job on the queue. */
    enqueuedAt: tstz("enqueued_at"),
    /** W3C traceparent of the work that wrote the row (tracing on only): the delivery's spans continue that trace. */
    traceParent: text("trace_parent"),
    lastAttemptAt: tstz("last_attempt_at"),
    createdAt: tstz("created_at").notNull().defaultNow(),
    completedAt: tstz("completed_at"),
    /** Ordered subscriptions only (ordering.ts): the key whose deliveries keep their order; null: unordered. */
    orderingKey: text("ordering_key"),
    /** The delivery's place in its key's order: taken from webhook_delivery_ordering_seq when the row is written. */
    orderingSeq: bigint("ordering_seq", { mode: "number" }),
    /** When a claim first found an earlier delivery of its key pending and held it back. */
    heldSince: tstz("held_since"),
    /** When the ordering bound ran out and the delivery was sent with an earlier one still pending. */
    releasedAfterBoundAt: tstz("released_after_bound_at"),
  },
  (t) => [
    index("webhook_deliveries_tenant").on(t.tenantId, t.id),
    index("webhook_deliveries_subscription").on(t.subscriptionId, t.id),
    // The relay's scan: pending rows by when their next attempt is due. Claiming
    // an attempt changes no indexed column, so that update stays on its page.
    index("webhook_deliveries_next_attempt")
      .on(t.nextAttemptAt)
      .where(sql`${t.status} = 'pending'`),
    // The outbox poller's scan: pending rows whose job was never enqueued (usually none),
    // in id order. The predicate is the poller's whole WHERE, so the plan is this index
    // alone, read in order up to the LIMIT; an index scan also marks the entries of rows
    // enqueued since as dead (kill_prior_tuple). On `enqueued_at IS NULL` alone the planner
    // took a BitmapAnd with the pending index: every entry of both, every heap page, then a
    // sort, 27-75 ms a poll after 20,000 deliveries, and a bitmap scan never marks entries dead.
    index("webhook_deliveries_unenqueued")
      .on(t.id)
      .where(sql`${t.enqueuedAt} IS NULL AND ${t.status} = 'pending'`),
    // Ordered delivery: the pending deliveries of a key, in order (a claim's "is an earlier one pending?", the wake of the next).
    index("webhook_deliveries_ordering")
      .on(t.subscriptionId, t.orderingKey, t.orderingSeq)
      .where(sql`${t.status} = 'pending' AND ${t.orderingKey} IS NOT NULL`),
  ],
);

export type AttemptErrorKind = "none" | "http_status" | "timeout" | "connection_refused" | "dns" | "tls" | "blocked_address" | "network" | "interrupted" | "internal";

/**
 * One row per attempt, written when it ended (or, for an attempt whose
 * worker died, as "interrupted" by the claim of the next one). Claims take
 * attempt numbers on the delivery row, under its row lock, so an attempt
 * number is used once; the primary key (delivery, number) backs that up.
 */
export const webhookAttempts = pgTable(
  "webhook_attempts",
  {
    deliveryId: text("delivery_id")
      .notNull()
      .references(() => webhookDeliveries.id),
    number: integer("number").notNull(),
    startedAt: tstz("started_at").notNull(),
    finishedAt: tstz("finished_at"),
    latencyMs: integer("latency_ms"),
    statusCode: integer("status_code"),
    errorKind: text("error_kind", {
      enum: ["none", "http_status", "timeout", "connection_refused", "dns", "tls", "blocked_address", "network", "interrupted", "internal"],
    }),
    /** The first 256 characters of the answer. */
    responseExcerpt: text("response_excerpt").notNull().default(""),
    /** The attempt's event in the tenant's deliveries Proofstream; null until the recorder committed it. */
    seqNo: bigint("seq_no", { mode: "number" }),
  },
  (t) => [
    primaryKey({ columns: [t.deliveryId, t.number] }),
    // The recorder's sweep: ended attempts not yet in the deliveries Proofstream (usually none).
    index("webhook_attempts_unrecorded")
      .on(t.finishedAt)
      .where(sql`${t.seqNo} IS NULL`),
  ],
);

/** The deliveries Proofstream of each tenant (every ended attempt), created on its first attempt. */
export const webhookDeliveryStreams = pgTable("webhook_delivery_streams", {
  tenantId: text("tenant_id")
    .primaryKey()
    .references(() => tenants.id),
  streamId: text("stream_id").notNull(),
  createdAt: tstz("created_at").notNull().defaultNow(),
});
