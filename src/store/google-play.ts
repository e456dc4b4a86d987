import { and, eq } from "drizzle-orm";
import type { Db } from "../db/db.js";
import { AppError } from "../errors.js";
import type { GoogleCredentials } from "./credential-cache.js";
import type { GooglePlayApi } from "./google/play-api.js";
import type {
  CancellationType,
  GoogleCallTarget,
  ProductPurchaseRef,
  SubscriptionDeferral,
  SubscriptionPurchaseRef,
  VoidedPurchase,
  VoidedPurchasesPage,
  VoidedPurchasesQuery,
} from "./google-play-types.js";
import { googleAcknowledgements } from "./schema.js";
import type { GooglePurchaseResult, StoreVerification } from "./verification.js";

interface Call {
  credentials: GoogleCredentials;
  /** The path prefix of the app: /androidpublisher/v3/applications/{packageName}. */
  app: string;
}

/** VerifyGooglePurchase's answer, and whether the tenant's auto-acknowledge option acknowledged it just now. */
export interface VerifiedGooglePurchase extends GooglePurchaseResult {
  autoAcknowledged: boolean;
}

/**
 * The Google Play Developer API beyond the lookups, with the tenant's
 * service account: acknowledge and consume, cancel, revoke and defer,
 * refund, voided purchases. Each acknowledgement Attesto makes is recorded
 * (google_acknowledgements), and so is whether it was automatic.
 */
export class GooglePlayCalls {
  constructor(
    private readonly db: Db,
    private readonly verification: StoreVerification,
    private readonly api: GooglePlayApi,
  ) {}

  /**
   * VerifyGooglePurchase, then, when the tenant asks for it and the purchase
   * is valid, not pending and not yet acknowledged, the acknowledgement
   * Google otherwise refunds it for after three days.
   */
  async verifyPurchase(tenantId: string, input: { packageName?: string; productId?: string; purchaseToken: string; kind: "product" | "subscription" }): Promise<VerifiedGooglePurchase> {
    const result = await this.verification.verifyGooglePurchase(tenantId, input);
    const { purchase } = result;
    if (!purchase.valid || purchase.acknowledged !== false || (purchase.status !== "active" && purchase.status !== "in_grace_period")) return { ...result, autoAcknowledged: false };
    const credentials = await this.verification.credentials.google(tenantId);
    if (!credentials?.autoAcknowledge) return { ...result, autoAcknowledged: false };
    const productId = purchase.productId || input.productId;
    if (!productId) return { ...result, autoAcknowledged: false };
    const ref = { packageName: input.packageName ?? credentials.packageName, purchaseToken: input.purchaseToken, productId };
    try {
      await this.acknowledge(tenantId, input.kind, ref, "", true, purchase.transactionId);
    } catch (err) {
      // The verification stands; the purchase is answered as still unacknowledged, so the caller (or its next verification) acknowledges it.
      if (err instanceof AppError) return { ...result, autoAcknowledged: false };
      throw err;
    }
    return { ...result, purchase: { ...purchase, acknowledged: true }, autoAcknowledged: true };
  }

  /** purchases.products.acknowledge */
  async acknowledgeProduct(tenantId: string, q: ProductPurchaseRef & { developerPayload?: string }): Promise<void> {
    await this.acknowledge(tenantId, "product", q, q.developerPayload ?? "", false, "");
  }

  /** purchases.subscriptions.acknowledge */
  async acknowledgeSubscription(tenantId: string, q: SubscriptionPurchaseRef & { developerPayload?: string }): Promise<void> {
    await this.acknowledge(tenantId, "subscription", { ...q, productId: q.subscriptionId }, q.developerPayload ?? "", false, "");
  }

  /** purchases.products.consume */
  async consumeProduct(tenantId: string, q: ProductPurchaseRef): Promise<void> {
    const call = await this.begin(tenantId, q);
    await this.api.call(tenantId, call.credentials, { method: "POST", path: `${call.app}/purchases/products/${enc(q.productId)}/tokens/${enc(q.purchaseToken)}:consume` });
  }

  /** purchases.subscriptionsv2.cancel */
  async cancelSubscription(tenantId: string, q: GoogleCallTarget & { purchaseToken: string; cancellationType?: CancellationType }): Promise<void> {
    const call = await this.begin(tenantId, q);
    const body = q.cancellationType ? { cancellationContext: { cancellationType: q.cancellationType } } : {};
    await this.api.call(tenantId, call.credentials, { method: "POST", path: `${call.app}/purchases/subscriptionsv2/tokens/${enc(q.purchaseToken)}:cancel`, body });
  }

  /** purchases.subscriptionsv2.revoke, with a full or a prorated refund. */
  async revokeSubscription(tenantId: string, q: GoogleCallTarget & { purchaseToken: string; refund: "full" | "prorated" }): Promise<void> {
    const call = await this.begin(tenantId, q);
    const revocationContext = q.refund === "full" ? { fullRefund: {} } : { proratedRefund: {} };
    await this.api.call(tenantId, call.credentials, { method: "POST", path: `${call.app}/purchases/subscriptionsv2/tokens/${enc(q.purchaseToken)}:revoke`, body: { revocationContext } });
  }

  /** purchases.subscriptions.defer: the new expiry Google answers. */
  async deferSubscription(tenantId: string, q: SubscriptionDeferral): Promise<Date | undefined> {
    if (q.desiredExpiryTime.getTime() <= q.expectedExpiryTime.getTime()) {
      throw new AppError("invalid_argument", "desired_expiry_time: must be later than expected_expiry_time", { field: "desired_expiry_time" });
    }
    const call = await this.begin(tenantId, q);
    const json = await this.api.call(tenantId, call.credentials, {
      method: "POST",
      path: `${call.app}/purchases/subscriptions/${enc(q.subscriptionId)}/tokens/${enc(q.purchaseToken)}:defer`,
      body: { deferralInfo: { expectedExpiryTimeMillis: String(q.expectedExpiryTime.getTime()), desiredExpiryTimeMillis: String(q.desiredExpiryTime.getTime()) } },
    });
    return millis(json.newExpiryTimeMillis);
  }

  /** orders.refund */
  async refundOrder(tenantId: string, q: GoogleCallTarget & { orderId: string; revoke?: boolean }): Promise<void> {
    const call = await this.begin(tenantId, q);
    const query: Array<[string, string]> = q.revoke ? [["revoke", "true"]] : [];
    await this.api.call(tenantId, call.credentials, { method: "POST", path: `${call.app}/orders/${enc(q.orderId)}:refund`, query });
  }

  /** purchases.voidedpurchases.list: one page (token paging). */
  async voidedPurchases(tenantId: string, q: VoidedPurchasesQuery): Promise<VoidedPurchasesPage> {
    const call = await this.begin(tenantId, q);
    const query: Array<[string, string]> = [];
    if (q.startTime) query.push(["startTime", String(q.startTime.getTime())]);
    if (q.endTime) query.push(["endTime", String(q.endTime.getTime())]);
    if (q.maxResults) query.push(["maxResults", String(q.maxResults)]);
    if (q.pageToken) query.push(["token", q.pageToken]);
    query.push(["type", q.includeSubscriptions ? "1" : "0"]);
    const json = await this.api.call(tenantId, call.credentials, { method: "GET", path: `${call.app}/purchases/voidedpurchases`, query });
    const pagination = isObject(json.tokenPagination) ? json.tokenPagination : {};
    return { voidedPurchases: objects(json.voidedPurchases).map(voided), nextPageToken: str(pagination.nextPageToken) };
  }

  /** The tenant's package name, when a caller leaves it out. */
  async packageName(tenantId: string): Promise<string> {
    return (await this.begin(tenantId, {})).credentials.packageName;
  }

  private async acknowledge(
    tenantId: string,
    kind: "product" | "subscription",
    q: GoogleCallTarget & { productId: string; purchaseToken: string },
    developerPayload: string,
    automatic: boolean,
    orderId: string,
  ): Promise<void> {
    const call = await this.begin(tenantId, q);
    const resource = kind === "product" ? "products" : "subscriptions";
    await this.api.call(tenantId, call.credentials, {
      method: "POST",
      path: `${call.app}/purchases/${resource}/${enc(q.productId)}/tokens/${enc(q.purchaseToken)}:acknowledge`,
      body: developerPayload ? { developerPayload } : {},
    });
    const row = { tenantId, purchaseToken: q.purchaseToken, kind, productId: q.productId, orderId, automatic, acknowledgedAt: new Date() };
    await this.db
      .insert(googleAcknowledgements)
      .values(row)
      .onConflictDoUpdate({ target: [googleAcknowledgements.tenantId, googleAcknowledgements.purchaseToken, googleAcknowledgements.productId], set: row });
  }

  /** What Attesto recorded of a purchase's acknowledgement, if it made one. */
  async acknowledgement(tenantId: string, purchaseToken: string): Promise<{ automatic: boolean; acknowledgedAt: Date; kind: string; productId: string } | undefined> {
    const [row] = await this.db
      .select()
      .from(googleAcknowledgements)
      .where(and(eq(googleAcknowledgements.tenantId, tenantId), eq(googleAcknowledgements.purchaseToken, purchaseToken)))
      .limit(1);
    return row && { automatic: row.automatic, acknowledgedAt: row.acknowledgedAt, kind: row.kind, productId: row.productId };
  }

  private async begin(tenantId: string, target: GoogleCallTarget): Promise<Call> {
    const credentials = await this.verification.credentials.google(tenantId);
    if (!credentials) {
      throw new AppError("failed_precondition", "the tenant has no Google credentials (AdminService.PutGoogleCredentials)", { reason: "STORE_CREDENTIALS_MISSING" });
    }
    return { credentials, app: `/androidpublisher/v3/applications/${enc(target.packageName ?? credentials.packageName)}` };
  }
}

function voided(v: Record<string, unknown>): VoidedPurchase {
  return {
    purchaseToken: str(v.purchaseToken),
    orderId: str(v.orderId),
    purchaseTime: millis(v.purchaseTimeMillis),
    voidedTime: millis(v.voidedTimeMillis),
    voidedSource: int(v.voidedSource),
    voidedReason: int(v.voidedReason),
    voidedQuantity: int(v.voidedQuantity),
    resource: v,
  };
}

const enc = encodeURIComponent;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === "string" ? v : typeof v === "number" ? String(v) : "");
const int = (v: unknown): number => (typeof v === "number" && Number.isInteger(v) ? v : 0);
/** Google's int64 millis come as strings. */
function millis(v: unknown): Date | undefined {
  const n = typeof v === "string" && /^\d{1,16}$/.test(v) ? Number(v) : typeof v === "number" ? v : NaN;
  return Number.isFinite(n) && n > 0 ? new Date(n) : undefined;
}
const objects = (v: unknown): Array<Record<string, unknown>> => (Array.isArray(v) ? v.filter(isObject) : []);
