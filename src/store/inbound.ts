/*
 * What an inbound store notification is, from whichever store: the row it is
 * stored as, and what the Apple and Google readers turn a request into.
 */

export type NotificationSource = "apple" | "google";

/** How a notification reached Attesto: pushed to the inbound route, or found by reconciliation. */
export type NotificationArrival = "pushed" | "reconciled";

/** The Proofstream event type and webhook event of a notification. */
export type NotificationEventType = "apple.notification" | "google.notification" | "google.voided";

export interface StoreNotification {
  id: string;
  source: NotificationSource;
  /** Apple notificationUUID or Pub/Sub messageId. */
  externalId: string;
  notificationType: string;
  subtype: string;
  environment: string;
  appId: string;
  transactionId: string;
  originalTransactionId: string;
  productId: string;
  purchaseToken: string;
  signedAt: Date;
  receivedAt: Date;
  payload: Record<string, unknown>;
  streamId: string;
  seqNo: number;
  arrival: NotificationArrival;
}

/** What every inbound notification becomes before it is stored: the stored fields, the raw bytes and the relay's data. */
export type Inbound = Omit<StoreNotification, "id" | "receivedAt" | "streamId" | "seqNo" | "arrival"> & {
  tenantId: string;
  raw: string;
  /** Unset: `<source>.notification`. */
  eventType?: NotificationEventType;
  webhookData: Record<string, unknown>;
};

export const str = (v: unknown): string => (typeof v === "string" ? v : typeof v === "number" ? String(v) : "");
