/** The store-independent envelope of a verification (the contract's VerifiedPurchase). */

export type PurchaseKind = "product" | "subscription";
export type PurchaseStatus = "active" | "expired" | "in_grace_period" | "on_hold" | "paused" | "pending" | "revoked";
export type StoreEnvironment = "production" | "sandbox" | "xcode" | "local_testing";

export interface VerifiedPurchase {
  valid: boolean;
  /** Why valid is false; empty when valid. */
  errorCode: string;
  status: PurchaseStatus | undefined;
  kind: PurchaseKind | undefined;
  productId: string;
  transactionId: string;
  originalTransactionId: string;
  appId: string;
  purchasedAt: Date | undefined;
  expiresAt: Date | undefined;
  revokedAt: Date | undefined;
  autoRenewing: boolean | undefined;
  quantity: number;
  environment: StoreEnvironment | undefined;
  appAccountToken: string;
  obfuscatedAccountId: string;
  purchaseToken: string;
  acknowledged: boolean | undefined;
}

/** The answer for a purchase that did not verify. */
export function invalidPurchase(errorCode: string, known: Partial<VerifiedPurchase> = {}): VerifiedPurchase {
  return {
    valid: false,
    errorCode,
    status: undefined,
    kind: undefined,
    productId: "",
    transactionId: "",
    originalTransactionId: "",
    appId: "",
    purchasedAt: undefined,
    expiresAt: undefined,
    revokedAt: undefined,
    autoRenewing: undefined,
    quantity: 0,
    environment: undefined,
    appAccountToken: "",
    obfuscatedAccountId: "",
    purchaseToken: "",
    acknowledged: undefined,
    ...known,
  };
}

const APPLE_ENVIRONMENTS: Record<string, StoreEnvironment> = {
  Production: "production",
  Sandbox: "sandbox",
  Xcode: "xcode",
  LocalTesting: "local_testing",
};

/** The contract environment of one of Apple's environment names. */
export const storeEnvironmentOfApple = (name: unknown): StoreEnvironment | undefined => (typeof name === "string" ? APPLE_ENVIRONMENTS[name] : undefined);

const str = (v: unknown): string => (typeof v === "string" ? v : typeof v === "number" ? String(v) : "");
const date = (v: unknown): Date | undefined => (typeof v === "number" && Number.isFinite(v) ? new Date(v) : undefined);

/**
 * A decoded Apple transaction (JWSTransactionDecodedPayload) as the
 * envelope. A revoked transaction is REVOKED; an auto-renewable
 * subscription past expiresDate is EXPIRED; anything else is ACTIVE.
 */
export function applePurchaseFromTransaction(tx: Record<string, unknown>, now = Date.now()): VerifiedPurchase {
  const subscription = tx.type === "Auto-Renewable Subscription";
  const revokedAt = date(tx.revocationDate);
  const expiresAt = date(tx.expiresDate);
  const status: PurchaseStatus = revokedAt ? "revoked" : subscription && expiresAt && expiresAt.getTime() <= now ? "expired" : "active";
  return {
    ...invalidPurchase(""),
    valid: true,
    status,
    kind: subscription ? "subscription" : "product",
    productId: str(tx.productId),
    transactionId: str(tx.transactionId),
    originalTransactionId: str(tx.originalTransactionId),
    appId: str(tx.bundleId),
    purchasedAt: date(tx.purchaseDate),
    expiresAt,
    revokedAt,
    quantity: typeof tx.quantity === "number" ? tx.quantity : 1,
    environment: APPLE_ENVIRONMENTS[str(tx.environment)],
    appAccountToken: str(tx.appAccountToken),
  };
}

/**
 * Decoded renewal info (JWSRenewalInfoDecodedPayload) as the envelope:
 * in billing retry it is IN_GRACE_PERIOD while gracePeriodExpiresDate is
 * ahead, else ON_HOLD; with an expirationIntent it is EXPIRED; otherwise
 * ACTIVE (renewal info alone does not carry the period's end).
 */
export function applePurchaseFromRenewalInfo(info: Record<string, unknown>, now = Date.now()): VerifiedPurchase {
  const grace = date(info.gracePeriodExpiresDate);
  const status: PurchaseStatus = info.isInBillingRetryPeriod === true ? (grace && grace.getTime() > now ? "in_grace_period" : "on_hold") : info.expirationIntent !== undefined ? "expired" : "active";
  return {
    ...invalidPurchase(""),
    valid: true,
    status,
    kind: "subscription",
    productId: str(info.productId),
    originalTransactionId: str(info.originalTransactionId),
    autoRenewing: typeof info.autoRenewStatus === "number" ? info.autoRenewStatus === 1 : undefined,
    expiresAt: info.isInBillingRetryPeriod === true ? grace : undefined,
    quantity: 1,
    environment: APPLE_ENVIRONMENTS[str(info.environment)],
    appAccountToken: str(info.appAccountToken),
  };
}

/** Apple's environment name for a contract environment; undefined for "any". */
export function appleEnvironmentName(env: StoreEnvironment | undefined): "Production" | "Sandbox" | "Xcode" | "LocalTesting" | undefined {
  switch (env) {
    case "production":
      return "Production";
    case "sandbox":
      return "Sandbox";
    case "xcode":
      return "Xcode";
    case "local_testing":
      return "LocalTesting";
    default:
      return undefined;
  }
}

/**
 * A ProductPurchase (purchases.products.get) as the envelope: purchaseState
 * 0 is ACTIVE, 1 (canceled) REVOKED, 2 PENDING; purchaseType 0 is a test
 * purchase (SANDBOX).
 */
export function googlePurchaseFromProduct(p: Record<string, unknown>, ids: { packageName: string; productId: string; purchaseToken: string }): VerifiedPurchase {
  const state = Number(p.purchaseState ?? 0);
  const status: PurchaseStatus = state === 1 ? "revoked" : state === 2 ? "pending" : "active";
  return {
    ...invalidPurchase(""),
    valid: true,
    status,
    kind: "product",
    productId: str(p.productId) || ids.productId,
    transactionId: str(p.orderId),
    appId: ids.packageName,
    purchasedAt: date(Number(p.purchaseTimeMillis)),
    quantity: typeof p.quantity === "number" ? p.quantity : 1,
    environment: p.purchaseType === 0 ? "sandbox" : "production",
    obfuscatedAccountId: str(p.obfuscatedExternalAccountId),
    purchaseToken: ids.purchaseToken,
    acknowledged: p.acknowledgementState === undefined ? undefined : Number(p.acknowledgementState) === 1,
  };
}

const GOOGLE_SUBSCRIPTION_STATES: Record<string, PurchaseStatus> = {
  SUBSCRIPTION_STATE_ACTIVE: "active",
  SUBSCRIPTION_STATE_IN_GRACE_PERIOD: "in_grace_period",
  SUBSCRIPTION_STATE_ON_HOLD: "on_hold",
  SUBSCRIPTION_STATE_PAUSED: "paused",
  SUBSCRIPTION_STATE_EXPIRED: "expired",
  SUBSCRIPTION_STATE_PENDING: "pending",
  SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED: "revoked",
};

/**
 * A SubscriptionPurchaseV2 as the envelope. CANCELED means "will not
 * renew": ACTIVE until the line item's expiry, EXPIRED after. A requested
 * product id must be one of the line items, else valid = false
 * (product_mismatch).
 */
export function googlePurchaseFromSubscription(s: Record<string, unknown>, ids: { packageName: string; productId: string | undefined; purchaseToken: string }, now = Date.now()): VerifiedPurchase {
  const lineItems = (Array.isArray(s.lineItems) ? s.lineItems : []).filter((i): i is Record<string, unknown> => i !== null && typeof i === "object");
  const item = ids.productId ? lineItems.find((i) => i.productId === ids.productId) : lineItems[0];
  if (ids.productId && !item) return invalidPurchase("product_mismatch", { purchaseToken: ids.purchaseToken, appId: ids.packageName });
  const expiresAt = item && typeof item.expiryTime === "string" ? new Date(item.expiryTime) : undefined;
  const state = str(s.subscriptionState);
  const status: PurchaseStatus = state === "SUBSCRIPTION_STATE_CANCELED" ? (expiresAt && expiresAt.getTime() > now ? "active" : "expired") : (GOOGLE_SUBSCRIPTION_STATES[state] ?? "expired");
  const plan = item?.autoRenewingPlan as Record<string, unknown> | undefined;
  const accounts = s.externalAccountIdentifiers as Record<string, unknown> | undefined;
  return {
    ...invalidPurchase(""),
    valid: true,
    status,
    kind: "subscription",
    productId: str(item?.productId),
    transactionId: str(s.latestOrderId),
    appId: ids.packageName,
    purchasedAt: typeof s.startTime === "string" ? new Date(s.startTime) : undefined,
    expiresAt,
    autoRenewing: plan ? plan.autoRenewEnabled === true : false,
    quantity: 1,
    environment: s.testPurchase !== undefined ? "sandbox" : "production",
    obfuscatedAccountId: str(accounts?.obfuscatedExternalAccountId),
    purchaseToken: ids.purchaseToken,
    acknowledged: s.acknowledgementState === undefined ? undefined : s.acknowledgementState === "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED",
  };
}
