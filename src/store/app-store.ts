import { AppError } from "../errors.js";
import type { AppleCredentials } from "./credential-cache.js";
import type { AppleApiEnvironment, AppStoreServerApi } from "./apple/server-api.js";
import type { AppleExpectation } from "./apple/jws-verifier.js";
import { AppleJwsRejection } from "./apple/rejection.js";
import type {
  AppleCallTarget,
  AppleSignedItem,
  ConsumptionInformation,
  MassExtensionStatus,
  MassRenewalExtension,
  NotificationHistoryItem,
  NotificationHistoryPage,
  NotificationHistoryQuery,
  RenewalExtension,
  RenewalExtensionResult,
  SendAttempt,
  SubscriptionStatuses,
  TransactionHistoryQuery,
  TransactionPage,
} from "./app-store-types.js";
import { appleEnvironmentName, invalidPurchase } from "./purchase.js";
import type { StoreVerification } from "./verification.js";

interface Call {
  credentials: AppleCredentials;
  environment: AppleApiEnvironment;
  /** What every signed item of the answer must match: the credentials' app and the host's environment. */
  expect: AppleExpectation;
}

/**
 * The App Store Server API beyond Get Transaction Info, with the tenant's
 * key. Every Apple-signed item of every answer is verified as
 * VerifyAppleSignedData verifies (to a pinned root, the credentials' bundle
 * id, the host's environment) before it is returned; an item that does not
 * verify is returned as valid = false with the reason and no payload.
 */
export class AppStoreCalls {
  constructor(
    private readonly verification: StoreVerification,
    private readonly api: AppStoreServerApi,
  ) {}

  /** Get Transaction History v2: one page; the answer's revision asks for the next. */
  async transactionHistory(tenantId: string, q: TransactionHistoryQuery): Promise<TransactionPage> {
    const call = await this.begin(tenantId, q);
    const query: Array<[string, string]> = [];
    if (q.revision) query.push(["revision", q.revision]);
    if (q.startDate) query.push(["startDate", String(q.startDate.getTime())]);
    if (q.endDate) query.push(["endDate", String(q.endDate.getTime())]);
    for (const id of q.productIds ?? []) query.push(["productId", id]);
    for (const type of q.productTypes ?? []) query.push(["productType", type]);
    if (q.sort) query.push(["sort", q.sort]);
    for (const group of q.subscriptionGroupIdentifiers ?? []) query.push(["subscriptionGroupIdentifier", group]);
    if (q.inAppOwnershipType) query.push(["inAppOwnershipType", q.inAppOwnershipType]);
    if (q.revoked !== undefined) query.push(["revoked", String(q.revoked)]);
    const json = await this.api.call(call.credentials, call.environment, { method: "GET", path: `/inApps/v2/history/${encodeURIComponent(q.transactionId)}`, query });
    return {
      transactions: await this.items(json.signedTransactions, call),
      revision: str(json.revision),
      hasMore: json.hasMore === true,
      bundleId: str(json.bundleId),
      appAppleId: num(json.appAppleId),
      environment: str(json.environment),
    };
  }

  /** Get All Subscription Statuses, optionally only those in Apple's status numbers. */
  async subscriptionStatuses(tenantId: string, q: AppleCallTarget & { transactionId: string; statuses?: number[] }): Promise<SubscriptionStatuses> {
    const call = await this.begin(tenantId, q);
    const query = (q.statuses ?? []).map((s): [string, string] => ["status", String(s)]);
    const json = await this.api.call(call.credentials, call.environment, { method: "GET", path: `/inApps/v1/subscriptions/${encodeURIComponent(q.transactionId)}`, query });
    const data = [];
    for (const group of objects(json.data)) {
      const lastTransactions = [];
      for (const last of objects(group.lastTransactions)) {
        lastTransactions.push({
          originalTransactionId: str(last.originalTransactionId),
          status: num(last.status),
          transaction: last.signedTransactionInfo === undefined ? undefined : await this.item(last.signedTransactionInfo, call),
          renewalInfo: last.signedRenewalInfo === undefined ? undefined : await this.item(last.signedRenewalInfo, call),
        });
      }
      data.push({ subscriptionGroupIdentifier: str(group.subscriptionGroupIdentifier), lastTransactions });
    }
    return { data, bundleId: str(json.bundleId), appAppleId: num(json.appAppleId), environment: str(json.environment) };
  }

  /** Look Up Order ID: Apple's status 0 is a known order. */
  async lookUpOrderId(tenantId: string, q: AppleCallTarget & { orderId: string }): Promise<{ valid: boolean; transactions: AppleSignedItem[] }> {
    const call = await this.begin(tenantId, q);
    const json = await this.api.call(call.credentials, call.environment, { method: "GET", path: `/inApps/v1/lookup/${encodeURIComponent(q.orderId)}` });
    return { valid: json.status === 0, transactions: await this.items(json.signedTransactions, call) };
  }

  /** Get Refund History v2: one page. */
  async refundHistory(tenantId: string, q: AppleCallTarget & { transactionId: string; revision?: string }): Promise<{ transactions: AppleSignedItem[]; revision: string; hasMore: boolean }> {
    const call = await this.begin(tenantId, q);
    const query: Array<[string, string]> = q.revision ? [["revision", q.revision]] : [];
    const json = await this.api.call(call.credentials, call.environment, { method: "GET", path: `/inApps/v2/refund/lookup/${encodeURIComponent(q.transactionId)}`, query });
    return { transactions: await this.items(json.signedTransactions, call), revision: str(json.revision), hasMore: json.hasMore === true };
  }

  /** Get Notification History: one page of what Apple sent or tried to send in the window. */
  async notificationHistory(tenantId: string, q: NotificationHistoryQuery): Promise<NotificationHistoryPage> {
    const call = await this.begin(tenantId, q);
    const body: Record<string, unknown> = { startDate: q.startDate.getTime(), endDate: q.endDate.getTime() };
    if (q.notificationType) body.notificationType = q.notificationType;
    if (q.notificationSubtype) body.notificationSubtype = q.notificationSubtype;
    if (q.transactionId) body.transactionId = q.transactionId;
    if (q.onlyFailures) body.onlyFailures = true;
    const query: Array<[string, string]> = q.paginationToken ? [["paginationToken", q.paginationToken]] : [];
    const json = await this.api.call(call.credentials, call.environment, { method: "POST", path: "/inApps/v1/notifications/history", query, body });
    const items: NotificationHistoryItem[] = [];
    for (const entry of objects(json.notificationHistory)) {
      items.push({ signedPayload: str(entry.signedPayload), notification: await this.item(entry.signedPayload, call), sendAttempts: attempts(entry.sendAttempts) });
    }
    return { items, hasMore: json.hasMore === true, paginationToken: str(json.paginationToken) };
  }

  /** Request a Test Notification: Apple's token for its status. */
  async requestTestNotification(tenantId: string, q: AppleCallTarget): Promise<string> {
    const call = await this.begin(tenantId, q);
    const json = await this.api.call(call.credentials, call.environment, { method: "POST", path: "/inApps/v1/notifications/test" });
    return str(json.testNotificationToken);
  }

  /** Get Test Notification Status. */
  async testNotificationStatus(tenantId: string, q: AppleCallTarget & { testNotificationToken: string }): Promise<{ notification: AppleSignedItem; sendAttempts: SendAttempt[] }> {
    const call = await this.begin(tenantId, q);
    const json = await this.api.call(call.credentials, call.environment, { method: "GET", path: `/inApps/v1/notifications/test/${encodeURIComponent(q.testNotificationToken)}` });
    return { notification: await this.item(json.signedPayload, call), sendAttempts: attempts(json.sendAttempts) };
  }

  /** Send Consumption Information (Apple answers 202 with no body). */
  async sendConsumptionInformation(tenantId: string, q: ConsumptionInformation): Promise<void> {
    if (!q.customerConsented)
      throw new AppError("invalid_argument", "customer_consented: must be true (Apple refuses consumption data sent without the customer's consent)", { field: "customer_consented" });
    const call = await this.begin(tenantId, q);
    const { environment: _e, transactionId, ...fields } = q;
    await this.api.call(call.credentials, call.environment, { method: "PUT", path: `/inApps/v1/transactions/consumption/${encodeURIComponent(transactionId)}`, body: fields });
  }

  /** Extend a Subscription Renewal Date. */
  async extendRenewalDate(tenantId: string, q: RenewalExtension): Promise<RenewalExtensionResult> {
    const call = await this.begin(tenantId, q);
    const json = await this.api.call(call.credentials, call.environment, {
      method: "PUT",
      path: `/inApps/v1/subscriptions/extend/${encodeURIComponent(q.originalTransactionId)}`,
      body: { extendByDays: q.extendByDays, extendReasonCode: q.extendReasonCode, requestIdentifier: q.requestIdentifier },
    });
    return { success: json.success === true, effectiveDate: date(json.effectiveDate), originalTransactionId: str(json.originalTransactionId), webOrderLineItemId: str(json.webOrderLineItemId) };
  }

  /** Extend Subscription Renewal Dates for All Active Subscribers. */
  async massExtendRenewalDate(tenantId: string, q: MassRenewalExtension): Promise<string> {
    const call = await this.begin(tenantId, q);
    const body: Record<string, unknown> = { productId: q.productId, extendByDays: q.extendByDays, extendReasonCode: q.extendReasonCode, requestIdentifier: q.requestIdentifier };
    if (q.storefrontCountryCodes?.length) body.storefrontCountryCodes = q.storefrontCountryCodes;
    const json = await this.api.call(call.credentials, call.environment, { method: "POST", path: "/inApps/v1/subscriptions/extend/mass", body });
    return str(json.requestIdentifier) || q.requestIdentifier;
  }

  /** Get Status of Subscription Renewal Date Extensions. */
  async massExtensionStatus(tenantId: string, q: AppleCallTarget & { productId: string; requestIdentifier: string }): Promise<MassExtensionStatus> {
    const call = await this.begin(tenantId, q);
    const json = await this.api.call(call.credentials, call.environment, {
      method: "GET",
      path: `/inApps/v1/subscriptions/extend/mass/${encodeURIComponent(q.productId)}/${encodeURIComponent(q.requestIdentifier)}`,
    });
    return {
      requestIdentifier: str(json.requestIdentifier),
      complete: json.complete === true,
      completeDate: date(json.completeDate),
      succeededCount: num(json.succeededCount),
      failedCount: num(json.failedCount),
    };
  }

  /** Set App Account Token. */
  async setAppAccountToken(tenantId: string, q: AppleCallTarget & { originalTransactionId: string; appAccountToken: string }): Promise<void> {
    const call = await this.begin(tenantId, q);
    await this.api.call(call.credentials, call.environment, {
      method: "PUT",
      path: `/inApps/v1/transactions/${encodeURIComponent(q.originalTransactionId)}/appAccountToken`,
      body: { appAccountToken: q.appAccountToken },
    });
  }

  /** Get App Transaction Info. */
  async appTransactionInfo(tenantId: string, q: AppleCallTarget & { transactionId: string }): Promise<AppleSignedItem> {
    const call = await this.begin(tenantId, q);
    const json = await this.api.call(call.credentials, call.environment, { method: "GET", path: `/inApps/v1/transactions/appTransactions/${encodeURIComponent(q.transactionId)}` });
    return this.item(json.signedAppTransactionInfo, call);
  }

  private async begin(tenantId: string, target: AppleCallTarget): Promise<Call> {
    const credentials = await this.verification.credentials.apple(tenantId);
    if (!credentials) {
      throw new AppError("failed_precondition", "the tenant has no Apple credentials (AdminService.PutAppleCredentials)", { reason: "STORE_CREDENTIALS_MISSING" });
    }
    const environment = target.environment ?? credentials.environment;
    return { credentials, environment, expect: { bundleId: credentials.bundleId, environment: appleEnvironmentName(environment) } };
  }

  private async items(list: unknown, call: Call): Promise<AppleSignedItem[]> {
    const out: AppleSignedItem[] = [];
    for (const jws of Array.isArray(list) ? list : []) out.push(await this.item(jws, call));
    return out;
  }

  /** One signed item of Apple's answer, verified; what is not even a JWS is a bad signature of Apple's answer, not the caller's fault. */
  private async item(jws: unknown, call: Call): Promise<AppleSignedItem> {
    if (typeof jws !== "string") return rejectedItem(new AppleJwsRejection("signature_invalid", "Apple's answer holds no JWS where one belongs"));
    try {
      return await this.verification.decodeAppleSignedData(jws, call.expect);
    } catch (err) {
      if (err instanceof AppError && err.code === "invalid_argument") return rejectedItem(new AppleJwsRejection("signature_invalid", "Apple's answer is not a JWS"));
      throw err;
    }
  }
}

function rejectedItem(err: AppleJwsRejection): AppleSignedItem {
  return { purchase: invalidPurchase(err.reason), kind: undefined, payload: undefined, signedAt: undefined, notificationType: "", notificationSubtype: "", notificationUuid: "" };
}

const str = (v: unknown): string => (typeof v === "string" ? v : typeof v === "number" ? String(v) : "");
const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);
const date = (v: unknown): Date | undefined => (typeof v === "number" && Number.isFinite(v) ? new Date(v) : undefined);
const objects = (v: unknown): Array<Record<string, unknown>> => (Array.isArray(v) ? v.filter((x): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x)) : []);
const attempts = (v: unknown): SendAttempt[] => objects(v).map((a) => ({ attemptDate: date(a.attemptDate), sendAttemptResult: str(a.sendAttemptResult) }));
