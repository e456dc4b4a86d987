import type { Keyring } from "../crypto/keyring.js";
import type { Db } from "../db/db.js";
import type { JobRuntime } from "../jobs/runtime.js";
import type { Logger } from "../logger.js";
import { AttemptRecorder } from "./attempt-recorder.js";
import { AttemptRunner } from "./attempt-runner.js";
import { Deliveries } from "./deliveries.js";
import { DeliveryRows } from "./delivery-rows.js";
import { ReceiverPolicies } from "./receiver-policy.js";
import { WebhookEngine } from "./engine.js";
import { WebhookOutbox, type WebhookEmitter } from "./outbox.js";

/** Where this module keeps values sealed with the keyring (`attesto reseal`). */
export { sealedColumns } from "./sealed.js";
export type { WebhookEmitter } from "./outbox.js";
export type { DeliveryProofstreams } from "./proof-types.js";
import type { DeliveryProofstreams } from "./proof-types.js";
export type { Attempt, Delivery } from "./deliveries.js";
export { MAX_SECRET_OVERLAP_MS, type Subscription, type SubscriptionPatch } from "./subscriptions.js";
import type { WebhookSettings } from "./settings.js";
import type { RequestIds } from "../request-ids/module.js";
import { Subscriptions } from "./subscriptions.js";
import { DeliveryThrottle } from "./throttle.js";
import { eventCataloguePage, type EventTypeEntry } from "./event-catalogue.js";
import type { PageRequest } from "../db/pagination.js";
export { eventCatalogue, type EventTypeEntry } from "./event-catalogue.js";

export interface WebhooksDeps {
  db: Db;
  keyring: Keyring;
  jobs: JobRuntime;
  logger: Logger;
  /** Remembers CreateSubscription request ids; without it (the CLI) every create creates. */
  requestIds?: RequestIds;
  /**
   * The Proofstreams facade, which is built after this module (it emits webhook events): ended
   * attempts are committed to the tenant's deliveries Proofstream. Without it (the CLI) none are.
   */
  proofstreams?: () => DeliveryProofstreams | undefined;
}

/** The periodic job that commits ended attempts missing from the deliveries Proofstream. */
export const PROOF_SWEEP_JOB = "webhook-attempt-proof-sweep";

/**
 * The webhooks domain of one process: tenants' subscriptions, the outbox
 * producers emit into, the delivery engine and the tenant's tools over
 * deliveries. `start()` begins polling the outbox, working the queue and
 * scheduling the relay; `close()` lets attempts in flight end.
 */
export class Webhooks {
  readonly subscriptions: Subscriptions;
  readonly deliveries: Deliveries;
  /** Where other domains emit events, in their own transactions. */
  readonly events: WebhookEmitter & Pick<WebhookOutbox, "emitNow">;
  readonly engine: WebhookEngine;
  /** Commits ended attempts to the deliveries Proofstream and keeps the subscriptions' health. */
  readonly recorder: AttemptRecorder;
  readonly #receivers: ReceiverPolicies;
  readonly #stopWaking: () => void;

  constructor(
    private readonly deps: WebhooksDeps,
    readonly settings: WebhookSettings,
  ) {
    const { db, keyring, jobs, logger } = deps;
    this.#receivers = new ReceiverPolicies(settings, { connectTimeoutMs: settings.timeoutMs });
    // Long enough for the request and the bookkeeping around it.
    const store = new DeliveryRows(db, 2 * settings.timeoutMs + 5_000);
    const outbox = new WebhookOutbox(db);
    this.recorder = new AttemptRecorder({ db, proofstreams: deps.proofstreams ?? (() => undefined), outbox, logger }, settings.autoDisable);
    const runner = new AttemptRunner({ store, receivers: this.#receivers, keyring, settings, logger, recorder: this.recorder });
    const throttle = new DeliveryThrottle({ db, redis: () => jobs.redisClient(), prefix: jobs.prefix });
    this.engine = new WebhookEngine({ store, runner, jobs, logger, settings, throttle });
    this.#stopWaking = outbox.onCommitted(() => this.engine.wake());
    this.events = outbox;
    this.subscriptions = new Subscriptions({
      db,
      keyring,
      policyFor: (tenantId) => this.#receivers.policyFor(tenantId),
      secretOverlapMs: settings.secretOverlapMs,
      requestIds: deps.requestIds,
      released: (ids) => this.engine.runNow(ids),
    });
    this.deliveries = new Deliveries({
      db,
      store,
      outbox,
      engine: this.engine,
      subscriptions: this.subscriptions,
      publicBaseUrl: settings.publicBaseUrl,
      recorder: this.recorder,
      proofstreams: deps.proofstreams ?? (() => undefined),
    });
  }

  /** The event catalogue: each type's description, the JSON Schema of its `data`, an example, its since-version. */
  eventTypes(page: PageRequest = {}): { eventTypes: EventTypeEntry[]; nextPageToken: string } {
    return eventCataloguePage(page);
  }

  async start(): Promise<void> {
    if (this.settings.policy.allowLoopback) {
      this.deps.logger.warn("ATTESTO_WEBHOOK_ALLOW_LOOPBACK is on: every tenant's webhooks may go to loopback addresses, over plain http too. For development and tests only.");
    } else if (this.#receivers.developmentTenantId !== undefined) {
      this.deps.logger.info(
        { tenantId: this.#receivers.developmentTenantId },
        "the development tenant's webhooks may go to receivers on this machine (http://127.0.0.1:…); other tenants' need public https (ATTESTO_WEBHOOK_ALLOW_LOOPBACK=false turns this off)",
      );
    }
    await this.engine.start();
    await this.deps.jobs.every(PROOF_SWEEP_JOB, this.settings.proofSweepMs, async () => {
      const swept = await this.recorder.sweep(this.settings.proofSweepMs);
      if (swept > 0) this.deps.logger.info({ swept }, "committed ended webhook attempts missing from the deliveries Proofstream");
    });
  }

  async close(): Promise<void> {
    this.#stopWaking();
    await this.engine.close();
    await this.recorder.idle();
    await this.#receivers.close();
  }
}
