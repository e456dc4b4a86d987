import { createHash } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import type { Db } from "../db/db.js";
import type { Logger } from "../logger.js";
import { failSubscriptionDeliveries } from "./delivery-rows.js";
import { rfc3339 } from "./event-types.js";
import { healthChanges, type AttemptHealth } from "./health.js";
import type { WebhookOutbox } from "./outbox.js";
import type { AttemptErrorKind } from "./schema.js";
import { webhookDeliveryStreams } from "./schema.js";
import type { DeliveryProofstreams } from "./proof-types.js";

/** The event type and stream name of the attempts in a tenant's deliveries Proofstream. */
export const ATTEMPT_EVENT_TYPE = "webhook.attempt";
export const DELIVERIES_STREAM_NAME = "webhook deliveries";

/** An attempt that ended, as committed to the deliveries Proofstream: every field comes from its stored rows. */
export interface EndedAttempt {
  deliveryId: string;
  tenantId: string;
  subscriptionId: string;
  eventType: string;
  number: number;
  /** The delivery's URL (only its host is committed: a path or query may carry a token). */
  url: string;
  statusCode: number | null;
  errorKind: AttemptErrorKind;
  startedAt: Date;
  finishedAt: Date;
  /** The exact body sent. */
  body: string;
  responseExcerpt: string;
  /** Where the delivery stood after the attempt (for the subscription's health). */
  deliveryStatus: "pending" | "succeeded" | "failed";
  failureReason: string | null;
}

export const sha256Hex = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");
export const urlHost = (url: string) => (URL.canParse(url) ? new URL(url).host : "");

/** The payload of an attempt's event: the same bytes whether the live path or the sweep commits it. */
export function attemptPayload(a: EndedAttempt) {
  return {
    delivery_id: a.deliveryId,
    subscription_id: a.subscriptionId,
    event_type: a.eventType,
    attempt: a.number,
    url_host: urlHost(a.url),
    status_code: a.statusCode,
    error_kind: a.errorKind,
    started_at: a.startedAt.toISOString(),
    finished_at: a.finishedAt.toISOString(),
    body_sha256: sha256Hex(a.body),
    response_sha256: sha256Hex(a.responseExcerpt),
  };
}

export interface AutoDisableSettings {
  /** Disable after this many deliveries in a row ended failed; 0: never for this reason. */
  failedDeliveries: number;
  /** Disable when every attempt failed for this long; 0: never for this reason. */
  failingForMs: number;
}

/** How long the recorder gathers ended attempts before it commits them (off the dispatch path). */
const GATHER_MS = 250;

/** What the sweep looks at per run. */
const SWEEP_BATCH = 500;

/**
 * Commits ended attempts to the tenant's deliveries Proofstream, after the
 * attempt was recorded and never on the dispatch path: the attempt runner
 * hands them over and goes on. Attempts that end within GATHER_MS of the
 * first one waiting, or while a batch is being committed, form the next batch (the Proofstream appender group-commits the
 * appends of every tenant in one transaction); each batch then writes the
 * seq_nos back and updates the subscriptions' health (auto-disable) in one
 * transaction. An attempt the process lost (a crash, an outage) is found by
 * the sweep, a periodic job, from its rows: its event is the same, so an
 * append that did commit is found again, not doubled.
 */
export class AttemptRecorder {
  #queue: EndedAttempt[] = [];
  #flushing: Promise<void> | undefined;
  readonly #streams = new Map<string, string>();
  readonly #creations = new Map<string, Promise<string>>();
  #autoDisabled = 0;

  constructor(
    private readonly deps: { db: Db; proofstreams: () => DeliveryProofstreams | undefined; outbox: WebhookOutbox; logger: Logger },
    private readonly autoDisable: AutoDisableSettings,
  ) {}

  /** Subscriptions this process disabled for sustained failure (operator metric). */
  get autoDisabledTotal(): number {
    return this.#autoDisabled;
  }

  /** Takes ended attempts to commit; returns at once. */
  record(attempts: EndedAttempt[]): void {
    if (attempts.length === 0 || !this.deps.proofstreams()) return;
    this.#queue.push(...attempts);
    if (!this.#flushing) this.#flushing = this.#drain();
  }

  /** Resolves when every attempt handed over so far is committed (or failed to be, left to the sweep). */
  async idle(): Promise<void> {
    while (this.#flushing) await this.#flushing;
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      // The attempts that end meanwhile join this batch: fewer, larger commits beside dispatch's own.
      await new Promise((resolve) => setTimeout(resolve, GATHER_MS));
      const batch = this.#queue;
      this.#queue = [];
      await this.commit(batch).catch((err: Error) =>
        this.deps.logger.warn({ err: err.message, attempts: batch.length }, "could not commit webhook attempts to the deliveries Proofstream; the sweep will"),
      );
    }
    this.#flushing = undefined;
  }

  /** Appends the attempts, writes their seq_nos back and updates their subscriptions' health. Returns how many were newly recorded. */
  async commit(attempts: EndedAttempt[]): Promise<number> {
    const proofstreams = this.deps.proofstreams();
    if (!proofstreams || attempts.length === 0) return 0;
    const settled = await Promise.allSettled(
      attempts.map(async (a) => {
        const streamId = await this.streamOf(a.tenantId);
        const { event } = await proofstreams.append({
          tenantId: a.tenantId,
          streamId,
          sourceRef: `${a.deliveryId}#${a.number}`,
          eventType: ATTEMPT_EVENT_TYPE,
          occurredAt: a.finishedAt,
          payload: attemptPayload(a),
        });
        return { attempt: a, seqNo: event.seqNo };
      }),
    );
    // One attempt that cannot be appended (its stream is gone, its event conflicts) does not hold back the others.
    const committed = settled.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    const refused = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (refused) this.deps.logger.warn({ err: (refused.reason as Error).message, refused: attempts.length - committed.length }, "webhook attempts not committed to the deliveries Proofstream");
    if (committed.length === 0) return 0;
    const rows = committed.map(({ attempt, seqNo }) => ({ delivery_id: attempt.deliveryId, number: attempt.number, seq_no: seqNo }));
    let disabled: Array<{ id: string; tenantId: string; name: string; url: string; consecutive: number; failingSince: Date | null }> = [];
    const recorded = await this.deps.db.transaction(async (tx) => {
      const newly = (await tx.execute<{ delivery_id: string; number: number }>(sql`WITH v AS (
            SELECT * FROM jsonb_to_recordset(${JSON.stringify(rows)}::text::jsonb) AS v(delivery_id text, number int, seq_no bigint))
          UPDATE webhook_attempts a SET seq_no = v.seq_no FROM v
          WHERE a.delivery_id = v.delivery_id AND a.number = v.number AND a.seq_no IS NULL
          RETURNING a.delivery_id, a.number`)) as unknown as Array<{ delivery_id: string; number: number }>;
      const keys = new Set(newly.map((r) => `${r.delivery_id}#${r.number}`));
      const counted = committed.map((c) => c.attempt).filter((a) => keys.has(`${a.deliveryId}#${a.number}`));
      disabled = await this.#updateHealth(tx, counted);
      return counted.length;
    });
    if (disabled.length > 0) {
      this.#autoDisabled += disabled.length;
      this.deps.outbox.committed();
      for (const s of disabled) this.deps.logger.warn({ subscriptionId: s.id, consecutiveFailedDeliveries: s.consecutive }, "webhook subscription disabled: its deliveries kept failing");
    }
    return recorded;
  }

  /** The counters of each subscription after these attempts; disables the ones past a limit and tells the tenant's other subscriptions. */
  async #updateHealth(tx: Db, attempts: EndedAttempt[]) {
    const changes = healthChanges(
      attempts.map((a): AttemptHealth => ({
        subscriptionId: a.subscriptionId,
        ok: a.errorKind === "none",
        deliveryFailed: a.deliveryStatus === "failed" && a.failureReason === "attempts_exhausted",
        at: a.finishedAt,
      })),
    );
    if (changes.length === 0) return [];
    const { failedDeliveries, failingForMs } = this.autoDisable;
    const json = JSON.stringify(changes.map((c) => ({ id: c.subscriptionId, reset: c.reset, failed: c.failedDeliveries, since: c.failingSince?.toISOString() ?? null })));
    // One statement: each row is locked and read (FOR UPDATE: concurrent recorders of other
    // instances count in turn), its new counters computed, and it is disabled when past a limit.
    const rows = (await tx.execute(sql`WITH v AS (
          SELECT * FROM jsonb_to_recordset(${json}::text::jsonb) AS v(id text, reset boolean, failed int, since timestamptz)
        )
        UPDATE webhook_subscriptions s SET
          consecutive_failed_deliveries = n.failed_count,
          failing_since = n.failing_since,
          enabled = s.enabled AND NOT n.disable,
          disabled_reason = CASE WHEN n.disable THEN 'failing' ELSE s.disabled_reason END,
          updated_at = CASE WHEN n.disable THEN now() ELSE s.updated_at END
        FROM (
          SELECT o.id, c.failed_count, c.failing_since,
            coalesce(o.enabled AND o.deleted_at IS NULL
              AND ((${failedDeliveries}::int > 0 AND c.failed_count >= ${failedDeliveries}::int)
                OR (${failingForMs}::bigint > 0 AND c.failing_since <= now() - make_interval(secs => ${failingForMs / 1000}::double precision))), false) AS disable
          FROM v JOIN webhook_subscriptions o ON o.id = v.id
          CROSS JOIN LATERAL (SELECT CASE WHEN v.reset THEN 0 ELSE o.consecutive_failed_deliveries END + v.failed AS failed_count,
            CASE WHEN v.reset THEN v.since ELSE coalesce(o.failing_since, v.since) END AS failing_since) c
          FOR UPDATE OF o
        ) n
        WHERE s.id = n.id
        RETURNING s.id, s.tenant_id, s.name, s.url, s.consecutive_failed_deliveries, s.failing_since, n.disable`)) as unknown as Array<{
      id: string;
      tenant_id: string;
      name: string;
      url: string;
      consecutive_failed_deliveries: number;
      failing_since: Date | string | null;
      disable: boolean;
    }>;
    const disabled = rows
      .filter((r) => r.disable)
      .map((r) => ({
        id: r.id,
        tenantId: r.tenant_id,
        name: r.name,
        url: r.url,
        consecutive: r.consecutive_failed_deliveries,
        failingSince: r.failing_since === null ? null : new Date(r.failing_since),
      }));
    const now = new Date();
    for (const s of disabled) {
      await failSubscriptionDeliveries(tx, s.id, "subscription_disabled");
      await this.deps.outbox.emit(tx, s.tenantId, "subscription.disabled", {
        subscription_id: s.id,
        name: s.name,
        url_host: urlHost(s.url),
        reason: "failing",
        consecutive_failed_deliveries: s.consecutive,
        failing_since: s.failingSince ? rfc3339(s.failingSince) : null,
        disabled_at: rfc3339(now),
      });
    }
    return disabled;
  }

  /** The tenant's deliveries Proofstream, created on its first attempt (once, also with concurrent first attempts). */
  async streamOf(tenantId: string): Promise<string> {
    const known = this.#streams.get(tenantId);
    if (known) return known;
    const [row] = await this.deps.db.select().from(webhookDeliveryStreams).where(eq(webhookDeliveryStreams.tenantId, tenantId));
    if (row) {
      this.#streams.set(tenantId, row.streamId);
      return row.streamId;
    }
    let pending = this.#creations.get(tenantId);
    if (!pending) {
      pending = this.#create(tenantId).finally(() => this.#creations.delete(tenantId));
      this.#creations.set(tenantId, pending);
    }
    const id = await pending;
    this.#streams.set(tenantId, id);
    return id;
  }

  /** The stream id of a tenant that has one, without creating it. */
  async existingStreamOf(tenantId: string): Promise<string | undefined> {
    const known = this.#streams.get(tenantId);
    if (known) return known;
    const [row] = await this.deps.db.select().from(webhookDeliveryStreams).where(eq(webhookDeliveryStreams.tenantId, tenantId));
    if (row) this.#streams.set(tenantId, row.streamId);
    return row?.streamId;
  }

  async #create(tenantId: string): Promise<string> {
    const proofstreams = this.deps.proofstreams()!;
    return this.deps.db.transaction(async (tx) => {
      // Serializes creation across instances; the loser finds the winner's stream.
      await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtext(${`attesto:webhook-deliveries-stream:${tenantId}`}))`);
      const [row] = await tx.select().from(webhookDeliveryStreams).where(eq(webhookDeliveryStreams.tenantId, tenantId));
      if (row) return row.streamId;
      const stream = await proofstreams.createStream(tenantId, DELIVERIES_STREAM_NAME, { tx });
      await tx.insert(webhookDeliveryStreams).values({ tenantId, streamId: stream.id });
      return stream.id;
    });
  }

  /**
   * The sweep: attempts that ended more than `graceMs` ago and are not in
   * the deliveries Proofstream (the process that made them stopped before
   * committing them, or an interrupted attempt's placeholder), read from
   * their rows and committed. Returns how many.
   */
  async sweep(graceMs: number): Promise<number> {
    const rows = (await this.deps.db.execute(sql`SELECT a.delivery_id, a.number, a.status_code, a.error_kind, a.started_at, a.finished_at, a.response_excerpt,
          d.tenant_id, d.subscription_id, d.event_type, d.url, d.body, d.status, d.failure_reason, d.attempt_count
        FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
        WHERE a.seq_no IS NULL AND a.finished_at < now() - make_interval(secs => ${graceMs / 1000})
        ORDER BY a.finished_at LIMIT ${SWEEP_BATCH}`)) as unknown as Array<{
      delivery_id: string;
      number: number;
      status_code: number | null;
      error_kind: AttemptErrorKind | null;
      started_at: Date | string;
      finished_at: Date | string;
      response_excerpt: string;
      tenant_id: string;
      subscription_id: string;
      event_type: string;
      url: string;
      body: string;
      status: "pending" | "succeeded" | "failed";
      failure_reason: string | null;
      attempt_count: number;
    }>;
    return this.commit(
      rows.map((r) => ({
        deliveryId: r.delivery_id,
        tenantId: r.tenant_id,
        subscriptionId: r.subscription_id,
        eventType: r.event_type,
        number: r.number,
        url: r.url,
        statusCode: r.status_code,
        errorKind: r.error_kind ?? "internal",
        startedAt: new Date(r.started_at),
        finishedAt: new Date(r.finished_at),
        body: r.body,
        responseExcerpt: r.response_excerpt,
        // Only the delivery's last attempt says how it ended.
        deliveryStatus: r.number === r.attempt_count ? r.status : "pending",
        failureReason: r.number === r.attempt_count ? r.failure_reason : null,
      })),
    );
  }
}
