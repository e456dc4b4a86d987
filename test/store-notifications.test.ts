import { generateKeyPairSync } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppleEnvironment, Store } from "../gen/ts/attesto/v1/common_pb.js";
import { ProofstreamService } from "../gen/ts/attesto/v1/proofstream_pb.js";
import { StoreNotificationService } from "../gen/ts/attesto/v1/store_pb.js";
import { WebhookService } from "../gen/ts/attesto/v1/webhook_pb.js";
import { loadConfig } from "../src/config.js";
import { createLogger } from "../src/logger.js";
import { startAttesto, type Attesto } from "../src/server/app.js";
import { makeAppleChain, makeRoot, transactionPayload, writeRootPem, type TestAppleChain } from "./support/apple-chain.js";
import { FakeGoogle, pubsubPush } from "./support/fake-google.js";
import { adminClient, clientFor, newTenant, tempDir, testEnv } from "./support/server.js";
import { Receiver, waitFor } from "./support/webhooks.js";

const AUDIENCE = "https://attesto.test/v1/webhooks/google";
const PUSH_EMAIL = "rtdn-push@attesto-test.iam.gserviceaccount.com";

let chain: TestAppleChain;
let google: FakeGoogle;
let app: Attesto;
let receiver: Receiver;

beforeAll(async () => {
  chain = await makeAppleChain();
  google = await new FakeGoogle().start();
  receiver = await Receiver.start();
  const env = await testEnv({
    ATTESTO_DB_POOL: "4",
    ATTESTO_APPLE_ROOT_CERTS: await writeRootPem(await tempDir(), chain.root),
    ATTESTO_GOOGLE_OIDC_JWKS_URL: google.jwksUrl,
  });
  app = await startAttesto(loadConfig(env, { port: 0, webhookAllowLoopback: true }), createLogger(process.env.TEST_LOG_LEVEL ?? "silent"));
});
afterAll(async () => {
  await app?.stop();
  await google?.close();
  await receiver?.close();
});

const post = (path: string, body: string, headers: Record<string, string> = {}) => fetch(`${app.url}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });

async function tenantWithStores(apple: { environment?: AppleEnvironment; acceptedEnvironments?: AppleEnvironment[] } = {}) {
  const tenant = await newTenant(app.url);
  const admin = adminClient(app.url);
  const p8 = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  await admin.putAppleCredentials({
    tenantId: tenant.tenantId,
    bundleId: "com.example.app",
    keyId: "KEY0000001",
    issuerId: "issuer",
    privateKeyPem: p8,
    environment: apple.environment ?? AppleEnvironment.SANDBOX,
    acceptedEnvironments: apple.acceptedEnvironments ?? [],
  });
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  await admin.putGoogleCredentials({
    tenantId: tenant.tenantId,
    packageName: "com.example.app",
    serviceAccountJson: JSON.stringify({ type: "service_account", client_email: "play@attesto-test.iam.gserviceaccount.com", private_key: rsa }),
    pubsubAudience: AUDIENCE,
    pubsubPushEmail: PUSH_EMAIL,
  });
  const { subscription } = await clientFor(WebhookService, app.url, tenant.key).createSubscription({
    name: "store",
    url: receiver.url(`/${tenant.tenantId}`),
    eventTypes: ["apple.notification", "google.notification"],
  });
  return { ...tenant, subscriptionId: subscription!.id, notifications: clientFor(StoreNotificationService, app.url, tenant.key) };
}

async function appleNotification(c: TestAppleChain, overrides: Record<string, unknown> = {}, data: Record<string, unknown> = {}) {
  const tx = transactionPayload({ type: "Auto-Renewable Subscription", expiresDate: Date.now() + 86_400_000 });
  const renewal = { originalTransactionId: tx.originalTransactionId, autoRenewProductId: tx.productId, productId: tx.productId, autoRenewStatus: 1, environment: "Sandbox", signedDate: Date.now() };
  return c.sign({
    notificationType: "DID_RENEW",
    notificationUUID: crypto.randomUUID(),
    data: { bundleId: "com.example.app", environment: "Sandbox", signedTransactionInfo: await c.sign(tx), signedRenewalInfo: await c.sign(renewal), ...data },
    version: "2.0",
    signedDate: Date.now(),
    ...overrides,
  });
}

const failure = async (p: Promise<unknown>) =>
  ConnectError.from(
    await p.then(
      () => new Error("expected a failure"),
      (e: unknown) => e,
    ),
  );

const count = async (t: Awaited<ReturnType<typeof tenantWithStores>>) => (await t.notifications.listNotifications({})).notifications.length;

describe("POST /v1/webhooks/apple/:tenantId", () => {
  it("stores a verified notification once, commits its metadata to the store Proofstream and relays it", async () => {
    const t = await tenantWithStores();
    const signedPayload = await appleNotification(chain);
    const res = await post(`/v1/webhooks/apple/${t.tenantId}`, JSON.stringify({ signedPayload }));
    expect(res.status).toBe(200);
    const first = (await res.json()) as { id: string; duplicate: boolean; stream_id: string; seq_no: number };
    expect(first.duplicate).toBe(false);

    // Apple's retry: 200, nothing new.
    const retry = await post(`/v1/webhooks/apple/${t.tenantId}`, JSON.stringify({ signedPayload }));
    expect(retry.status).toBe(200);
    expect(((await retry.json()) as { id: string; duplicate: boolean }).duplicate).toBe(true);
    expect(await count(t)).toBe(1);

    const { notification } = await t.notifications.getNotification({ notificationId: first.id });
    expect(notification).toMatchObject({
      source: Store.APPLE,
      notificationType: "DID_RENEW",
      environment: "Sandbox",
      appId: "com.example.app",
      transactionId: "2000000847061981",
      streamId: first.stream_id,
    });
    expect(((notification!.payload!.data as Record<string, unknown>).signedTransactionInfo as Record<string, unknown>).productId).toBe("com.example.app.pro");

    // The leaf commits to metadata only: no JWS in it.
    const { event } = await clientFor(ProofstreamService, app.url, t.key).getEvent({ streamId: first.stream_id, event: { case: "seqNo", value: BigInt(first.seq_no) } });
    expect(event!.eventType).toBe("apple.notification");
    expect(event!.payload).toMatchObject({ source: "apple", notification_type: "DID_RENEW", transaction_id: "2000000847061981", environment: "Sandbox" });
    expect(JSON.stringify(event!.payload)).not.toContain("eyJ");

    const delivered = await waitFor(() => receiver.received.find((r) => r.url === `/${t.tenantId}`), "the relay");
    const body = JSON.parse(delivered.body.toString()) as { event: string; data: Record<string, any> };
    expect(body.event).toBe("apple.notification");
    expect(body.data).toMatchObject({ notification_type: "DID_RENEW", bundle_id: "com.example.app", stream_id: first.stream_id, seq_no: first.seq_no });
    expect(body.data.transaction_info.transactionId).toBe("2000000847061981");
    const { deliveries } = await clientFor(WebhookService, app.url, t.key).listDeliveries({});
    expect(deliveries.filter((d) => d.eventType === "apple.notification")).toHaveLength(1);
  });

  it("takes Sandbox and Production notifications on one route with one set of credentials (the default: both), stores and relays both", async () => {
    const t = await tenantWithStores({ environment: AppleEnvironment.PRODUCTION });
    const environments = ["Sandbox", "Production"];
    for (const environment of environments) {
      const tx = transactionPayload({ environment, transactionId: environment === "Sandbox" ? "3000000000000001" : "3000000000000002" });
      const signedPayload = await chain.sign({
        notificationType: "ONE_TIME_CHARGE",
        notificationUUID: crypto.randomUUID(),
        data: { bundleId: "com.example.app", environment, signedTransactionInfo: await chain.sign(tx) },
        version: "2.0",
        signedDate: Date.now(),
      });
      const res = await post(`/v1/webhooks/apple/${t.tenantId}`, JSON.stringify({ signedPayload }));
      expect(res.status, environment).toBe(200);
    }
    const { notifications } = await t.notifications.listNotifications({});
    expect(notifications.map((n) => n.environment).sort()).toEqual(["Production", "Sandbox"]);
    await waitFor(() => (receiver.received.filter((r) => r.url === `/${t.tenantId}`).length === 2 ? true : undefined), "both relays");
    const relayed = receiver.received.filter((r) => r.url === `/${t.tenantId}`).map((r) => (JSON.parse(r.body.toString()) as { data: { environment: string } }).data.environment);
    expect(relayed.sort()).toEqual(["Production", "Sandbox"]);
  });

  it("refuses an environment the tenant does not accept, with the reason", async () => {
    const t = await tenantWithStores({ environment: AppleEnvironment.PRODUCTION, acceptedEnvironments: [AppleEnvironment.PRODUCTION] });
    const signedPayload = await appleNotification(chain);
    const res = await post(`/v1/webhooks/apple/${t.tenantId}`, JSON.stringify({ signedPayload }));
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain("environment_mismatch");
    expect(await count(t)).toBe(0);
    const stored = await adminClient(app.url).getStoreCredentials({ tenantId: t.tenantId });
    expect(stored.apple?.acceptedEnvironments).toEqual([AppleEnvironment.PRODUCTION]);
    const xcode = await failure(
      adminClient(app.url).putAppleCredentials({
        tenantId: t.tenantId,
        bundleId: "com.example.app",
        keyId: "KEY0000001",
        issuerId: "issuer",
        privateKeyPem: generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
        environment: AppleEnvironment.PRODUCTION,
        acceptedEnvironments: [AppleEnvironment.XCODE],
      }),
    );
    expect(xcode.code).toBe(Code.InvalidArgument);
    expect(xcode.rawMessage).toContain("accepted_environments[0]");
  });

  it("answers 401 and writes nothing for every forgery", async () => {
    const t = await tenantWithStores();
    const foreign = await makeAppleChain();
    const noLeafOid = await makeAppleChain({ root: chain.root, leafOid: false });
    const noIntermediateOid = await makeAppleChain({ root: chain.root, intermediateOid: false });
    const impostor = await makeAppleChain({ root: await makeRoot("Test Apple Root CA - G3") });
    const otherKey = await makeAppleChain({ root: chain.root });
    const expired = await makeAppleChain({ root: chain.root, leafNotBefore: new Date(Date.now() - 400 * 86_400_000), leafNotAfter: new Date(Date.now() - 100 * 86_400_000) });
    const genuine = await appleNotification(chain);
    const [h, p, s] = genuine.split(".") as [string, string, string];
    const tampered = Buffer.from(p, "base64url");
    tampered[20] = tampered[20]! ^ 1;
    const forgeries = {
      "unpinned root": await appleNotification(foreign),
      "leaf OID missing": await appleNotification(noLeafOid),
      "intermediate OID missing": await appleNotification(noIntermediateOid),
      "root impostor": await appleNotification(impostor),
      "two-certificate chain": await chain.sign(
        { notificationType: "TEST", notificationUUID: crypto.randomUUID(), data: { bundleId: "com.example.app", environment: "Sandbox" }, signedDate: Date.now() },
        { x5c: chain.x5c.slice(0, 2) },
      ),
      "signature by another key": await otherKey.sign(
        { notificationType: "TEST", notificationUUID: crypto.randomUUID(), data: { bundleId: "com.example.app", environment: "Sandbox" }, signedDate: Date.now() },
        { x5c: chain.x5c },
      ),
      "tampered payload": `${h}.${tampered.toString("base64url")}.${s}`,
      "leaf expired at signedDate": await appleNotification(expired),
      "wrong bundle id": await appleNotification(chain, {}, { bundleId: "com.other.app" }),
      "wrong environment": await appleNotification(chain, {}, { environment: "Production" }),
      "alg other than ES256": await chain.sign(
        { notificationType: "TEST", notificationUUID: crypto.randomUUID(), data: { bundleId: "com.example.app", environment: "Sandbox" }, signedDate: Date.now() },
        { alg: "HS256" },
      ),
      "nested transaction by another chain": await appleNotification(chain, {}, { signedTransactionInfo: await foreign.sign(transactionPayload()) }),
    };
    for (const [name, signedPayload] of Object.entries(forgeries)) {
      const res = await post(`/v1/webhooks/apple/${t.tenantId}`, JSON.stringify({ signedPayload }));
      expect(res.status, name).toBe(401);
    }
    expect(await count(t)).toBe(0);
  });

  it("answers 400 for shapes, 404 for unknown or deactivated tenants", async () => {
    const t = await tenantWithStores();
    for (const body of ["{", "[]", "{}", JSON.stringify({ signedPayload: 5 }), JSON.stringify({ signedPayload: "a.b" })]) {
      expect((await post(`/v1/webhooks/apple/${t.tenantId}`, body)).status, body).toBe(400);
    }
    // A genuine transaction is not a notification.
    expect((await post(`/v1/webhooks/apple/${t.tenantId}`, JSON.stringify({ signedPayload: await chain.sign(transactionPayload()) }))).status).toBe(400);
    expect(await count(t)).toBe(0);

    const signedPayload = await appleNotification(chain);
    expect((await post(`/v1/webhooks/apple/ten_NOPE`, JSON.stringify({ signedPayload }))).status).toBe(404);
    const gone = await tenantWithStores();
    await adminClient(app.url).deactivateTenant({ tenantId: gone.tenantId });
    expect((await post(`/v1/webhooks/apple/${gone.tenantId}`, JSON.stringify({ signedPayload }))).status).toBe(404);
  });
});

describe("POST /v1/webhooks/google/:tenantId", () => {
  const purchased = (token = "tok-1") => ({
    version: "1.0",
    packageName: "com.example.app",
    eventTimeMillis: String(Date.now()),
    subscriptionNotification: { version: "1.0", notificationType: 4, purchaseToken: token, subscriptionId: "pro_monthly" },
  });

  it("stores a verified RTDN once and relays it", async () => {
    const t = await tenantWithStores();
    const auth = { authorization: `Bearer ${await google.pushToken({ aud: AUDIENCE, email: PUSH_EMAIL })}` };
    const body = pubsubPush("136969346945", purchased());
    const res = await post(`/v1/webhooks/google/${t.tenantId}`, body, auth);
    expect(res.status).toBe(200);
    const first = (await res.json()) as { id: string; duplicate: boolean };
    expect(first.duplicate).toBe(false);
    // A replayed messageId: 200, nothing new.
    const replay = await post(`/v1/webhooks/google/${t.tenantId}`, body, auth);
    expect(replay.status).toBe(200);
    expect(((await replay.json()) as { duplicate: boolean }).duplicate).toBe(true);

    const { notifications } = await t.notifications.listNotifications({ source: Store.GOOGLE });
    expect(notifications).toHaveLength(1);
    expect(notifications[0]).toMatchObject({ messageId: "136969346945", notificationType: "SUBSCRIPTION_PURCHASED", productId: "pro_monthly", purchaseToken: "tok-1", appId: "com.example.app" });
    const delivered = await waitFor(() => receiver.received.find((r) => r.url === `/${t.tenantId}` && r.body.includes("google.notification")), "the relay");
    expect(JSON.parse(delivered.body.toString()).data).toMatchObject({ message_id: "136969346945", notification_kind: "subscription", package_name: "com.example.app" });
  });

  it("answers 401 and writes nothing for a bad push token", async () => {
    const t = await tenantWithStores();
    const cases: Record<string, string | undefined> = {
      "no token": undefined,
      "wrong audience": await google.pushToken({ aud: "https://elsewhere.test/", email: PUSH_EMAIL }),
      "wrong email": await google.pushToken({ aud: AUDIENCE, email: "someone@attesto-test.iam.gserviceaccount.com" }),
      "email not verified": await google.pushToken({ aud: AUDIENCE, email: PUSH_EMAIL, email_verified: false }),
      "expired token": await google.pushToken({ aud: AUDIENCE, email: PUSH_EMAIL, expiresIn: -3600 }),
      "unknown kid": await google.pushToken({ aud: AUDIENCE, email: PUSH_EMAIL }, { kid: "not-published", unpublishedKey: true }),
      "signed by a key Google does not publish": await google.pushToken({ aud: AUDIENCE, email: PUSH_EMAIL }, { unpublishedKey: true }),
      "wrong issuer": await google.pushToken({ aud: AUDIENCE, email: PUSH_EMAIL, iss: "https://evil.test" }),
    };
    for (const [name, token] of Object.entries(cases)) {
      const res = await post(`/v1/webhooks/google/${t.tenantId}`, pubsubPush(`m-${name.length}`, purchased()), token ? { authorization: `Bearer ${token}` } : {});
      expect(res.status, name).toBe(401);
    }
    expect(await count(t)).toBe(0);
  });

  it("answers 400 for shapes and another package, 404 for unknown tenants", async () => {
    const t = await tenantWithStores();
    const auth = { authorization: `Bearer ${await google.pushToken({ aud: AUDIENCE, email: PUSH_EMAIL })}` };
    const bad = [
      "{",
      JSON.stringify({}),
      JSON.stringify({ message: { messageId: "1", data: "!!!" } }),
      JSON.stringify({ message: { data: Buffer.from("{}").toString("base64") } }),
      pubsubPush("2", { ...purchased(), packageName: "com.other.app" }),
      pubsubPush("3", { version: "1.0", packageName: "com.example.app" }),
    ];
    for (const body of bad) expect((await post(`/v1/webhooks/google/${t.tenantId}`, body, auth)).status, body.slice(0, 80)).toBe(400);
    expect(await count(t)).toBe(0);
    expect((await post(`/v1/webhooks/google/ten_NOPE`, pubsubPush("4", purchased()), auth)).status).toBe(404);
  });
});

describe("StoreNotificationService", () => {
  it("filters by source, type and time and pages with a cursor; other tenants see nothing", async () => {
    const t = await tenantWithStores();
    for (let i = 0; i < 3; i++) {
      expect((await post(`/v1/webhooks/apple/${t.tenantId}`, JSON.stringify({ signedPayload: await appleNotification(chain, { signedDate: Date.now() - i * 1000 }) }))).status).toBe(200);
    }
    const auth = { authorization: `Bearer ${await google.pushToken({ aud: AUDIENCE, email: PUSH_EMAIL })}` };
    expect((await post(`/v1/webhooks/google/${t.tenantId}`, pubsubPush("900", { version: "1.0", packageName: "com.example.app", testNotification: { version: "1.0" } }), auth)).status).toBe(200);

    expect(await count(t)).toBe(4);
    expect((await t.notifications.listNotifications({ source: Store.APPLE })).notifications).toHaveLength(3);
    expect((await t.notifications.listNotifications({ notificationType: "TEST" })).notifications.map((n) => n.messageId)).toEqual(["900"]);

    const pages: string[][] = [];
    let pageToken = "";
    do {
      const page = await t.notifications.listNotifications({ pageSize: 3, pageToken });
      pages.push(page.notifications.map((n) => n.id));
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(pages.map((p) => p.length)).toEqual([3, 1]);
    expect(new Set(pages.flat()).size).toBe(4);

    const all = (await t.notifications.listNotifications({})).notifications;
    const middle = all[1]!.signedAt!;
    const older = await t.notifications.listNotifications({ signedTo: middle });
    expect(older.notifications.map((n) => n.id)).toEqual(all.slice(1).map((n) => n.id));

    const other = await newTenant(app.url);
    const otherClient = clientFor(StoreNotificationService, app.url, other.key);
    expect((await otherClient.listNotifications({})).notifications).toHaveLength(0);
    const err = await otherClient.getNotification({ notificationId: all[0]!.id }).catch((e: unknown) => e);
    expect((err as ConnectError).code).toBe(Code.NotFound);
    const badToken = await t.notifications.listNotifications({ pageToken: "garbage" }).catch((e: unknown) => e);
    expect((badToken as ConnectError).code).toBe(Code.InvalidArgument);
  });
});
