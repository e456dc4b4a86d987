import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppleEnvironment, StoreEnvironment } from "../gen/ts/attesto/v1/common_pb.js";
import { AppleSignedDataKind, PurchaseKind, PurchaseStatus, StoreVerificationService } from "../gen/ts/attesto/v1/store_pb.js";
import { loadConfig } from "../src/config.js";
import { createLogger } from "../src/logger.js";
import { projectRoot } from "../src/paths.js";
import { startAttesto, type Attesto } from "../src/server/app.js";
import { makeAppleChain, transactionPayload, writeRootPem, type TestAppleChain } from "./support/apple-chain.js";
import { adminClient, clientFor, newTenant, tempDir, testEnv } from "./support/server.js";

const p8 = () => generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const fixture = readFileSync(path.join(import.meta.dirname, "fixtures/apple/sandbox-transaction.jws"), "utf8").trim();

let chain: TestAppleChain;
let env: Record<string, string>;
let a: Attesto;
let b: Attesto;

/** Two instances on one database and Redis, as in production: the second shows the cross-instance eviction. */
beforeAll(async () => {
  chain = await makeAppleChain();
  const rootFile = await writeRootPem(await tempDir(), chain.root);
  env = await testEnv({ ATTESTO_DB_POOL: "4", ATTESTO_APPLE_ROOT_CERTS: `${rootFile},${path.join(projectRoot(), "certs/apple/AppleRootCA-G3.pem")}` });
  const logger = createLogger(process.env.TEST_LOG_LEVEL ?? "silent");
  a = await startAttesto(loadConfig(env, { port: 0 }), logger);
  b = await startAttesto(loadConfig(env, { port: 0 }), logger);
});
afterAll(async () => {
  await a?.stop();
  await b?.stop();
});

async function putApple(tenantId: string, bundleId: string, environment = AppleEnvironment.SANDBOX, acceptedEnvironments: AppleEnvironment[] = []) {
  await adminClient(a.url).putAppleCredentials({ tenantId, bundleId, keyId: "KEY1234567", issuerId: "issuer-1", privateKeyPem: p8(), environment, acceptedEnvironments });
}

describe("VerifyAppleSignedData", () => {
  it("verifies a StoreKit 2 transaction without credentials and returns envelope and payload", async () => {
    const tenant = await newTenant(a.url);
    const payload = transactionPayload({ appAccountToken: "6f1c2a4e-0000-4000-8000-000000000001" });
    const res = await clientFor(StoreVerificationService, a.url, tenant.key).verifyAppleSignedData({ signedData: await chain.sign(payload) });
    expect(res.kind).toBe(AppleSignedDataKind.TRANSACTION);
    expect(res.purchase).toMatchObject({
      valid: true,
      errorCode: "",
      status: PurchaseStatus.ACTIVE,
      kind: PurchaseKind.PRODUCT,
      transactionId: "2000000847061981",
      appId: "com.example.app",
      environment: StoreEnvironment.SANDBOX,
      appAccountToken: "6f1c2a4e-0000-4000-8000-000000000001",
      quantity: 1,
    });
    expect(res.payload).toEqual(payload);
    expect(Number(res.signedAt!.seconds) * 1000).toBe(Math.floor((payload.signedDate as number) / 1000) * 1000);
  });

  it("verifies genuine Apple data offline at its signedDate", async () => {
    const tenant = await newTenant(a.url);
    const res = await clientFor(StoreVerificationService, a.url, tenant.key).verifyAppleSignedData({ signedData: fixture });
    expect(res.purchase).toMatchObject({ valid: true, transactionId: "2000000847061981", appId: "com.goodheartapp", environment: StoreEnvironment.SANDBOX });
  });

  it("checks bundle id and environment against the tenant's Apple credentials", async () => {
    const tenant = await newTenant(a.url);
    const client = clientFor(StoreVerificationService, a.url, tenant.key);
    const jws = await chain.sign(transactionPayload());
    await putApple(tenant.tenantId, "com.other.app");
    expect((await client.verifyAppleSignedData({ signedData: jws })).purchase).toMatchObject({ valid: false, errorCode: "app_mismatch" });
    // Credentials for the Production host accept Sandbox data too unless the tenant narrows them (INVALID_ENVIRONMENT is no answer to TestFlight).
    await putApple(tenant.tenantId, "com.example.app", AppleEnvironment.PRODUCTION);
    expect((await client.verifyAppleSignedData({ signedData: jws })).purchase).toMatchObject({ valid: true, environment: StoreEnvironment.SANDBOX });
    await putApple(tenant.tenantId, "com.example.app", AppleEnvironment.PRODUCTION, [AppleEnvironment.PRODUCTION]);
    expect((await client.verifyAppleSignedData({ signedData: jws })).purchase).toMatchObject({ valid: false, errorCode: "environment_mismatch" });
    // The caller may name the environment it expects.
    expect((await client.verifyAppleSignedData({ signedData: jws, environment: AppleEnvironment.SANDBOX })).purchase?.valid).toBe(true);
  });

  it("answers Xcode and local StoreKit testing data with the reason that it is not Apple-signed", async () => {
    const tenant = await newTenant(a.url);
    const client = clientFor(StoreVerificationService, a.url, tenant.key);
    // Xcode signs with one local, self-signed certificate.
    const xcode = await makeAppleChain();
    for (const environment of ["Xcode", "LocalTesting"]) {
      const signedData = await xcode.sign(transactionPayload({ environment }), { x5c: xcode.x5c.slice(0, 1) });
      const res = await client.verifyAppleSignedData({ signedData });
      expect(res.purchase, environment).toMatchObject({ valid: false, errorCode: "not_apple_signed" });
    }
    // A chain that is not Apple's and says nothing of Xcode stays a broken chain.
    const res = await client.verifyAppleSignedData({ signedData: await xcode.sign(transactionPayload(), { x5c: xcode.x5c.slice(0, 1) }) });
    expect(res.purchase).toMatchObject({ valid: false, errorCode: "chain_invalid" });
  });

  it("verifies a notification and its nested transaction and renewal info", async () => {
    const tenant = await newTenant(a.url);
    const tx = transactionPayload({ type: "Auto-Renewable Subscription", expiresDate: Date.now() + 86_400_000 });
    const renewal = { originalTransactionId: tx.originalTransactionId, autoRenewProductId: tx.productId, productId: tx.productId, autoRenewStatus: 1, environment: "Sandbox", signedDate: Date.now() };
    const notification = {
      notificationType: "DID_RENEW",
      notificationUUID: "0160d404-a20d-49cd-a7b3-11b66e586427",
      data: { bundleId: "com.example.app", environment: "Sandbox", signedTransactionInfo: await chain.sign(tx), signedRenewalInfo: await chain.sign(renewal) },
      version: "2.0",
      signedDate: Date.now(),
    };
    const client = clientFor(StoreVerificationService, a.url, tenant.key);
    const res = await client.verifyAppleSignedData({ signedData: await chain.sign(notification) });
    expect(res.kind).toBe(AppleSignedDataKind.NOTIFICATION);
    expect(res.notificationType).toBe("DID_RENEW");
    expect(res.notificationUuid).toBe(notification.notificationUUID);
    expect(res.purchase).toMatchObject({ valid: true, kind: PurchaseKind.SUBSCRIPTION, status: PurchaseStatus.ACTIVE, transactionId: tx.transactionId });
    expect((res.payload!.data as Record<string, unknown>).signedTransactionInfo).toEqual(tx);
    expect((res.payload!.data as Record<string, unknown>).signedRenewalInfo).toEqual(renewal);

    // A nested JWS that does not verify makes the whole notification invalid.
    const other = await makeAppleChain();
    const forged = { ...notification, data: { ...notification.data, signedTransactionInfo: await other.sign(tx) } };
    const bad = await client.verifyAppleSignedData({ signedData: await chain.sign(forged) });
    expect(bad.purchase).toMatchObject({ valid: false, errorCode: "chain_invalid" });
    expect(bad.payload).toBeUndefined();
  });

  it("answers INVALID_ARGUMENT naming signed_data for a string that is not a JWS", async () => {
    const tenant = await newTenant(a.url);
    const err = await clientFor(StoreVerificationService, a.url, tenant.key)
      .verifyAppleSignedData({ signedData: "not-a-jws" })
      .catch((e: unknown) => e);
    expect(String(err)).toContain("signed_data");
  });
});

describe("POST /v1/apple/verify-signed", () => {
  const post = (body: unknown, key?: string) =>
    fetch(`${a.url}/v1/apple/verify-signed`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });

  it("answers the RPC's response as JSON", async () => {
    const tenant = await newTenant(a.url);
    const res = await post({ signedData: await chain.sign(transactionPayload()), environment: "APPLE_ENVIRONMENT_SANDBOX" }, tenant.key);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, any>;
    expect(body.kind).toBe("APPLE_SIGNED_DATA_KIND_TRANSACTION");
    expect(body.purchase).toMatchObject({ valid: true, status: "PURCHASE_STATUS_ACTIVE", environment: "STORE_ENVIRONMENT_SANDBOX", transactionId: "2000000847061981" });
    expect(body.payload.productId).toBe("com.example.app.pro");
  });

  it("answers an invalid signature as valid = false with the reason", async () => {
    const tenant = await newTenant(a.url);
    const res = await post({ signedData: await chain.sign(transactionPayload(), { alg: "HS256" }) }, tenant.key);
    expect(res.status).toBe(200);
    expect(((await res.json()) as Record<string, any>).purchase).toMatchObject({ errorCode: "unsupported_algorithm" });
  });

  it("answers 401 without a key and 400 naming the field for hostile bodies", async () => {
    expect((await post({ signedData: "a.b.c" })).status).toBe(401);
    const tenant = await newTenant(a.url);
    for (const [body, field] of [
      ["{not json", "body"],
      [[1, 2], "body"],
      [{ signedData: 42 }, "body"],
      [{ signed_data: "x", surprise: true }, "body"],
      [{}, "signed_data"],
      [{ signedData: "only.two" }, "signed_data"],
      [{ signedData: "x".repeat(70_000) }, "signed_data"],
    ] as const) {
      const res = await post(body, tenant.key);
      expect(res.status, JSON.stringify(body).slice(0, 60)).toBe(400);
      expect(((await res.json()) as { error: { field: string } }).error.field).toBe(field);
    }
  });
});

describe("store credential cache", () => {
  it("serves N concurrent verifies of one tenant with one DB read", async () => {
    const tenant = await newTenant(a.url);
    await putApple(tenant.tenantId, "com.example.app");
    const client = clientFor(StoreVerificationService, a.url, tenant.key);
    const jws = await chain.sign(transactionPayload());
    const before = a.store.credentials.loads;
    const answers = await Promise.all(Array.from({ length: 25 }, () => client.verifyAppleSignedData({ signedData: jws })));
    expect(answers.every((r) => r.purchase?.valid)).toBe(true);
    expect(a.store.credentials.loads - before).toBe(1);
  });

  it("is evicted on every instance when credentials change on one", async () => {
    const tenant = await newTenant(a.url);
    await putApple(tenant.tenantId, "com.example.app");
    const onB = clientFor(StoreVerificationService, b.url, tenant.key);
    const jws = await chain.sign(transactionPayload());
    expect((await onB.verifyAppleSignedData({ signedData: jws })).purchase?.valid).toBe(true);
    // Changed through instance a: b must stop using its cached copy (its TTL is a minute).
    await putApple(tenant.tenantId, "com.other.app");
    const deadline = Date.now() + 5_000;
    let answer = await onB.verifyAppleSignedData({ signedData: jws });
    while (answer.purchase!.valid && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      answer = await onB.verifyAppleSignedData({ signedData: jws });
    }
    expect(answer.purchase).toMatchObject({ valid: false, errorCode: "app_mismatch" });
  });
});
