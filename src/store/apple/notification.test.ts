import { describe, expect, it } from "vitest";
import { AppError } from "../../errors.js";
import { invalidPurchase } from "../purchase.js";
import type { AppleSignedDataResult } from "../verification.js";
import { appleNotification } from "./notification.js";

const SIGNED_AT = new Date("2026-06-07T12:00:00Z");
const verified = (payload: Record<string, unknown>, overrides: Partial<AppleSignedDataResult> = {}): AppleSignedDataResult => ({
  purchase: invalidPurchase("", { valid: true }),
  kind: "notification",
  payload,
  signedAt: SIGNED_AT,
  notificationType: "DID_RENEW",
  notificationSubtype: "",
  notificationUuid: "0b8f5a39-0000-4000-8000-000000000001",
  ...overrides,
});

describe("appleNotification", () => {
  it("takes the ids from the decoded transaction, else from the renewal info", () => {
    const data = { environment: "Sandbox", bundleId: "com.example", signedTransactionInfo: { transactionId: "2", originalTransactionId: "1", productId: "gold" } };
    const n = appleNotification("ten_1", "jws", verified({ notificationType: "DID_RENEW", data }));
    expect(n).toMatchObject({
      tenantId: "ten_1",
      source: "apple",
      externalId: "0b8f5a39-0000-4000-8000-000000000001",
      environment: "Sandbox",
      appId: "com.example",
      transactionId: "2",
      originalTransactionId: "1",
      productId: "gold",
      signedAt: SIGNED_AT,
      raw: "jws",
    });
    expect(n.webhookData).toMatchObject({ bundle_id: "com.example", signed_date: "2026-06-07T12:00:00Z", transaction_info: data.signedTransactionInfo, renewal_info: null });
    const renewalOnly = appleNotification("t", "jws", verified({ data: { signedRenewalInfo: { originalTransactionId: "9", productId: "silver" } } }));
    expect(renewalOnly).toMatchObject({ transactionId: "", originalTransactionId: "9", productId: "silver" });
  });

  it("refuses a payload that did not verify, is no notification, or has no printable uuid", () => {
    const refusal = (result: AppleSignedDataResult) => {
      try {
        appleNotification("t", "jws", result);
      } catch (err) {
        if (err instanceof AppError) return [err.code, err.details.field ?? err.details.reason];
        throw err;
      }
      return undefined;
    };
    expect(refusal(verified({}, { purchase: invalidPurchase("signature_invalid") }))).toEqual(["unauthenticated", "NOTIFICATION_UNVERIFIED"]);
    expect(refusal(verified({}, { kind: "transaction" }))).toEqual(["invalid_argument", "signedPayload"]);
    expect(refusal(verified({}, { notificationUuid: "" }))).toEqual(["invalid_argument", "notificationUUID"]);
  });
});
