import { createHmac, generateKeyPairSync } from "node:crypto";
import { sql } from "drizzle-orm";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppleEnvironment, StoreEnvironment } from "../gen/ts/attesto/v1/common_pb.js";
import { PurchaseKind, PurchaseStatus, StoreVerificationService } from "../gen/ts/attesto/v1/store_pb.js";
import { loadConfig } from "../src/config.js";
import { createLogger } from "../src/logger.js";
import { startAttesto, type Attesto } from "../src/server/app.js";
import { makeAppleChain, transactionPayload, writeRootPem, type TestAppleChain } from "./support/apple-chain.js";
import { FakeAppStore } from "./support/fake-app-store.js";
import { adminClient, clientFor, newTenant, tempDir, testEnv } from "./support/server.js";

const TIMEOUT_MS = 600;
let chain: TestAppleChain;
let fake: FakeAppStore;
let app: Attesto;

beforeAll(async () => {
  chain = await makeAppleChain();
  fake = await new FakeAppStore(chain).start();
  const env = await testEnv({
    ATTESTO_DB_POOL: "4",
    ATTESTO_APPLE_ROOT_CERTS: await writeRootPem(await tempDir(), chain.root),
    ATTESTO_APPLE_API_PRODUCTION_URL: fake.productionUrl,
    ATTESTO_APPLE_API_SANDBOX_URL: fake.sandboxUrl,
    ATTESTO_STORE_UPSTREAM_TIMEOUT_MS: String(TIMEOUT_MS),
    ENABLE_VALIDATION_AUDIT_LOG: "true",
    ATTESTO_VALIDATION_AUDIT_FLUSH_MS: "50",
  });
  app = await startAttesto(loadConfig(env, { port: 0 }), createLogger(process.env.TEST_LOG_LEVEL ?? "silent"));
});
afterAll(async () => {
  await app?.stop();
  await fake?.close();
});

let keySeq = 0;
/** A tenant with Apple credentials the fake knows (unless registered is false). */
async function appleTenant(opts: { bundleId?: string; registered?: boolean } = {}) {
  const tenant = await newTenant(app.url);
  const bundleId = opts.bundleId ?? "com.example.app";
  const pem = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const keyId = `KEY${String(++keySeq).padStart(7, "0")}`;
  await adminClient(app.url).putAppleCredentials({
    tenantId: tenant.tenantId,
    bundleId,
    keyId,
    issuerId: "57246542-96fe-1a63-e053-0824d011072a",
    privateKeyPem: pem,
    environment: AppleEnvironment.PRODUCTION,
  });
  if (opts.registered !== false) fake.registerPem(keyId, "57246542-96fe-1a63-e053-0824d011072a", bundleId, pem);
  return { ...tenant, client: clientFor(StoreVerificationService, app.url, tenant.key) };
}

const connectError = (err: unknown) => {
  expect(err).toBeInstanceOf(ConnectError);
  return err as ConnectError;
};

describe("VerifyAppleTransaction", () => {
  it("looks a production transaction up with a valid Apple JWT and verifies Apple's answer", async () => {
    const { client } = await appleTenant();
    fake.transactions.production.set(
      "1000000000000001",
      transactionPayload({ transactionId: "1000000000000001", environment: "Production", type: "Auto-Renewable Subscription", expiresDate: Date.now() + 3600_000 }),
    );
    const rejectedBefore = fake.rejectedTokens;
    const res = await client.verifyAppleTransaction({ transactionId: "1000000000000001" });
    expect(res.purchase).toMatchObject({ valid: true, transactionId: "1000000000000001", kind: PurchaseKind.SUBSCRIPTION, status: PurchaseStatus.ACTIVE, environment: StoreEnvironment.PRODUCTION });
    expect(res.raw?.transactionId).toBe("1000000000000001");
    expect(fake.rejectedTokens).toBe(rejectedBefore);
  });

  it("asks Sandbox when Production does not know the id (environment unset), and only the named host otherwise", async () => {
    const { client } = await appleTenant();
    fake.transactions.sandbox.set("1000000000000002", transactionPayload({ transactionId: "1000000000000002", environment: "Sandbox" }));
    const before = fake.requests.length;
    const res = await client.verifyAppleTransaction({ transactionId: "1000000000000002" });
    expect(res.purchase).toMatchObject({ valid: true, environment: StoreEnvironment.SANDBOX });
    expect(fake.requests.slice(before).map((r) => r.environment)).toEqual(["production", "sandbox"]);

    const onlyProduction = fake.requests.length;
    const miss = await client.verifyAppleTransaction({ transactionId: "1000000000000002", environment: AppleEnvironment.PRODUCTION });
    expect(miss.purchase).toMatchObject({ valid: false, errorCode: "transaction_not_found" });
    expect(fake.requests.slice(onlyProduction).map((r) => r.environment)).toEqual(["production"]);
  });

  it("answers an unknown id as valid = false, transaction_not_found", async () => {
    const { client } = await appleTenant();
    const res = await client.verifyAppleTransaction({ transactionId: "1999999999999999" });
    expect(res.purchase).toMatchObject({ valid: false, errorCode: "transaction_not_found" });
    expect(res.raw).toBeUndefined();
  });

  it("answers another app's transaction as app_mismatch", async () => {
    const { client } = await appleTenant({ bundleId: "com.example.other" });
    fake.transactions.production.set("1000000000000003", transactionPayload({ transactionId: "1000000000000003", environment: "Production" }));
    // The fake signs whatever bundle the transaction has; the verifier compares it with the credentials'.
    const res = await client.verifyAppleTransaction({ transactionId: "1000000000000003", environment: AppleEnvironment.PRODUCTION });
    expect(res.purchase).toMatchObject({ valid: false, errorCode: "app_mismatch" });
  });

  it("maps Apple's 401 to FAILED_PRECONDITION naming the credentials", async () => {
    const { client } = await appleTenant({ registered: false });
    const err = connectError(await client.verifyAppleTransaction({ transactionId: "1000000000000001" }).catch((e: unknown) => e));
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.rawMessage).toContain("credentials");
  });

  it("answers FAILED_PRECONDITION when the tenant has no Apple credentials", async () => {
    const tenant = await newTenant(app.url);
    const err = connectError(
      await clientFor(StoreVerificationService, app.url, tenant.key)
        .verifyAppleTransaction({ transactionId: "1" })
        .catch((e: unknown) => e),
    );
    expect(err.code).toBe(Code.FailedPrecondition);
  });

  it("maps 429 to RESOURCE_EXHAUSTED with retry info, 5xx and timeouts to UNAVAILABLE", async () => {
    const { client, key } = await appleTenant();
    try {
      fake.forced = { status: 429, body: { errorCode: 4290000, errorMessage: "Rate limit exceeded." }, headers: { "retry-after": "7" } };
      expect(connectError(await client.verifyAppleTransaction({ transactionId: "1" }).catch((e: unknown) => e)).code).toBe(Code.ResourceExhausted);
      const rest = await fetch(`${app.url}/v1/apple/verify`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ transactionId: "1" }),
      });
      expect(rest.status).toBe(429);
      expect(rest.headers.get("retry-after")).toBe("7");

      fake.forced = { status: 500, body: { errorCode: 5000000, errorMessage: "An unknown error occurred." } };
      expect(connectError(await client.verifyAppleTransaction({ transactionId: "1" }).catch((e: unknown) => e)).code).toBe(Code.Unavailable);

      fake.forced = undefined;
      fake.delayMs = TIMEOUT_MS * 3;
      const started = Date.now();
      expect(connectError(await client.verifyAppleTransaction({ transactionId: "1" }).catch((e: unknown) => e)).code).toBe(Code.Unavailable);
      expect(Date.now() - started).toBeLessThan(TIMEOUT_MS * 3);
    } finally {
      fake.forced = undefined;
      fake.delayMs = 0;
    }
  });

  it("answers INVALID_ARGUMENT for an id that is not digits", async () => {
    const { client } = await appleTenant();
    const err = connectError(await client.verifyAppleTransaction({ transactionId: "../../x" }).catch((e: unknown) => e));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toContain("transaction_id");
  });
});

describe("POST /v1/apple/verify", () => {
  it("answers the normalized envelope and the raw payload as JSON", async () => {
    const { key } = await appleTenant();
    fake.transactions.production.set("1000000000000004", transactionPayload({ transactionId: "1000000000000004", environment: "Production" }));
    const res = await fetch(`${app.url}/v1/apple/verify`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ transactionId: "1000000000000004" }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { purchase: Record<string, unknown>; raw: Record<string, unknown> };
    expect(body.purchase).toMatchObject({ valid: true, transactionId: "1000000000000004", status: "PURCHASE_STATUS_ACTIVE", environment: "STORE_ENVIRONMENT_PRODUCTION" });
    expect(body.raw.productId).toBe("com.example.app.pro");
  });

  it("answers 400 naming the field for a bad id", async () => {
    const { key } = await appleTenant();
    const res = await fetch(`${app.url}/v1/apple/verify`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ transactionId: "12a" }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { field: string } }).error.field).toBe("transaction_id");
  });
});

describe("the validation audit of lookups", () => {
  it("writes one row per lookup after the answer, keyed by a tenant-salted HMAC of the transaction id, never the id itself", async () => {
    const { tenantId, client } = await appleTenant();
    fake.transactions.production.set("1000000000000777", transactionPayload({ transactionId: "1000000000000777", environment: "Production" }));
    await client.verifyAppleTransaction({ transactionId: "1000000000000777" });
    const res = await client.verifyAppleTransaction({ transactionId: "9999999999999777" });
    expect(res.purchase?.valid).toBe(false);
    const rows = async () =>
      (await app.database.db.execute<{ identifier_hash: string; valid: boolean; error_code: string | null; source: string }>(
        sql`SELECT identifier_hash, valid, error_code, source FROM validation_audit WHERE tenant_id = ${tenantId} ORDER BY id`,
      )) as unknown as Array<{ identifier_hash: string; valid: boolean; error_code: string | null; source: string }>;
    await expect.poll(async () => (await rows()).length, { timeout: 10_000 }).toBe(2);
    const [found, missing] = await rows();
    const hash = (id: string) => createHmac("sha256", app.keyring.hmacKey("validation_audit.identifier")).update(`${tenantId}:apple:${id}`).digest("hex");
    expect(found).toMatchObject({ source: "apple", valid: true, identifier_hash: hash("1000000000000777") });
    expect(missing).toMatchObject({ source: "apple", valid: false, identifier_hash: hash("9999999999999777") });
    expect(JSON.stringify(await rows())).not.toContain("1000000000000777");
  });
});
