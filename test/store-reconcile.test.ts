import { generateKeyPairSync } from "node:crypto";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppleEnvironment, Store } from "../gen/ts/attesto/v1/common_pb.js";
import { ProofstreamService } from "../gen/ts/attesto/v1/proofstream_pb.js";
import { NotificationArrival, StoreNotificationService } from "../gen/ts/attesto/v1/store_pb.js";
import { WebhookService } from "../gen/ts/attesto/v1/webhook_pb.js";
import { loadConfig } from "../src/config.js";
import { createLogger } from "../src/logger.js";
import { startAttesto, type Attesto } from "../src/server/app.js";
import { makeAppleChain, writeRootPem, type TestAppleChain } from "./support/apple-chain.js";
import { FakeAppStore } from "./support/fake-app-store.js";
import { FakeGooglePlay, pubsubPush } from "./support/fake-google.js";
import { runCli } from "./support/process.js";
import { adminClient, clientFor, newTenant, tempDir, testEnv } from "./support/server.js";
import { Receiver, waitFor } from "./support/webhooks.js";

/**
 * Reconciliation after an outage: the inbound route is dead for a window
 * (the fakes keep what they would have pushed: Apple's Notification
 * History, Google's voided purchases); ReconcileNotifications stores every
 * missing notification once, through the inbound path.
 */
const ISSUER = "57246542-96fe-1a63-e053-0824d011072a";
let chain: TestAppleChain;
let apple: FakeAppStore;
let play: FakeGooglePlay;
let receiver: Receiver;
let env: Record<string, string>;
let app: Attesto;

beforeAll(async () => {
  chain = await makeAppleChain();
  apple = await new FakeAppStore(chain).start();
  play = await new FakeGooglePlay().start();
  receiver = await Receiver.start();
  env = await testEnv({
    ATTESTO_DB_POOL: "4",
    ATTESTO_APPLE_ROOT_CERTS: await writeRootPem(await tempDir(), chain.root),
    ATTESTO_APPLE_API_PRODUCTION_URL: apple.productionUrl,
    ATTESTO_APPLE_API_SANDBOX_URL: apple.sandboxUrl,
    ATTESTO_GOOGLE_TOKEN_URL: play.tokenUrl,
    ATTESTO_GOOGLE_PLAY_API_URL: play.url,
    ATTESTO_GOOGLE_OIDC_JWKS_URL: play.jwksUrl,
    ATTESTO_STORE_UPSTREAM_TIMEOUT_MS: "3000",
    ATTESTO_DEV_TENANT: "false",
  });
  app = await startAttesto(loadConfig(env, { port: 0, webhookAllowLoopback: true }), createLogger(process.env.TEST_LOG_LEVEL ?? "silent"));
});
afterAll(async () => {
  await app?.stop();
  await apple?.close();
  await play?.close();
  await receiver?.close();
});

let seq = 0;
const PUSH_AUDIENCE = "https://attesto.test/v1/webhooks/google";
const PUSH_EMAIL = "rtdn-push@attesto-test.iam.gserviceaccount.com";
/** A tenant with Apple (a Production key, both environments accepted) and Google credentials, and a webhook subscription to the receiver. */
async function storeTenant(server: Attesto, packageName: string) {
  const tenant = await newTenant(server.url);
  const admin = adminClient(server.url);
  const p8 = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const keyId = `REC${String(++seq).padStart(7, "0")}`;
  await admin.putAppleCredentials({ tenantId: tenant.tenantId, bundleId: "com.example.app", keyId, issuerId: ISSUER, privateKeyPem: p8, environment: AppleEnvironment.PRODUCTION });
  apple.registerPem(keyId, ISSUER, "com.example.app", p8);
  const email = `reconcile-${seq}@attesto-test.iam.gserviceaccount.com`;
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  await admin.putGoogleCredentials({
    tenantId: tenant.tenantId,
    packageName,
    serviceAccountJson: JSON.stringify({ type: "service_account", client_email: email, private_key: rsa }),
    pubsubAudience: PUSH_AUDIENCE,
    pubsubPushEmail: PUSH_EMAIL,
  });
  play.registerAccount(email, rsa);
  await clientFor(WebhookService, server.url, tenant.key).createSubscription({
    name: "store",
    url: receiver.url(`/${tenant.tenantId}`),
    eventTypes: ["apple.notification", "google.notification", "google.voided"],
  });
  return { ...tenant, notifications: clientFor(StoreNotificationService, server.url, tenant.key) };
}

const notice = (environment: "Production" | "Sandbox", bundleId = "com.example.app") => ({
  notificationType: "DID_RENEW",
  notificationUUID: crypto.randomUUID(),
  data: { bundleId, environment },
});

describe("ReconcileNotifications", () => {
  it(
    "after the inbound route was dead for a window: every missing notification stored once, the store Proofstream gapless, each relayed once; a second run stores nothing",
    { timeout: 60_000 },
    async () => {
      const t = await storeTenant(app, "com.example.reconcile");
      apple.notifications.production = [];
      apple.notifications.sandbox = [];
      apple.pageSize = 2;
      play.voidedPageSize = 2;
      try {
        // Before the outage: Apple's push reaches the route.
        apple.notificationUrl.production = `${app.url}/v1/webhooks/apple/${t.tenantId}`;
        const pushed = await apple.push("production", notice("Production"));
        expect(pushed.sendAttempts.map((a) => a.sendAttemptResult)).toEqual(["SUCCESS"]);
        // The outage: Apple keeps what it could not deliver; Google voids purchases nobody hears of.
        apple.notificationUrl = {};
        for (let i = 0; i < 3; i++) await apple.push("production", notice("Production"), false);
        await apple.push("sandbox", notice("Sandbox"), false);
        // Another app's notification in the history does not verify for this tenant: refused, never stored.
        await apple.push("production", notice("Production", "com.other.app"), false);
        for (let i = 0; i < 3; i++) play.addVoided("com.example.reconcile", { purchaseToken: `tok-void-${i}`, orderId: `GPA.7777-0000-0000-0000${i}`, subscription: i === 2 });

        const first = await t.notifications.reconcileNotifications({});
        const bySource = Object.fromEntries(first.sources.map((s) => [s.source, { listed: s.listed, stored: s.stored, rejected: s.rejected }]));
        expect(bySource).toEqual({
          "apple:production": { listed: 5, stored: 3, rejected: 1 },
          "apple:sandbox": { listed: 1, stored: 1, rejected: 0 },
          "google:voided": { listed: 3, stored: 3, rejected: 0 },
        });

        const { notifications } = await t.notifications.listNotifications({ pageSize: 100 });
        expect(notifications).toHaveLength(8);
        expect(notifications.filter((n) => n.arrival === NotificationArrival.PUSHED).map((n) => n.notificationUuid)).toEqual([pushed.payload.notificationUUID]);
        expect(notifications.filter((n) => n.arrival === NotificationArrival.RECONCILED)).toHaveLength(7);
        const voided = notifications.filter((n) => n.source === Store.GOOGLE);
        expect(voided.map((n) => n.notificationType)).toEqual(["VOIDED_PURCHASE", "VOIDED_PURCHASE", "VOIDED_PURCHASE"]);
        expect(voided.map((n) => n.transactionId).sort()).toEqual([0, 1, 2].map((i) => `GPA.7777-0000-0000-0000${i}`));

        // The store Proofstream: one event per notification, sequence numbers 1..8 without a gap.
        const streamId = notifications[0]!.streamId;
        const { events } = await clientFor(ProofstreamService, app.url, t.key).listEvents({ streamId, pageSize: 100 });
        expect(events.map((e) => Number(e.seqNo)).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
        expect(new Set(notifications.map((n) => Number(n.seqNo))).size).toBe(8);
        expect(events.filter((e) => e.eventType === "google.voided")).toHaveLength(3);

        // Relayed: each notification once, to a real receiver.
        const relayed = () => receiver.received.filter((r) => r.url === `/${t.tenantId}`);
        await waitFor(() => relayed().length >= 8 || undefined, "the relay of 8 notifications");
        const bodies = relayed().map((r) => JSON.parse(r.body.toString()) as { event: string; data: Record<string, unknown> });
        expect(bodies.filter((b) => b.event === "google.voided").map((b) => b.data.order_id)).toHaveLength(3);
        expect(bodies.find((b) => b.event === "google.voided")!.data).toMatchObject({ package_name: "com.example.reconcile", voided_reason: 1, stream_id: streamId });

        // Again: Apple and Google list the same (the windows overlap), nothing is new.
        const second = await t.notifications.reconcileNotifications({});
        expect(second.sources.map((s) => s.stored)).toEqual([0, 0, 0]);
        // From where the first run's row says it got to (less the overlap), not from the newest stored notification again.
        const production = (r: typeof first) => r.sources.find((s) => s.source === "apple:production")!;
        expect(timestampDate(production(second).windowStart!).getTime()).toBe(timestampDate(production(first).windowEnd!).getTime() - 5 * 60_000);
        expect((await t.notifications.listNotifications({ pageSize: 100 })).notifications).toHaveLength(8);
        const { deliveries } = await clientFor(WebhookService, app.url, t.key).listDeliveries({ pageSize: 100 });
        expect(deliveries).toHaveLength(8);
        const after = await clientFor(ProofstreamService, app.url, t.key).listEvents({ streamId, pageSize: 100 });
        expect(after.events).toHaveLength(8);

        // One store only.
        const onlyGoogle = await t.notifications.reconcileNotifications({ source: Store.GOOGLE });
        expect(onlyGoogle.sources.map((s) => s.source)).toEqual(["google:voided"]);
      } finally {
        apple.pageSize = 20;
        play.voidedPageSize = 1000;
        apple.notificationUrl = {};
      }
    },
  );

  it("one source failing does not keep the others from being read: its error is reported and its cursor stays; all failing is the store's error", async () => {
    const t = await storeTenant(app, "com.example.partial");
    apple.notifications.production = [];
    apple.notifications.sandbox = [];
    await apple.push("production", notice("Production"), false);
    play.addVoided("com.example.partial", { purchaseToken: "tok-partial", orderId: "GPA.2222-0000-0000-00001" });
    try {
      play.forced = { status: 429, headers: { "retry-after": "9" } };
      const partial = await t.notifications.reconcileNotifications({});
      const google = partial.sources.find((s) => s.source === "google:voided")!;
      expect(google).toMatchObject({ stored: 0 });
      expect(google.error).toContain("rate limit");
      expect(partial.sources.find((s) => s.source === "apple:production")).toMatchObject({ stored: 1, error: "" });
      const only = ConnectError.from(await t.notifications.reconcileNotifications({ source: Store.GOOGLE }).catch((e: unknown) => e));
      expect(only.code).toBe(Code.ResourceExhausted);
    } finally {
      play.forced = undefined;
    }
    // Google answers again: the voided purchase is found, as the cursor did not move past it.
    const after = await t.notifications.reconcileNotifications({ source: Store.GOOGLE });
    expect(after.sources).toMatchObject([{ source: "google:voided", stored: 1, error: "" }]);
  });

  it("stores a voided purchase once whichever way it comes: pushed (RTDN) then listed, or listed then pushed", async () => {
    const t = await storeTenant(app, "com.example.voided");
    const push = async (messageId: string, purchaseToken: string, orderId: string) => {
      const token = await play.pushToken({ aud: PUSH_AUDIENCE, email: PUSH_EMAIL });
      const res = await fetch(`${app.url}/v1/webhooks/google/${t.tenantId}`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: pubsubPush(messageId, {
          version: "1.0",
          packageName: "com.example.voided",
          eventTimeMillis: String(Date.now()),
          voidedPurchaseNotification: { purchaseToken, orderId, productType: 1, refundType: 1 },
        }),
      });
      expect(res.status).toBe(200);
      return (await res.json()) as { duplicate: boolean };
    };
    // Pushed first: the listed one is the same void.
    expect((await push("v-1", "tok-pushed", "GPA.5555-0000-0000-00001")).duplicate).toBe(false);
    play.addVoided("com.example.voided", { purchaseToken: "tok-pushed", orderId: "GPA.5555-0000-0000-00001" });
    // Listed first: the push that comes later is the same void.
    play.addVoided("com.example.voided", { purchaseToken: "tok-listed", orderId: "GPA.5555-0000-0000-00002" });
    const run = await t.notifications.reconcileNotifications({ source: Store.GOOGLE });
    expect(run.sources).toMatchObject([{ source: "google:voided", listed: 2, stored: 1 }]);
    expect((await push("v-2", "tok-listed", "GPA.5555-0000-0000-00002")).duplicate).toBe(true);
    const { notifications } = await t.notifications.listNotifications({});
    expect(notifications.map((n) => [n.purchaseToken, n.arrival]).sort()).toEqual([
      ["tok-listed", NotificationArrival.RECONCILED],
      ["tok-pushed", NotificationArrival.PUSHED],
    ]);
  });

  it("a tenant without store credentials: FAILED_PRECONDITION", async () => {
    const tenant = await newTenant(app.url);
    const err = ConnectError.from(
      await clientFor(StoreNotificationService, app.url, tenant.key)
        .reconcileNotifications({})
        .catch((e: unknown) => e),
    );
    expect(err.code).toBe(Code.FailedPrecondition);
  });

  it("attesto store reconcile runs it on the server with the tenant's key", { timeout: 120_000 }, async () => {
    const t = await storeTenant(app, "com.example.cli");
    play.addVoided("com.example.cli", { purchaseToken: "tok-cli", orderId: "GPA.6666-0000-0000-00001" });
    const res = await runCli(["--json", "--url", app.url, "store", "reconcile", t.tenantId, "--source", "google"], { ...process.env, ...env, ATTESTO_API_KEY: t.key });
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ sources: [{ source: "google:voided", listed: 1, stored: 1 }] });
  });

  it("runs on its schedule (ATTESTO_STORE_RECONCILE_INTERVAL_MS): the job is the timer, the cursor rows the truth", { timeout: 60_000 }, async () => {
    const scheduled = await startAttesto(
      loadConfig({ ...env, ATTESTO_STORE_RECONCILE_INTERVAL_MS: "500", ATTESTO_QUEUE_PREFIX: `${env.ATTESTO_QUEUE_PREFIX}-reconcile` }, { port: 0, webhookAllowLoopback: true }),
      createLogger(process.env.TEST_LOG_LEVEL ?? "silent"),
    );
    try {
      const t = await storeTenant(scheduled, "com.example.scheduled");
      play.addVoided("com.example.scheduled", { purchaseToken: "tok-scheduled", orderId: "GPA.8888-0000-0000-00001" });
      const found = await waitFor(async () => {
        const { notifications } = await t.notifications.listNotifications({ source: Store.GOOGLE });
        return notifications.find((n) => n.transactionId === "GPA.8888-0000-0000-00001");
      }, "the scheduled reconciliation");
      expect(found.arrival).toBe(NotificationArrival.RECONCILED);
    } finally {
      await scheduled.stop();
    }
  });
});
