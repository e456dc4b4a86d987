import type { DescMessage, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import {
  ExtendSubscriptionRenewalDateRequestSchema,
  ExtendSubscriptionRenewalDateResponseSchema,
  GetAllSubscriptionStatusesRequestSchema,
  GetAllSubscriptionStatusesResponseSchema,
  GetAppTransactionInfoRequestSchema,
  GetAppTransactionInfoResponseSchema,
  GetMassExtensionStatusRequestSchema,
  GetMassExtensionStatusResponseSchema,
  GetNotificationHistoryRequestSchema,
  GetNotificationHistoryResponseSchema,
  GetRefundHistoryRequestSchema,
  GetRefundHistoryResponseSchema,
  GetTestNotificationStatusRequestSchema,
  GetTestNotificationStatusResponseSchema,
  GetTransactionHistoryRequestSchema,
  GetTransactionHistoryResponseSchema,
  LookUpOrderIdRequestSchema,
  LookUpOrderIdResponseSchema,
  MassExtendSubscriptionRenewalDateRequestSchema,
  MassExtendSubscriptionRenewalDateResponseSchema,
  RequestTestNotificationRequestSchema,
  RequestTestNotificationResponseSchema,
  SendConsumptionInformationRequestSchema,
  SendConsumptionInformationResponseSchema,
  SetAppAccountTokenRequestSchema,
  SetAppAccountTokenResponseSchema,
} from "../../gen/ts/attesto/v1/appstore_pb.js";
import type { AppleEnvironment } from "../../gen/ts/attesto/v1/common_pb.js";
import type { AppleSignedItem, AppStoreCalls, SendAttempt } from "../store/module.js";
import { apiEnvironmentOf, appleSignedDataMsg } from "./store-messages.js";
import { ts } from "./timestamps.js";

// AppStoreService's messages to and from the store facade's App Store
// calls: one table for both edges (the Connect service and POST /v1/apple/<route>).

/** One call: its contract messages, its REST route under /v1/apple/, and what it does with the facade. */
export interface AppStoreMethod<I extends DescMessage, O extends DescMessage> {
  request: I;
  response: O;
  route: string;
  run(calls: AppStoreCalls, tenantId: string, req: MessageShape<I>): Promise<MessageInitShape<O>>;
}

const method = <I extends DescMessage, O extends DescMessage>(m: AppStoreMethod<I, O>) => m;

const host = (req: { environment: AppleEnvironment }) => ({ environment: apiEnvironmentOf(req.environment) });
const date = (t: Timestamp | undefined) => (t ? timestampDate(t) : undefined);
const item = (i: AppleSignedItem) => appleSignedDataMsg(i);
const sendAttempts = (list: SendAttempt[]) => list.map((a) => ({ attemptDate: ts(a.attemptDate), sendAttemptResult: a.sendAttemptResult }));

/** By the service's method name (the generated client's local name). */
export const APP_STORE_METHODS = {
  getTransactionHistory: method({
    request: GetTransactionHistoryRequestSchema,
    response: GetTransactionHistoryResponseSchema,
    route: "transaction-history",
    async run(calls, tenantId, req) {
      const page = await calls.transactionHistory(tenantId, {
        ...host(req),
        transactionId: req.transactionId,
        revision: req.revision || undefined,
        startDate: date(req.startDate),
        endDate: date(req.endDate),
        productIds: req.productIds,
        productTypes: req.productTypes,
        sort: (req.sort || undefined) as "ASCENDING" | "DESCENDING" | undefined,
        subscriptionGroupIdentifiers: req.subscriptionGroupIdentifiers,
        inAppOwnershipType: (req.inAppOwnershipType || undefined) as "FAMILY_SHARED" | "PURCHASED" | undefined,
        revoked: req.revoked,
      });
      return { ...page, appAppleId: BigInt(page.appAppleId), transactions: page.transactions.map(item) };
    },
  }),
  getAllSubscriptionStatuses: method({
    request: GetAllSubscriptionStatusesRequestSchema,
    response: GetAllSubscriptionStatusesResponseSchema,
    route: "subscription-statuses",
    async run(calls, tenantId, req) {
      const answer = await calls.subscriptionStatuses(tenantId, { ...host(req), transactionId: req.transactionId, statuses: req.statuses });
      return {
        bundleId: answer.bundleId,
        appAppleId: BigInt(answer.appAppleId),
        environment: answer.environment,
        data: answer.data.map((group) => ({
          subscriptionGroupIdentifier: group.subscriptionGroupIdentifier,
          lastTransactions: group.lastTransactions.map((last) => ({
            originalTransactionId: last.originalTransactionId,
            status: last.status,
            transaction: last.transaction && item(last.transaction),
            renewalInfo: last.renewalInfo && item(last.renewalInfo),
          })),
        })),
      };
    },
  }),
  lookUpOrderId: method({
    request: LookUpOrderIdRequestSchema,
    response: LookUpOrderIdResponseSchema,
    route: "order-lookup",
    async run(calls, tenantId, req) {
      const answer = await calls.lookUpOrderId(tenantId, { ...host(req), orderId: req.orderId });
      return { valid: answer.valid, transactions: answer.transactions.map(item) };
    },
  }),
  getRefundHistory: method({
    request: GetRefundHistoryRequestSchema,
    response: GetRefundHistoryResponseSchema,
    route: "refund-history",
    async run(calls, tenantId, req) {
      const page = await calls.refundHistory(tenantId, { ...host(req), transactionId: req.transactionId, revision: req.revision || undefined });
      return { ...page, transactions: page.transactions.map(item) };
    },
  }),
  getNotificationHistory: method({
    request: GetNotificationHistoryRequestSchema,
    response: GetNotificationHistoryResponseSchema,
    route: "notification-history",
    async run(calls, tenantId, req) {
      const page = await calls.notificationHistory(tenantId, {
        ...host(req),
        startDate: date(req.startDate)!,
        endDate: date(req.endDate)!,
        notificationType: req.notificationType || undefined,
        notificationSubtype: req.notificationSubtype || undefined,
        transactionId: req.transactionId || undefined,
        onlyFailures: req.onlyFailures,
        paginationToken: req.paginationToken || undefined,
      });
      return {
        hasMore: page.hasMore,
        paginationToken: page.paginationToken,
        notificationHistory: page.items.map((i) => ({ notification: item(i.notification), sendAttempts: sendAttempts(i.sendAttempts) })),
      };
    },
  }),
  requestTestNotification: method({
    request: RequestTestNotificationRequestSchema,
    response: RequestTestNotificationResponseSchema,
    route: "test-notification",
    async run(calls, tenantId, req) {
      return { testNotificationToken: await calls.requestTestNotification(tenantId, host(req)) };
    },
  }),
  getTestNotificationStatus: method({
    request: GetTestNotificationStatusRequestSchema,
    response: GetTestNotificationStatusResponseSchema,
    route: "test-notification-status",
    async run(calls, tenantId, req) {
      const answer = await calls.testNotificationStatus(tenantId, { ...host(req), testNotificationToken: req.testNotificationToken });
      return { notification: item(answer.notification), sendAttempts: sendAttempts(answer.sendAttempts) };
    },
  }),
  sendConsumptionInformation: method({
    request: SendConsumptionInformationRequestSchema,
    response: SendConsumptionInformationResponseSchema,
    route: "consumption",
    async run(calls, tenantId, req) {
      const { $typeName: _t, environment: _e, ...fields } = req;
      await calls.sendConsumptionInformation(tenantId, { ...fields, ...host(req) });
      return {};
    },
  }),
  extendSubscriptionRenewalDate: method({
    request: ExtendSubscriptionRenewalDateRequestSchema,
    response: ExtendSubscriptionRenewalDateResponseSchema,
    route: "extend-renewal-date",
    async run(calls, tenantId, req) {
      const answer = await calls.extendRenewalDate(tenantId, {
        ...host(req),
        originalTransactionId: req.originalTransactionId,
        extendByDays: req.extendByDays,
        extendReasonCode: req.extendReasonCode,
        requestIdentifier: req.requestIdentifier,
      });
      return { ...answer, effectiveDate: ts(answer.effectiveDate) };
    },
  }),
  massExtendSubscriptionRenewalDate: method({
    request: MassExtendSubscriptionRenewalDateRequestSchema,
    response: MassExtendSubscriptionRenewalDateResponseSchema,
    route: "mass-extend-renewal-date",
    async run(calls, tenantId, req) {
      const requestIdentifier = await calls.massExtendRenewalDate(tenantId, {
        ...host(req),
        productId: req.productId,
        extendByDays: req.extendByDays,
        extendReasonCode: req.extendReasonCode,
        requestIdentifier: req.requestIdentifier,
        storefrontCountryCodes: req.storefrontCountryCodes,
      });
      return { requestIdentifier };
    },
  }),
  getMassExtensionStatus: method({
    request: GetMassExtensionStatusRequestSchema,
    response: GetMassExtensionStatusResponseSchema,
    route: "mass-extension-status",
    async run(calls, tenantId, req) {
      const status = await calls.massExtensionStatus(tenantId, { ...host(req), productId: req.productId, requestIdentifier: req.requestIdentifier });
      return { ...status, completeDate: ts(status.completeDate), succeededCount: BigInt(status.succeededCount), failedCount: BigInt(status.failedCount) };
    },
  }),
  setAppAccountToken: method({
    request: SetAppAccountTokenRequestSchema,
    response: SetAppAccountTokenResponseSchema,
    route: "app-account-token",
    async run(calls, tenantId, req) {
      await calls.setAppAccountToken(tenantId, { ...host(req), originalTransactionId: req.originalTransactionId, appAccountToken: req.appAccountToken });
      return {};
    },
  }),
  getAppTransactionInfo: method({
    request: GetAppTransactionInfoRequestSchema,
    response: GetAppTransactionInfoResponseSchema,
    route: "app-transaction",
    async run(calls, tenantId, req) {
      return { appTransaction: item(await calls.appTransactionInfo(tenantId, { ...host(req), transactionId: req.transactionId })) };
    },
  }),
};

export type AppStoreMethodName = keyof typeof APP_STORE_METHODS;
