import type { Keyring } from "../crypto/keyring.js";
import type { Db } from "../db/db.js";
import type { Broadcast } from "../infra/broadcast.js";
import type { Logger } from "../logger.js";
import type { Proofstreams } from "../proofstream/module.js";
import type { Tenancy } from "../tenancy/module.js";
import type { WebhookEmitter } from "../webhooks/module.js";
import { ValidationAudit, type ValidationAuditSettings } from "./audit.js";
import { StoreNotifications, type StoreNotificationSettings } from "./notifications.js";
import { StoreVerification, type StoreVerificationSettings } from "./verification.js";
import { AppStoreCalls } from "./app-store.js";
import { GooglePlayCalls } from "./google-play.js";
import { StoreReconciler, type ReconcileSettings } from "./reconcile.js";
import type { JobRuntime } from "../jobs/runtime.js";

/** The types the store's users take and are given: its public door, beside the facade. */
/** Where this module keeps values sealed with the keyring (`attesto reseal`). */
export { sealedColumns } from "./sealed.js";
export { StoreVerification, type AppleSignedDataResult } from "./verification.js";
export type { StoreNotifications, ReceiveResult } from "./notifications.js";
export type { StoreNotification } from "./inbound.js";
export type { VerifiedPurchase, PurchaseKind, PurchaseStatus, StoreEnvironment } from "./purchase.js";
export type { AppleCredentialsInfo, GoogleCredentialsInfo } from "./credentials.js";
export type { ValidationAudit } from "./audit.js";
export { AppStoreCalls } from "./app-store.js";
export type * from "./app-store-types.js";
export { GooglePlayCalls, type VerifiedGooglePurchase } from "./google-play.js";
export type * from "./google-play-types.js";
export type { StoreReconciler, ReconciledSource, ReconcileSettings } from "./reconcile.js";
export type { NotificationArrival } from "./inbound.js";
/** The notification list for a process without the modules notifications need (the operator CLI on the database). */
export { listStoreNotifications } from "./notification-rows.js";

export interface StoreDeps {
  db: Db;
  keyring: Keyring;
  /** Credential evictions to and from the other instances. */
  broadcast: Broadcast;
  logger: Logger;
  tenancy: Tenancy;
  /** The tenant's store Proofstream, where inbound notifications are committed. */
  proofstreams: Proofstreams;
  events: WebhookEmitter;
  /** The job runtime the periodic reconciliation is scheduled on (none: a CLI without the queue). */
  jobs?: JobRuntime;
}

export interface StoreSettings {
  verification: StoreVerificationSettings;
  notifications: StoreNotificationSettings;
  audit: ValidationAuditSettings;
  reconcile: ReconcileSettings;
}

/**
 * The store module: App Store and Google Play verification with the tenant's
 * sealed credentials (`verification`), inbound notifications committed to the
 * tenant's store Proofstream (`notifications`), and the validation audit log
 * each verification is recorded in after its answer (`audit`).
 */
export class Store {
  readonly audit: ValidationAudit;
  readonly verification: StoreVerification;
  readonly notifications: StoreNotifications;
  /** The App Store Server API calls with the tenant's key, every signed item of their answers verified. */
  readonly appStore: AppStoreCalls;
  /** The Google Play Developer API calls with the tenant's service account (acknowledge, consume, cancel, revoke, defer, refund, voided purchases). */
  readonly googlePlay: GooglePlayCalls;
  /** Reconciliation of the stores' records with the stored notifications, on demand and on the `store.reconcile` schedule. */
  readonly reconciler: StoreReconciler;

  constructor(
    private readonly deps: StoreDeps,
    private readonly settings: StoreSettings,
  ) {
    const { db, keyring, broadcast, logger, tenancy, proofstreams, events } = deps;
    this.audit = new ValidationAudit({ db, keyring, logger }, settings.audit);
    this.verification = new StoreVerification({ db, keyring, broadcast, logger, verificationObserver: this.audit }, settings.verification);
    this.appStore = new AppStoreCalls(this.verification, this.verification.appleApi);
    this.googlePlay = new GooglePlayCalls(db, this.verification, this.verification.googlePlay);
    this.notifications = new StoreNotifications({ db, tenancy, store: this.verification, proofstreams, events }, settings.notifications);
    const { appStore, googlePlay, notifications, verification } = this;
    this.reconciler = new StoreReconciler({ db, logger, tenancy, verification, notifications, appStore, googlePlay }, settings.reconcile);
  }

  /** Starts the audit writer, listens for credential changes made by any instance or the CLI, and schedules the reconciliation. */
  async start(): Promise<void> {
    this.audit.start();
    await this.verification.start();
    if (this.deps.jobs && this.settings.reconcile.intervalMs > 0) await this.deps.jobs.every("store.reconcile", this.settings.reconcile.intervalMs, () => this.reconciler.sweep());
  }

  /** Closes the upstream API clients, then writes the audit rows still queued. */
  async close(): Promise<void> {
    await this.verification.close();
    await this.audit.close();
  }
}
