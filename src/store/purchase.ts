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
  const status: PurchaseStatus =
    info.isInBillingRetryPeriod === true ? (grace && grace.getTime() > now ? "in_grace_period" : "on_hold") : info.expirationIntent !== undefined ? "expired" : "active";
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
