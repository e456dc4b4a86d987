import { and, eq, max } from "drizzle-orm";
import type { Db } from "../db/db.js";
import { AppError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { Tenancy } from "../tenancy/module.js";
import type { AppStoreCalls } from "./app-store.js";
import type { GooglePlayCalls } from "./google-play.js";
import type { StoreNotifications } from "./notifications.js";
import { APPLE_HISTORY_MS, GOOGLE_VOIDED_MS, reconcileWindow } from "./reconcile-window.js";
import { appleCredentials, googleCredentials, storeNotifications, storeSyncCursors } from "./schema.js";
import type { StoreVerification } from "./verification.js";

export interface ReconcileSettings {
  /** How often the periodic job reconciles every tenant; 0: never (on demand only). */
  intervalMs: number;
  /** The first window of a source that has never been read, and of a tenant without a stored notification. */
  firstWindowMs: number;
  /** How far each window reaches back before the end of the last one (a store's late entries). */
  overlapMs: number;
}

/** What one source's reconciliation read and stored. */
export interface ReconciledSource {
  source: "apple:production" | "apple:sandbox" | "google:voided";
  windowStart: Date;
  windowEnd: Date;
  listed: number;
  stored: number;
  rejected: number;
  /** Why this source could not be read to the end (its cursor stays where it was); unset when it was. */
  error?: string;
}

const VOIDED_PAGE_SIZE = 1000;

/**
 * Reconciliation: what the stores would have pushed, read back from their
 * own records (Apple's Notification History of each accepted environment,
 * Google's voided purchases) and stored through the inbound path (verified,
 * once per notification; Proofstream events and webhooks once). Where each
 * source got to is a row (store_sync_cursors); the periodic job is only the
 * timer that reads the rows.
 */
export class StoreReconciler {
  constructor(
    private readonly deps: {
      db: Db;
      logger: Logger;
      tenancy: Tenancy;
      verification: StoreVerification;
      notifications: StoreNotifications;
      appStore: AppStoreCalls;
      googlePlay: GooglePlayCalls;
    },
    private readonly settings: ReconcileSettings,
  ) {}

  /** Reconciles one tenant's sources now (only one store's when named). */
  async reconcile(tenantId: string, only?: "apple" | "google"): Promise<ReconciledSource[]> {
    await this.deps.tenancy.requireActiveTenant(tenantId);
    const apple = only !== "google" ? await this.deps.verification.credentials.apple(tenantId) : undefined;
    const google = only !== "apple" ? await this.deps.verification.credentials.google(tenantId) : undefined;
    if (!apple && !google) {
      throw new AppError("failed_precondition", `the tenant has no ${only ?? "store"} credentials to reconcile with (AdminService.Put${only === "google" ? "Google" : "Apple"}Credentials)`, {
        reason: "STORE_CREDENTIALS_MISSING",
      });
    }
    const runs: Array<[ReconciledSource["source"], () => Promise<ReconciledSource>]> = (apple?.acceptedEnvironments ?? []).map((environment) => [
      `apple:${environment}`,
      () => this.reconcileApple(tenantId, environment),
    ]);
    if (google) runs.push(["google:voided", () => this.reconcileVoided(tenantId)]);
    // One source's failure (a host that refuses the app, a rate limit) does not keep the others from being read.
    const out: ReconciledSource[] = [];
    const failures: AppError[] = [];
    for (const [source, run] of runs) {
      try {
        out.push(await run());
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        failures.push(err);
        const now = new Date();
        out.push({ source, windowStart: now, windowEnd: now, listed: 0, stored: 0, rejected: 0, error: err.message });
      }
    }
    if (failures.length === runs.length) throw failures[0]!;
    return out;
  }

  /** The periodic job: every active tenant with store credentials, one after another; one tenant's failure is logged and the rest go on. */
  async sweep(): Promise<void> {
    const apple = await this.deps.db.select({ tenantId: appleCredentials.tenantId }).from(appleCredentials);
    const google = await this.deps.db.select({ tenantId: googleCredentials.tenantId }).from(googleCredentials);
    for (const tenantId of new Set([...apple, ...google].map((r) => r.tenantId))) {
      if (!(await this.deps.tenancy.isActiveTenant(tenantId))) continue;
      try {
        for (const { source, error } of await this.reconcile(tenantId)) {
          if (error) this.deps.logger.warn({ tenantId, source, err: error }, "store reconciliation of a source failed");
        }
      } catch (err) {
        this.deps.logger.warn({ tenantId, err: err instanceof AppError ? err.message : "reconciliation failed" }, "store reconciliation of a tenant failed");
      }
    }
  }

  /** One environment's Notification History, page by page, for the window since the last one read (or the newest stored notification). */
  private async reconcileApple(tenantId: string, environment: "production" | "sandbox"): Promise<ReconciledSource> {
    const source = `apple:${environment}` as const;
    const cursor = await this.cursor(tenantId, source);
    const newestStored = cursor ? undefined : await this.newestStored(tenantId);
    const { start: windowStart, end: windowEnd } = reconcileWindow(new Date(), { cursor, newestStored }, { ...this.settings, limitMs: APPLE_HISTORY_MS });
    const result: ReconciledSource = { source, windowStart, windowEnd, listed: 0, stored: 0, rejected: 0 };
    let paginationToken: string | undefined;
    do {
      const page = await this.deps.appStore.notificationHistory(tenantId, { environment, startDate: windowStart, endDate: windowEnd, paginationToken });
      for (const item of page.items) {
        result.listed++;
        await this.ingest(result, () => this.deps.notifications.ingestApple(tenantId, item.signedPayload, "reconciled"));
      }
      paginationToken = page.hasMore && page.paginationToken ? page.paginationToken : undefined;
    } while (paginationToken);
    await this.advance(tenantId, source, windowEnd);
    return result;
  }

  /** Google's voided purchases (one-time products and subscriptions) seen voided since the last window's end. */
  private async reconcileVoided(tenantId: string): Promise<ReconciledSource> {
    const source = "google:voided" as const;
    const cursor = await this.cursor(tenantId, source);
    const { start: windowStart, end: windowEnd } = reconcileWindow(new Date(), { cursor }, { ...this.settings, limitMs: GOOGLE_VOIDED_MS });
    const packageName = await this.deps.googlePlay.packageName(tenantId);
    const result: ReconciledSource = { source, windowStart, windowEnd, listed: 0, stored: 0, rejected: 0 };
    let pageToken: string | undefined;
    do {
      const page = await this.deps.googlePlay.voidedPurchases(tenantId, {
        startTime: windowStart,
        endTime: windowEnd,
        pageToken,
        maxResults: VOIDED_PAGE_SIZE,
        includeSubscriptions: true,
      });
      for (const voided of page.voidedPurchases) {
        result.listed++;
        await this.ingest(result, () => this.deps.notifications.ingestGoogleVoided(tenantId, packageName, voided));
      }
      pageToken = page.nextPageToken || undefined;
    } while (pageToken);
    await this.advance(tenantId, source, windowEnd);
    return result;
  }

  /** One item through the inbound path: stored, already there, or refused (counted, never stored). */
  private async ingest(result: ReconciledSource, run: () => Promise<{ duplicate: boolean }>): Promise<void> {
    try {
      if (!(await run()).duplicate) result.stored++;
    } catch (err) {
      if (!(err instanceof AppError) || !["invalid_argument", "unauthenticated"].includes(err.code)) throw err;
      result.rejected++;
    }
  }

  private async cursor(tenantId: string, source: string): Promise<Date | undefined> {
    const [row] = await this.deps.db
      .select({ syncedTo: storeSyncCursors.syncedTo })
      .from(storeSyncCursors)
      .where(and(eq(storeSyncCursors.tenantId, tenantId), eq(storeSyncCursors.cursor, source)));
    return row?.syncedTo;
  }

  private async newestStored(tenantId: string): Promise<Date | undefined> {
    const [row] = await this.deps.db
      .select({ at: max(storeNotifications.signedAt) })
      .from(storeNotifications)
      .where(and(eq(storeNotifications.tenantId, tenantId), eq(storeNotifications.source, "apple")));
    return row?.at ?? undefined;
  }

  private async advance(tenantId: string, source: string, syncedTo: Date): Promise<void> {
    const row = { tenantId, cursor: source, syncedTo, lastRunAt: new Date() };
    await this.deps.db
      .insert(storeSyncCursors)
      .values(row)
      .onConflictDoUpdate({ target: [storeSyncCursors.tenantId, storeSyncCursors.cursor], set: { syncedTo, lastRunAt: row.lastRunAt } });
  }
}
