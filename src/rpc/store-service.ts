import type { JsonObject } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { StoreVerificationService } from "../../gen/ts/attesto/v1/store_pb.js";
import { apiEnvironmentOf, appleSignedDataMsg, environmentOf, googleInput, purchaseMsg } from "../contract/store-messages.js";
import type { GooglePlayCalls, StoreVerification } from "../store/module.js";
import { tenantOf } from "./context.js";

export interface StoreServiceDeps {
  store: StoreVerification;
  /** VerifyGooglePurchase through the Google Play calls: the tenant's auto-acknowledge option. */
  googlePlay: GooglePlayCalls;
}

/** StoreVerificationService: thin; the store module does the work. */
export function storeVerificationService({ store, googlePlay }: StoreServiceDeps): ServiceImpl<typeof StoreVerificationService> {
  return {
    async verifyAppleTransaction(req, ctx) {
      const result = await store.verifyAppleTransaction(tenantOf(ctx).tenantId, { transactionId: req.transactionId, environment: apiEnvironmentOf(req.environment) });
      return { purchase: purchaseMsg(result.purchase), raw: result.raw as JsonObject | undefined };
    },
    async verifyGooglePurchase(req, ctx) {
      const result = await googlePlay.verifyPurchase(tenantOf(ctx).tenantId, googleInput(req));
      return { purchase: purchaseMsg(result.purchase), raw: result.raw as JsonObject | undefined, autoAcknowledged: result.autoAcknowledged };
    },
    async verifyAppleSignedData(req, ctx) {
      const result = await store.verifyAppleSignedData(tenantOf(ctx).tenantId, { signedData: req.signedData, environment: environmentOf(req.environment) });
      return appleSignedDataMsg(result);
    },
  };
}
