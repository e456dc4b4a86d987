/**
 * Rotating ATTESTO_ENCRYPTION_KEY with `attesto reseal`, full stack: a tenant
 * with a webhook subscription (current and previous secret, and a request-id
 * secret), a stream (its signing key), a signed-webhook connector and App
 * Store and Google Play credentials, all sealed with key A. A server given
 * B and, as ATTESTO_OLD_ENCRYPTION_KEY, A serves them (the rotation without
 * downtime); reseal refuses a wrong old key and changes nothing, a dry run
 * changes nothing, the real one re-seals every value to B and a second run
 * finds nothing to do. Then a server with A alone is refused, and one with B
 * signs webhooks with the same secrets, checkpoints with the same stream key
 * and accepts the connector's same secret.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import postgres from "postgres";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProofstreamService } from "../gen/ts/attesto/v1/proofstream_pb.js";
import { AppleEnvironment } from "../gen/ts/attesto/v1/common_pb.js";
import { Keyring } from "../src/crypto/keyring.js";
import { parseMasterKey } from "../src/crypto/master-key.js";
import type { Attesto } from "../src/server/app.js";
import { openNote, parseVerifierKey } from "../src/verify/note.js";
import { post, seedBody, signedHeaders, signedWebhookConnector, tenantWithStream } from "./support/connectors.js";
import { runCli } from "./support/process.js";
import { appendRequest } from "./support/proofstream.js";
import { adminClient, clientFor } from "./support/server.js";
import { isolatedStore, Receiver, startWebhookServer, waitFor, webhookClient, type Store } from "./support/webhooks.js";

const KEY_A = randomBytes(32).toString("base64");
const KEY_B = randomBytes(32).toString("hex");
const KEY_WRONG = randomBytes(32).toString("base64");

let store: Store;
let sql: postgres.Sql;
let receiver: Receiver;
const running: Attesto[] = [];
/** Every secret the test handles: none may appear in what reseal prints. */
const secrets: string[] = [KEY_A, KEY_B, KEY_WRONG];

beforeAll(async () => {
  store = await isolatedStore("reseal");
  sql = postgres(store.databaseUrl, { max: 1, onnotice: () => {} });
  receiver = await Receiver.start(0);
}, 60_000);
afterAll(async () => {
  for (const app of running) await app.stop().catch(() => {});
  await receiver?.close();
  await sql?.end();
  await store?.drop();
});

async function server(encryptionKey: string, oldEncryptionKey?: string): Promise<Attesto> {
  const app = await startWebhookServer(store, { encryptionKey, oldEncryptionKey, connectorAllowLoopback: true });
  running.push(app);
  return app;
}
async function stop(app: Attesto): Promise<void> {
  await app.stop();
  running.splice(running.indexOf(app), 1);
}

function reseal(env: { old: string; next: string }, ...args: string[]) {
  const { DATABASE_URL: _d, REDIS_URL: _r, ATTESTO_ENCRYPTION_KEY: _k, ATTESTO_OLD_ENCRYPTION_KEY: _o, ...rest } = process.env;
  return runCli(["--json", "reseal", ...args], { ...rest, DATABASE_URL: store.databaseUrl, ATTESTO_ENCRYPTION_KEY: env.next, ATTESTO_OLD_ENCRYPTION_KEY: env.old, LOG_LEVEL: "warn" });
}

/** Every sealed value in the database, by table, column and row. */
async function sealedValues(): Promise<Map<string, { value: Buffer; aad: string; context: string }>> {
  const out = new Map<string, { value: Buffer; aad: string; context: string }>();
  const add = (where: string, value: Buffer | null, aad: string, context: string) => value && out.set(where, { value, aad, context });
  for (const r of await sql`SELECT id, tenant_id, secret_enc, previous_secret_enc FROM webhook_subscriptions ORDER BY id`) {
    add(`webhook_subscriptions.secret_enc ${r.id}`, r.secret_enc, r.tenant_id, "webhook_subscriptions.secret");
    add(`webhook_subscriptions.previous_secret_enc ${r.id}`, r.previous_secret_enc, r.tenant_id, "webhook_subscriptions.secret");
  }
  for (const r of await sql`SELECT id, tenant_id, secret_enc, previous_secret_enc FROM connectors ORDER BY id`) {
    add(`connectors.secret_enc ${r.id}`, r.secret_enc, r.tenant_id, "connectors.secret");
    add(`connectors.previous_secret_enc ${r.id}`, r.previous_secret_enc, r.tenant_id, "connectors.secret");
  }
  for (const r of await sql`SELECT stream_id, key_id, private_key_enc FROM stream_keys ORDER BY stream_id, key_id`)
    add(`stream_keys ${r.stream_id}/${r.key_id}`, r.private_key_enc, r.stream_id, "stream_keys.private_key");
  for (const r of await sql`SELECT tenant_id, private_key_enc FROM apple_credentials ORDER BY tenant_id`)
    add(`apple_credentials ${r.tenant_id}`, r.private_key_enc, r.tenant_id, "apple_credentials.private_key");
  for (const r of await sql`SELECT tenant_id, service_account_enc FROM google_credentials ORDER BY tenant_id`)
    add(`google_credentials ${r.tenant_id}`, r.service_account_enc, r.tenant_id, "google_credentials.service_account");
  for (const r of await sql`SELECT scope, method, request_id, secret_enc FROM request_ids ORDER BY scope, method, request_id`)
    add(`request_ids ${r.scope}/${r.method}/${r.request_id}`, r.secret_enc, `${r.scope}/${r.method}/${r.request_id}`, "request-id-secret");
  return out;
}

const keyring = (key: string) => new Keyring(parseMasterKey(key));
const leaks = (text: string) => secrets.filter((s) => text.includes(s));

describe("attesto reseal", () => {
  let tenant: Awaited<ReturnType<typeof tenantWithStream>>;
  let subscription: { id: string; secret: string; previousSecret: string };
  let connector: { id: string; secret: string };
  let verifierKey: string;
  const applePem = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const serviceAccountJson = JSON.stringify({
    type: "service_account",
    client_email: "play@attesto-test.iam.gserviceaccount.com",
    private_key: generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
  });

  it("a tenant's secrets sealed with key A; a server given B and the old A serves them and seals new ones with B", async () => {
    const a = await server(KEY_A);
    tenant = await tenantWithStream(a);
    verifierKey = (await tenant.ps.getStream({ streamId: tenant.streamId })).stream!.verifierKey;
    const hooks = webhookClient(a, tenant.key);
    const created = await hooks.createSubscription({ name: "rotation", url: receiver.url(), eventTypes: ["proofstream.checkpointed"], requestId: `req-${randomBytes(4).toString("hex")}` });
    const rotated = await hooks.rotateSubscriptionSecret({ subscriptionId: created.subscription!.id, overlap: { seconds: 86_400n } });
    subscription = { id: created.subscription!.id, secret: rotated.secret, previousSecret: created.secret };
    connector = await signedWebhookConnector(tenant);
    await adminClient(a.url).putAppleCredentials({
      tenantId: tenant.tenantId,
      bundleId: "com.example.app",
      keyId: "KEY123",
      issuerId: "57246542-96fe-1a63-e053-0824d011072a",
      privateKeyPem: applePem,
      environment: AppleEnvironment.PRODUCTION,
    });
    await adminClient(a.url).putGoogleCredentials({ tenantId: tenant.tenantId, packageName: "com.example.app", serviceAccountJson });
    await tenant.ps.appendEvent(appendRequest(tenant.streamId, "before-rotation"));
    secrets.push(subscription.secret, subscription.previousSecret, connector.secret, applePem, serviceAccountJson, tenant.key);
    await stop(a);

    const values = await sealedValues();
    expect([...values.keys()].map((k) => k.split(" ")[0])).toEqual(
      expect.arrayContaining([
        "webhook_subscriptions.secret_enc",
        "webhook_subscriptions.previous_secret_enc",
        "connectors.secret_enc",
        "stream_keys",
        "apple_credentials",
        "google_credentials",
        "request_ids",
      ]),
    );
    for (const [where, v] of values) expect(keyring(KEY_A).opens(v.context, v.value, v.aad), where).toBe(true);

    // The rotation without downtime: B seals, A still opens.
    const both = await server(KEY_B, KEY_A);
    const ps = clientFor(ProofstreamService, both.url, tenant.key);
    const { checkpoint } = await ps.createCheckpoint({ streamId: tenant.streamId });
    expect(openNote(checkpoint!.note, [parseVerifierKey(verifierKey)]).verifiedBy).toHaveLength(1);
    const second = await webhookClient(both, tenant.key).createSubscription({ name: "during", url: receiver.url(), eventTypes: ["batch.failed"] });
    secrets.push(second.secret);
    await stop(both);
    const [, sealed] = [...(await sealedValues())].find(([k]) => k === `webhook_subscriptions.secret_enc ${second.subscription!.id}`)!;
    expect(keyring(KEY_B).opens(sealed.context, sealed.value, sealed.aad)).toBe(true);
  }, 120_000);

  it("refuses a wrong old key and changes nothing; a dry run changes nothing either", async () => {
    const before = await sealedValues();
    const wrong = await reseal({ old: KEY_WRONG, next: KEY_B });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/opens with neither ATTESTO_OLD_ENCRYPTION_KEY nor ATTESTO_ENCRYPTION_KEY: nothing was changed/);
    expect(leaks(wrong.stdout + wrong.stderr)).toEqual([]);
    expect(await sealedValues()).toEqual(before);

    const same = await reseal({ old: KEY_B, next: KEY_B });
    expect(same.code).toBe(1);
    expect(same.stderr).toContain("are the same key");

    const dry = await reseal({ old: KEY_A, next: KEY_B }, "--dry-run");
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true });
    expect(await sealedValues()).toEqual(before);
    expect(await sql`SELECT * FROM master_key_check`).toHaveLength(0);
  }, 120_000);

  it("re-seals every value from A to B in one run, prints counts and no secret; a second run finds nothing left", async () => {
    const before = await sealedValues();
    const run = await reseal({ old: KEY_A, next: KEY_B });
    expect(run.code, run.stderr).toBe(0);
    expect(leaks(run.stdout + run.stderr)).toEqual([]);
    const report = JSON.parse(run.stdout) as { dryRun: boolean; oldKey: string; newKey: string; tables: Array<{ table: string; rows: number; resealed: number; already: number }> };
    expect(report.oldKey).toBe(keyring(KEY_A).fingerprint());
    expect(report.newKey).toBe(keyring(KEY_B).fingerprint());
    const byTable = Object.fromEntries(report.tables.map((t) => [t.table, t]));
    expect(byTable.webhook_subscriptions).toMatchObject({ rows: 2, resealed: 2, already: 1 });
    expect(byTable.connectors).toMatchObject({ rows: 1, resealed: 1, already: 0 });
    expect(byTable.apple_credentials).toMatchObject({ rows: 1, resealed: 1 });
    expect(byTable.google_credentials).toMatchObject({ rows: 1, resealed: 1 });
    expect(byTable.request_ids).toMatchObject({ rows: 1, resealed: 1 });
    expect(byTable.stream_keys!.resealed).toBeGreaterThanOrEqual(1);
    expect(byTable.anchor_keys).toMatchObject({ rows: 0 });
    const total = report.tables.reduce((n, t) => n + t.resealed + t.already, 0);
    expect(total).toBe(before.size);

    const after = await sealedValues();
    expect([...after.keys()]).toEqual([...before.keys()]);
    for (const [where, v] of after) {
      expect(keyring(KEY_B).opens(v.context, v.value, v.aad), where).toBe(true);
      expect(keyring(KEY_A).opens(v.context, v.value, v.aad), where).toBe(false);
      // The same plaintext, under the new key.
      const was = before.get(where)!;
      const old = keyring(KEY_A).opens(was.context, was.value, was.aad) ? keyring(KEY_A) : keyring(KEY_B);
      expect(
        keyring(KEY_B)
          .decrypt(v.context, v.value, v.aad)
          .equals(old.decrypt(was.context, was.value, was.aad)),
        where,
      ).toBe(true);
    }
    expect(keyring(KEY_B).decryptText("apple_credentials.private_key", after.get(`apple_credentials ${tenant.tenantId}`)!.value, tenant.tenantId)).toBe(applePem);
    expect(await sql`SELECT fingerprint FROM master_key_check`).toEqual([{ fingerprint: keyring(KEY_B).fingerprint() }]);

    const again = await reseal({ old: KEY_A, next: KEY_B });
    expect(again.code, again.stderr).toBe(0);
    const second = JSON.parse(again.stdout) as typeof report;
    expect(second.tables.every((t) => t.resealed === 0)).toBe(true);
    expect(second.tables.reduce((n, t) => n + t.already, 0)).toBe(before.size);
    expect(await sealedValues()).toEqual(after);
  }, 120_000);

  it("a server with the old key alone is refused, naming the keys; one with the new key signs and verifies with the same secrets and stream key", async () => {
    await expect(server(KEY_A)).rejects.toThrow(/ATTESTO_ENCRYPTION_KEY \(fingerprint [0-9a-f]{32}\) is not the key this database's secrets are sealed with/);

    const b = await server(KEY_B);
    // The stream signs with the key it always had: the checkpoint verifies with the verifier key from before.
    const ps = clientFor(ProofstreamService, b.url, tenant.key);
    await ps.appendEvent(appendRequest(tenant.streamId, "after-rotation"));
    const { checkpoint } = await ps.createCheckpoint({ streamId: tenant.streamId });
    expect(openNote(checkpoint!.note, [parseVerifierKey(verifierKey)]).verifiedBy).toHaveLength(1);

    // The subscription signs with the same secret, and the previous one during its overlap.
    receiver.received.length = 0;
    await webhookClient(b, tenant.key).sendTestEvent({ subscriptionId: subscription.id, eventType: "proofstream.checkpointed" });
    const got = await waitFor(async () => receiver.received.find((r) => r.url.length > 0), "the test delivery");
    const headers = { "webhook-id": String(got.headers["webhook-id"]), "webhook-timestamp": String(got.headers["webhook-timestamp"]), "webhook-signature": String(got.headers["webhook-signature"]) };
    expect(() => new Webhook(subscription.secret).verify(got.body.toString("utf8"), headers)).not.toThrow();
    expect(() => new Webhook(subscription.previousSecret).verify(got.body.toString("utf8"), headers)).not.toThrow();

    // The connector accepts the secret it was created with.
    const body = seedBody();
    const res = await post(`${b.url}/v2/connectors/signed-webhooks/${connector.id}/events`, signedHeaders(connector.secret, body), body);
    expect(res.status).toBe(201);
  }, 120_000);
});
