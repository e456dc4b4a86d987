import { create, type JsonObject } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { Store } from "../../gen/ts/attesto/v1/common_pb.js";
import { NotificationArrival, StoreNotificationSchema, type StoreNotification as StoreNotificationMsg, type StoreNotificationService } from "../../gen/ts/attesto/v1/store_pb.js";
import type { StoreNotification, StoreReconciler } from "../store/module.js";
import type { StoreNotifications } from "../store/module.js";
import { tenantOf } from "./context.js";
import { ts } from "./convert.js";

/** StoreNotificationService: the tenant's verified inbound notifications, scoped by the caller's tenant. */
export function storeNotificationService({ storeNotifications, reconciler }: { storeNotifications: StoreNotifications; reconciler: StoreReconciler }): ServiceImpl<typeof StoreNotificationService> {
  return {
    async listNotifications(req, ctx) {
      const page = await storeNotifications.list(tenantOf(ctx).tenantId, {
        source: req.source === Store.APPLE ? "apple" : req.source === Store.GOOGLE ? "google" : undefined,
        type: req.notificationType || undefined,
        from: req.signedFrom && timestampDate(req.signedFrom),
        to: req.signedTo && timestampDate(req.signedTo),
        pageSize: req.pageSize,
        pageToken: req.pageToken,
      });
      return { notifications: page.notifications.map(notificationMsg), nextPageToken: page.nextPageToken };
    },
    async getNotification(req, ctx) {
      return { notification: notificationMsg(await storeNotifications.get(tenantOf(ctx).tenantId, req.notificationId)) };
    },
    async reconcileNotifications(req, ctx) {
      const only = req.source === Store.APPLE ? "apple" : req.source === Store.GOOGLE ? "google" : undefined;
      const sources = await reconciler.reconcile(tenantOf(ctx).tenantId, only);
      return { sources: sources.map((s) => ({ ...s, windowStart: ts(s.windowStart), windowEnd: ts(s.windowEnd) })) };
    },
  };
}

export function notificationMsg(n: StoreNotification): StoreNotificationMsg {
  return create(StoreNotificationSchema, {
    id: n.id,
    source: n.source === "apple" ? Store.APPLE : Store.GOOGLE,
    notificationUuid: n.source === "apple" ? n.externalId : "",
    messageId: n.source === "google" ? n.externalId : "",
    notificationType: n.notificationType,
    subtype: n.subtype,
    environment: n.environment,
    appId: n.appId,
    transactionId: n.transactionId,
    originalTransactionId: n.originalTransactionId,
    productId: n.productId,
    purchaseToken: n.purchaseToken,
    signedAt: ts(n.signedAt),
    receivedAt: ts(n.receivedAt),
    streamId: n.streamId,
    seqNo: BigInt(n.seqNo),
    payload: n.payload as JsonObject,
    arrival: n.arrival === "reconciled" ? NotificationArrival.RECONCILED : NotificationArrival.PUSHED,
  });
}
