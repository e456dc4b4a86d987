/* What the Google Play Developer API calls of the store facade take and answer (Google's names, decoded). */

/** Every call names the app, or leaves it to the tenant's credentials. */
export interface GoogleCallTarget {
  packageName?: string;
}

export interface ProductPurchaseRef extends GoogleCallTarget {
  productId: string;
  purchaseToken: string;
}

export interface SubscriptionPurchaseRef extends GoogleCallTarget {
  subscriptionId: string;
  purchaseToken: string;
}

export type CancellationType = "USER_REQUESTED_STOP_RENEWALS" | "DEVELOPER_REQUESTED_STOP_PAYMENTS";

export interface SubscriptionDeferral extends SubscriptionPurchaseRef {
  expectedExpiryTime: Date;
  desiredExpiryTime: Date;
}

export interface VoidedPurchasesQuery extends GoogleCallTarget {
  startTime?: Date;
  endTime?: Date;
  pageToken?: string;
  maxResults?: number;
  includeSubscriptions?: boolean;
}

/** One of Google's VoidedPurchase resources. */
export interface VoidedPurchase {
  purchaseToken: string;
  orderId: string;
  purchaseTime: Date | undefined;
  voidedTime: Date | undefined;
  voidedSource: number;
  voidedReason: number;
  voidedQuantity: number;
  /** Google's resource as it answered, for the stored notification's payload. */
  resource: Record<string, unknown>;
}

export interface VoidedPurchasesPage {
  voidedPurchases: VoidedPurchase[];
  nextPageToken: string;
}
