import type { DescMessage, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import {
  AcknowledgeProductRequestSchema,
  AcknowledgeProductResponseSchema,
  AcknowledgeSubscriptionRequestSchema,
  AcknowledgeSubscriptionResponseSchema,
  CancelSubscriptionRequestSchema,
  CancelSubscriptionResponseSchema,
  ConsumeProductRequestSchema,
  ConsumeProductResponseSchema,
  DeferSubscriptionRequestSchema,
  DeferSubscriptionResponseSchema,
  ListVoidedPurchasesRequestSchema,
  ListVoidedPurchasesResponseSchema,
  RefundOrderRequestSchema,
  RefundOrderResponseSchema,
  RevocationRefund,
  RevokeSubscriptionRequestSchema,
  RevokeSubscriptionResponseSchema,
} from "../../gen/ts/attesto/v1/googleplay_pb.js";
import type { CancellationType, GooglePlayCalls } from "../store/module.js";
import { ts } from "./timestamps.js";

// GooglePlayService's messages to and from the store facade's Google Play
// calls: one table for both edges (the Connect service and POST /v1/google/<route>) and the CLI.

/** One call: its contract messages, its REST route under /v1/google/, and what it does with the facade. */
export interface GooglePlayMethod<I extends DescMessage, O extends DescMessage> {
  request: I;
  response: O;
  route: string;
  run(calls: GooglePlayCalls, tenantId: string, req: MessageShape<I>): Promise<MessageInitShape<O>>;
}

const method = <I extends DescMessage, O extends DescMessage>(m: GooglePlayMethod<I, O>) => m;
const app = (req: { packageName?: string }) => ({ packageName: req.packageName });

/** By the service's method name (the generated client's local name). */
export const GOOGLE_PLAY_METHODS = {
  acknowledgeProduct: method({
    request: AcknowledgeProductRequestSchema,
    response: AcknowledgeProductResponseSchema,
    route: "acknowledge-product",
    async run(calls, tenantId, req) {
      await calls.acknowledgeProduct(tenantId, { ...app(req), productId: req.productId, purchaseToken: req.purchaseToken, developerPayload: req.developerPayload || undefined });
      return {};
    },
  }),
  consumeProduct: method({
    request: ConsumeProductRequestSchema,
    response: ConsumeProductResponseSchema,
    route: "consume-product",
    async run(calls, tenantId, req) {
      await calls.consumeProduct(tenantId, { ...app(req), productId: req.productId, purchaseToken: req.purchaseToken });
      return {};
    },
  }),
  acknowledgeSubscription: method({
    request: AcknowledgeSubscriptionRequestSchema,
    response: AcknowledgeSubscriptionResponseSchema,
    route: "acknowledge-subscription",
    async run(calls, tenantId, req) {
      await calls.acknowledgeSubscription(tenantId, { ...app(req), subscriptionId: req.productId, purchaseToken: req.purchaseToken, developerPayload: req.developerPayload || undefined });
      return {};
    },
  }),
  cancelSubscription: method({
    request: CancelSubscriptionRequestSchema,
    response: CancelSubscriptionResponseSchema,
    route: "cancel-subscription",
    async run(calls, tenantId, req) {
      await calls.cancelSubscription(tenantId, { ...app(req), purchaseToken: req.purchaseToken, cancellationType: (req.cancellationType || undefined) as CancellationType | undefined });
      return {};
    },
  }),
  revokeSubscription: method({
    request: RevokeSubscriptionRequestSchema,
    response: RevokeSubscriptionResponseSchema,
    route: "revoke-subscription",
    async run(calls, tenantId, req) {
      await calls.revokeSubscription(tenantId, { ...app(req), purchaseToken: req.purchaseToken, refund: req.refund === RevocationRefund.PRORATED ? "prorated" : "full" });
      return {};
    },
  }),
  deferSubscription: method({
    request: DeferSubscriptionRequestSchema,
    response: DeferSubscriptionResponseSchema,
    route: "defer-subscription",
    async run(calls, tenantId, req) {
      const newExpiry = await calls.deferSubscription(tenantId, {
        ...app(req),
        subscriptionId: req.productId,
        purchaseToken: req.purchaseToken,
        expectedExpiryTime: timestampDate(req.expectedExpiryTime!),
        desiredExpiryTime: timestampDate(req.desiredExpiryTime!),
      });
      return { newExpiryTime: ts(newExpiry) };
    },
  }),
  refundOrder: method({
    request: RefundOrderRequestSchema,
    response: RefundOrderResponseSchema,
    route: "refund-order",
    async run(calls, tenantId, req) {
      await calls.refundOrder(tenantId, { ...app(req), orderId: req.orderId, revoke: req.revoke });
      return {};
    },
  }),
  listVoidedPurchases: method({
    request: ListVoidedPurchasesRequestSchema,
    response: ListVoidedPurchasesResponseSchema,
    route: "voided-purchases",
    async run(calls, tenantId, req) {
      const page = await calls.voidedPurchases(tenantId, {
        ...app(req),
        startTime: req.startTime && timestampDate(req.startTime),
        endTime: req.endTime && timestampDate(req.endTime),
        pageToken: req.pageToken || undefined,
        maxResults: req.maxResults || undefined,
        includeSubscriptions: req.includeSubscriptions,
      });
      return {
        nextPageToken: page.nextPageToken,
        voidedPurchases: page.voidedPurchases.map((v) => ({
          purchaseToken: v.purchaseToken,
          orderId: v.orderId,
          purchaseTime: ts(v.purchaseTime),
          voidedTime: ts(v.voidedTime),
          voidedSource: v.voidedSource,
          voidedReason: v.voidedReason,
          voidedQuantity: v.voidedQuantity,
        })),
      };
    },
  }),
};

export type GooglePlayMethodName = keyof typeof GOOGLE_PLAY_METHODS;
