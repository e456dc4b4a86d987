import { LRUCache } from "lru-cache";
import type { Keyring } from "../crypto/keyring.js";
import type { Logger } from "../logger.js";
import type { ReceiverPolicies } from "./receiver-policy.js";
import type { AttemptRecorder } from "./attempt-recorder.js";
import { currentTraceparent, inSpan, SpanKind } from "../infra/tracing.js";
import { Batcher } from "./batcher.js";
import type { Claim, DeliveryRows, FinishedAttempt } from "./delivery-rows.js";
import { decideNext, lastAttempt, type AttemptResult } from "./schedule.js";
import type { WebhookSettings } from "./settings.js";
import { deliveryHeaders, signingKeys, type SigningKeys } from "./signing.js";
import { openSecrets } from "./subscriptions.js";
import { ORDERING_HEADER } from "./ordering.js";

/** Which attempt this was and how it ended (HTTP status or error kind), for the queue board. */
export interface AttemptSummary {
  attempt: number;
  of: number;
  last: string;
}

export type AttemptOutcome =
  /** Succeeded, or nothing to do (not pending, or another worker has the attempt). */
  (
    | { kind: "done"; summary?: AttemptSummary }
    | { kind: "failed"; reason: string; summary?: AttemptSummary }
    /** The next attempt is due then. */
    | { kind: "later"; at: Date; summary?: AttemptSummary }
  ) & {
    /** Ordered delivery: held deliveries this one's end made due now; their jobs are to run now. */
    woken?: string[];
  };

interface OpenedSecrets {
  sealed: Buffer;
  previousSealed: Buffer | null;
  previousExpires: Date | null;
  secrets: { secret: string; previousSecret?: string; keys: SigningKeys };
}

/**
 * Makes one attempt of a delivery: claim it (so that with any number of
 * workers each attempt is made once), sign, send, decide what follows
 * (schedule.ts) and record it. Claims and results of concurrent attempts
 * reach Postgres in batches.
 */
export class AttemptRunner {
  readonly #claims: Batcher<null, Claim>;
  readonly #finishes: Batcher<FinishedAttempt, true>;
  /** Signing secrets opened once per subscription, kept while their sealed values stay the same. */
  readonly #opened = new LRUCache<string, OpenedSecrets>({ max: 10_000 });

  constructor(private readonly deps: { store: DeliveryRows; receivers: ReceiverPolicies; keyring: Keyring; settings: WebhookSettings; logger: Logger; recorder: AttemptRecorder }) {
    this.#claims = new Batcher((ids) => deps.store.claim(ids.map(([id]) => id)));
    this.#finishes = new Batcher(async (rows) => {
      const applied = await deps.store.finish(rows.map(([, f]) => f));
      return new Map([...applied].map((key) => [key, true as const]));
    });
  }

  /** Makes the delivery's next attempt if it is due and nobody else is making it, records it, and says what comes next. */
  async attempt(deliveryId: string): Promise<AttemptOutcome> {
    const { settings, logger, store } = this.deps;
    const claim = await inSpan("webhook.claim", {}, () => this.#claims.get(deliveryId, null));
    if (!claim) return this.#notClaimed(deliveryId);

    if (claim.number > lastAttempt(claim, settings.retrySchedule)) {
      // The last scheduled attempt was interrupted (after the interruptions that do not count): no more.
      await store.exhaust(claim);
      const woken = claim.orderingKey ? await store.wakeNext([{ subscriptionId: claim.subscriptionId, orderingKey: claim.orderingKey }]) : undefined;
      return { kind: "failed", reason: "attempts_exhausted", woken };
    }
    let sent: { latencyMs: number; statusCode: number | null; excerpt: string; result: AttemptResult };
    try {
      const headers = deliveryHeaders({
        id: claim.id,
        eventType: claim.eventType,
        body: claim.body,
        attempt: claim.number,
        timestamp: Math.floor(Date.now() / 1000),
        ...this.#secrets(claim),
      });
      // Ordered subscriptions: every attempt says whether it is in order (ordering.ts).
      if (claim.ordering) headers[ORDERING_HEADER] = claim.ordering;
      const r = await inSpan("webhook.attempt POST", { kind: SpanKind.CLIENT, attributes: { "webhook.delivery_id": claim.id, "webhook.attempt": claim.number } }, async (span) => {
        // The receiver may continue the trace (ATTESTO_WEBHOOK_TRACEPARENT): this span is its parent.
        const traceparent = span && settings.traceparent ? currentTraceparent() : undefined;
        const answer = await this.deps.receivers.httpFor(claim.tenantId).post(claim.url, traceparent ? { ...headers, traceparent } : headers, claim.body, settings.timeoutMs);
        span?.setAttribute(answer.ok ? "http.response.status_code" : "error.type", answer.ok ? answer.statusCode : answer.errorKind);
        return answer;
      });
      sent = r.ok
        ? { latencyMs: r.latencyMs, statusCode: r.statusCode, excerpt: r.excerpt, result: { ok: true, statusCode: r.statusCode, headers: r.headers } }
        : { latencyMs: r.latencyMs, statusCode: null, excerpt: "", result: { ok: false, errorKind: r.errorKind } };
    } catch (err) {
      // Recorded as a failed attempt, so that the schedule goes on and ends.
      logger.error({ deliveryId: claim.id, err: (err as Error).message }, "could not make a webhook attempt");
      sent = { latencyMs: 0, statusCode: null, excerpt: "", result: { ok: false, errorKind: "internal" } };
    }

    const decision = decideNext(claim, sent.result, settings.retrySchedule, settings.retryAfterMaxMs);
    const finishedAt = new Date();
    const finished = await inSpan("webhook.finish", {}, () =>
      this.#finishes.get(`${claim.id}#${claim.number}`, {
        id: claim.id,
        subscriptionId: claim.subscriptionId,
        number: claim.number,
        startedAt: claim.startedAt,
        finishedAt,
        latencyMs: sent.latencyMs,
        statusCode: sent.statusCode,
        errorKind: decision.errorKind,
        excerpt: sent.excerpt,
        status: decision.status,
        reason: decision.reason,
        nextAt: decision.nextAt,
      }),
    );
    const log = {
      deliveryId: claim.id,
      subscriptionId: claim.subscriptionId,
      attempt: claim.number,
      statusCode: sent.statusCode ?? undefined,
      errorKind: decision.errorKind,
      latencyMs: sent.latencyMs,
    };
    if (!finished) {
      // The lease ran out and another worker took over, or the delivery was stopped meanwhile.
      logger.warn(log, "webhook attempt ended after its delivery moved on");
      return { kind: "done" };
    }
    // Committed to the deliveries Proofstream after this, off the dispatch path.
    this.deps.recorder.record([
      {
        deliveryId: claim.id,
        tenantId: claim.tenantId,
        subscriptionId: claim.subscriptionId,
        eventType: claim.eventType,
        number: claim.number,
        url: claim.url,
        statusCode: sent.statusCode,
        errorKind: decision.errorKind,
        startedAt: claim.startedAt,
        finishedAt,
        body: claim.body,
        responseExcerpt: sent.excerpt,
        deliveryStatus: decision.status,
        failureReason: decision.reason,
      },
    ]);
    if (decision.gone) logger.warn({ subscriptionId: claim.subscriptionId }, "webhook endpoint answered 410 Gone: subscription disabled");
    const summary: AttemptSummary = {
      attempt: claim.number,
      of: lastAttempt(claim, settings.retrySchedule),
      last: sent.statusCode !== null ? `HTTP ${sent.statusCode}` : decision.errorKind,
    };
    // Ordered delivery: its end lets the next delivery of its key go (a failure too: the order is of attempts, not of successes).
    const woken = decision.status !== "pending" && claim.orderingKey ? await store.wakeNext([{ subscriptionId: claim.subscriptionId, orderingKey: claim.orderingKey }]) : undefined;
    if (decision.status === "succeeded") {
      logger.debug(log, "webhook delivered");
      return { kind: "done", summary, woken };
    }
    logger.info({ ...log, next: decision.nextAt?.toISOString() ?? null }, "webhook attempt failed");
    return decision.status === "failed" ? { kind: "failed", reason: decision.reason!, summary, woken } : { kind: "later", at: decision.nextAt!, summary };
  }

  /** The secrets of a claim's subscription: opened once, again only after a rotation changed them. */
  #secrets(claim: Claim): { secret: string; previousSecret?: string; keys: SigningKeys } {
    const { secretEnc: sealed, previousSecretEnc: previousSealed, previousSecretExpiresAt: previousExpires } = claim;
    const cached = this.#opened.get(claim.subscriptionId);
    const now = new Date();
    if (
      cached &&
      sealed &&
      cached.sealed.equals(sealed) &&
      (previousSealed ? cached.previousSealed?.equals(previousSealed) : !cached.previousSealed) &&
      cached.previousExpires?.getTime() === previousExpires?.getTime() &&
      (!previousExpires || previousExpires > now)
    ) {
      return cached.secrets;
    }
    const opened = openSecrets(this.deps.keyring, claim.tenantId, { secretEnc: sealed, previousSecretEnc: previousSealed, previousSecretExpiresAt: previousExpires }, now);
    const secrets = { ...opened, keys: signingKeys(opened) };
    if (sealed) this.#opened.set(claim.subscriptionId, { sealed, previousSealed, previousExpires, secrets });
    return secrets;
  }

  /** Why no attempt could be claimed, and what the job should do. */
  async #notClaimed(id: string): Promise<AttemptOutcome> {
    const state = await this.deps.store.state(id);
    if (!state || state.status !== "pending") return { kind: "done" };
    const now = Date.now();
    const leaseUntil = state.inFlightUntil?.getTime();
    if (state.deletedAt || (!state.enabled && !state.test)) {
      if (leaseUntil && leaseUntil > now) return { kind: "later", at: new Date(leaseUntil) };
      const reason = state.deletedAt ? "subscription_deleted" : "subscription_disabled";
      await this.deps.store.failPending(id, reason);
      return { kind: "failed", reason };
    }
    // Held for ordered delivery, and the earlier delivery ended while the claim held it: claim again now.
    if (state.heldInVain) return { kind: "later", at: new Date(now + 100) };
    if (leaseUntil && leaseUntil > now) {
      // In flight elsewhere: look again soon (that attempt may end well before its lease does).
      return { kind: "later", at: new Date(Math.min(leaseUntil, now + 1_000)) };
    }
    // Not due yet: come back then (a moment later when the row changed meanwhile).
    return { kind: "later", at: new Date(Math.max(now + 100, state.nextAttemptAt?.getTime() ?? 0)) };
  }
}
