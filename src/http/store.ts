import { create, fromJson, toJson, type DescMessage, type JsonObject, type MessageShape } from "@bufbuild/protobuf";
import type { Context, Hono } from "hono";
import {
  VerifyAppleSignedDataRequestSchema,
  VerifyAppleSignedDataResponseSchema,
  VerifyAppleTransactionRequestSchema,
  VerifyAppleTransactionResponseSchema,
  VerifyGooglePurchaseRequestSchema,
  VerifyGooglePurchaseResponseSchema,
} from "../../gen/ts/attesto/v1/store_pb.js";
import { invalidArgument } from "../errors.js";
import { parseJsonObject } from "../json.js";
import { apiEnvironmentOf, appleSignedDataMsg, environmentOf, googleInput, purchaseMsg } from "../contract/store-messages.js";
import { validateMessage } from "../contract/validation.js";
import type { StoreVerification } from "../store/module.js";
import type { AppStoreCalls, GooglePlayCalls, ReceiveResult, StoreNotifications } from "../store/module.js";
import { APP_STORE_METHODS } from "../contract/appstore-messages.js";
import { GOOGLE_PLAY_METHODS } from "../contract/googleplay-messages.js";
import type { Authenticator } from "../tenancy/module.js";

/** What the store routes need: the verification calls, the inbound notification calls and the tenant's key. */
export interface StoreRouteDeps {
  store: Pick<StoreVerification, "verifyAppleTransaction" | "verifyAppleSignedData" | "verifyGooglePurchase">;
  storeNotifications: Pick<StoreNotifications, "receiveApple" | "receiveGoogle">;
  /** The App Store Server API calls (POST /v1/apple/<route>); unset in route specs that need none. */
  appStore?: AppStoreCalls;
  /** The Google Play Developer API calls (POST /v1/google/<route>) and the auto-acknowledging verification; unset in route specs that need none. */
  googlePlay?: GooglePlayCalls;
  authenticator: Pick<Authenticator, "requireTenant">;
}

/** Reads a JSON body as a contract message (protojson: camelCase or proto names, enums by name) and runs its field rules. */
export async function contractBody<D extends DescMessage>(c: Context, schema: D): Promise<MessageShape<D>> {
  const json = parseJsonObject(await c.req.text()) as JsonObject;
  let message: MessageShape<D>;
  try {
    message = fromJson(schema, json);
  } catch (err) {
    throw invalidArgument("body", (err as Error).message);
  }
  validateMessage(schema, message);
  return message;
}

/** The REST forms of StoreVerificationService : the RPC's messages as JSON, Bearer tenant key. */
export function mountStoreRoutes(http: Hono, { store, storeNotifications, appStore, googlePlay, authenticator }: StoreRouteDeps): void {
  const tenant = async (c: Context) => (await authenticator.requireTenant(c.req.header("authorization"))).tenantId;

  // AppStoreService's REST forms: the RPC's request as JSON, its response as JSON.
  if (appStore) {
    for (const m of Object.values(APP_STORE_METHODS) as Array<(typeof APP_STORE_METHODS)[keyof typeof APP_STORE_METHODS]>) {
      http.post(`/v1/apple/${m.route}`, async (c) => {
        const tenantId = await tenant(c);
        const req = await contractBody(c, m.request);
        const init = await (m.run as (calls: AppStoreCalls, t: string, r: unknown) => Promise<Record<string, unknown>>)(appStore, tenantId, req);
        return c.json(toJson(m.response, create(m.response as DescMessage, init) as never) as object);
      });
    }
  }

  // GooglePlayService's REST forms, likewise.
  if (googlePlay) {
    for (const m of Object.values(GOOGLE_PLAY_METHODS) as Array<(typeof GOOGLE_PLAY_METHODS)[keyof typeof GOOGLE_PLAY_METHODS]>) {
      http.post(`/v1/google/${m.route}`, async (c) => {
        const tenantId = await tenant(c);
        const req = await contractBody(c, m.request);
        const init = await (m.run as (calls: GooglePlayCalls, t: string, r: unknown) => Promise<Record<string, unknown>>)(googlePlay, tenantId, req);
        return c.json(toJson(m.response, create(m.response as DescMessage, init) as never) as object);
      });
    }
  }

  http.post("/v1/apple/verify", async (c) => {
    const tenantId = await tenant(c);
    const req = await contractBody(c, VerifyAppleTransactionRequestSchema);
    const result = await store.verifyAppleTransaction(tenantId, { transactionId: req.transactionId, environment: apiEnvironmentOf(req.environment) });
    const message = create(VerifyAppleTransactionResponseSchema, { purchase: purchaseMsg(result.purchase), raw: result.raw as JsonObject | undefined });
    return c.json(toJson(VerifyAppleTransactionResponseSchema, message) as object);
  });

  // Inbound store notifications: verified before anything is stored; a retry answers 200 and writes nothing.
  const received = (c: Context, r: ReceiveResult) => c.json({ id: r.notification.id, duplicate: r.duplicate, stream_id: r.notification.streamId, seq_no: r.notification.seqNo });
  // /v1/store-notifications/… is the documented form; /v1/webhooks/… is what earlier versions told tenants
  // to give Apple and Google, kept served (it shares its template with /v1/webhooks/{id}/…, so the
  // OpenAPI document lists only the first).
  for (const prefix of ["/v1/store-notifications", "/v1/webhooks"]) {
    http.post(`${prefix}/apple/:tenantId`, async (c) => received(c, await storeNotifications.receiveApple(c.req.param("tenantId"), await c.req.text())));
    http.post(`${prefix}/google/:tenantId`, async (c) => received(c, await storeNotifications.receiveGoogle(c.req.param("tenantId"), c.req.header("authorization"), await c.req.text())));
  }

  http.post("/v1/google/verify", async (c) => {
    const tenantId = await tenant(c);
    const req = await contractBody(c, VerifyGooglePurchaseRequestSchema);
    const result = googlePlay ? await googlePlay.verifyPurchase(tenantId, googleInput(req)) : { ...(await store.verifyGooglePurchase(tenantId, googleInput(req))), autoAcknowledged: false };
    const message = create(VerifyGooglePurchaseResponseSchema, { purchase: purchaseMsg(result.purchase), raw: result.raw as JsonObject | undefined, autoAcknowledged: result.autoAcknowledged });
    return c.json(toJson(VerifyGooglePurchaseResponseSchema, message) as object);
  });

  http.post("/v1/apple/verify-signed", async (c) => {
    const tenantId = await tenant(c);
    const req = await contractBody(c, VerifyAppleSignedDataRequestSchema);
    const result = await store.verifyAppleSignedData(tenantId, { signedData: req.signedData, environment: environmentOf(req.environment) });
    return c.json(toJson(VerifyAppleSignedDataResponseSchema, create(VerifyAppleSignedDataResponseSchema, appleSignedDataMsg(result))) as object);
  });
}
