import type { AppleSignedDataResult } from "./verification.js";

/* What the App Store Server API calls of the store facade take and answer (Apple's names, decoded and verified). */

export type AppleHost = "production" | "sandbox";

/** Every call names the host, or leaves it to the tenant's credentials. */
export interface AppleCallTarget {
  environment?: AppleHost;
}

/** One Apple-signed item of an answer, verified: valid = false with the reason when it does not verify. */
export type AppleSignedItem = AppleSignedDataResult;

export interface TransactionHistoryQuery extends AppleCallTarget {
  transactionId: string;
  revision?: string;
  startDate?: Date;
  endDate?: Date;
  productIds?: string[];
  productTypes?: string[];
  sort?: "ASCENDING" | "DESCENDING";
  subscriptionGroupIdentifiers?: string[];
  inAppOwnershipType?: "FAMILY_SHARED" | "PURCHASED";
  revoked?: boolean;
}

export interface TransactionPage {
  transactions: AppleSignedItem[];
  revision: string;
  hasMore: boolean;
  bundleId: string;
  appAppleId: number;
  environment: string;
}

export interface SubscriptionStatuses {
  data: Array<{
    subscriptionGroupIdentifier: string;
    lastTransactions: Array<{ originalTransactionId: string; status: number; transaction: AppleSignedItem | undefined; renewalInfo: AppleSignedItem | undefined }>;
  }>;
  bundleId: string;
  appAppleId: number;
  environment: string;
}

export interface NotificationHistoryQuery extends AppleCallTarget {
  startDate: Date;
  endDate: Date;
  notificationType?: string;
  notificationSubtype?: string;
  transactionId?: string;
  onlyFailures?: boolean;
  paginationToken?: string;
}

export interface SendAttempt {
  attemptDate: Date | undefined;
  sendAttemptResult: string;
}

export interface NotificationHistoryItem {
  /** The signedPayload as Apple sent it (for ingesting it through the inbound path). */
  signedPayload: string;
  notification: AppleSignedItem;
  sendAttempts: SendAttempt[];
}

export interface NotificationHistoryPage {
  items: NotificationHistoryItem[];
  hasMore: boolean;
  paginationToken: string;
}

/** Apple's ConsumptionRequest fields. */
export interface ConsumptionInformation extends AppleCallTarget {
  transactionId: string;
  customerConsented: boolean;
  consumptionStatus: number;
  platform: number;
  sampleContentProvided: boolean;
  deliveryStatus: number;
  appAccountToken: string;
  accountTenure: number;
  playTime: number;
  lifetimeDollarsRefunded: number;
  lifetimeDollarsPurchased: number;
  userStatus: number;
  refundPreference: number;
}

export interface RenewalExtension extends AppleCallTarget {
  originalTransactionId: string;
  extendByDays: number;
  extendReasonCode: number;
  requestIdentifier: string;
}

export interface RenewalExtensionResult {
  success: boolean;
  effectiveDate: Date | undefined;
  originalTransactionId: string;
  webOrderLineItemId: string;
}

export interface MassRenewalExtension extends AppleCallTarget {
  productId: string;
  extendByDays: number;
  extendReasonCode: number;
  requestIdentifier: string;
  storefrontCountryCodes?: string[];
}

export interface MassExtensionStatus {
  requestIdentifier: string;
  complete: boolean;
  completeDate: Date | undefined;
  succeededCount: number;
  failedCount: number;
}
