import type { Keyring } from "../crypto/keyring.js";
import type { Db } from "../db/db.js";
import type { JobRuntime } from "../jobs/runtime.js";
import type { Logger } from "../logger.js";
import { OutboundHttp } from "../net/outbound.js";
import { AttemptRunner } from "./attempt-runner.js";
import { Deliveries } from "./deliveries.js";
import { DeliveryRows } from "./delivery-rows.js";
import { WebhookEngine } from "./engine.js";
import { WebhookOutbox, type WebhookEmitter } from "./outbox.js";

export type { WebhookEmitter } from "./outbox.js";
export type { Attempt, Delivery } from "./deliveries.js";
export { MAX_SECRET_OVERLAP_MS, type Subscription, type SubscriptionPatch } from "./subscriptions.js";
import type { WebhookSettings } from "./settings.js";
import type { RequestIds } from "../request-ids/module.js";
import { Subscriptions } from "./subscriptions.js";

export interface WebhooksDeps {
  db: Db;
  keyring: Keyring;
  jobs: JobRuntime;
  logger: Logger;
  /** Remembers CreateSubscription request ids; without it (the CLI) every create creates. */
  requestIds?: RequestIds;
}

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
  readonly #http: OutboundHttp;
  readonly #stopWaking: () => void;

  constructor(
    private readonly deps: WebhooksDeps,
    readonly settings: WebhookSettings,
  ) {
    const { db, keyring, jobs, logger } = deps;
    this.#http = new OutboundHttp(settings.policy, { connectTimeoutMs: settings.timeoutMs });
    // Long enough for the request and the bookkeeping around it.
    const store = new DeliveryRows(db, 2 * settings.timeoutMs + 5_000);
    const outbox = new WebhookOutbox(db);
    const runner = new AttemptRunner({ store, http: this.#http, keyring, settings, logger });
    this.engine = new WebhookEngine({ store, runner, jobs, logger, settings });
    this.#stopWaking = outbox.onCommitted(() => this.engine.wake());
    this.events = outbox;
    this.subscriptions = new Subscriptions({ db, keyring, policy: settings.policy, secretOverlapMs: settings.secretOverlapMs, requestIds: deps.requestIds });
    this.deliveries = new Deliveries({ db, store, outbox, engine: this.engine, subscriptions: this.subscriptions, publicBaseUrl: settings.publicBaseUrl });
  }

  async start(): Promise<void> {
    if (this.settings.policy.allowLoopback) {
      this.deps.logger.warn("ATTESTO_WEBHOOK_ALLOW_LOOPBACK is on (the default without DATABASE_URL): webhooks may go to loopback addresses, over plain http too. For development and tests only.");
    }
    await this.engine.start();
  }

  async close(): Promise<void> {
    this.#stopWaking();
    await this.engine.close();
    await this.#http.close();
  }
}
