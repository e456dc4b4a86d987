import { randomBytes } from "node:crypto";
import net from "node:net";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AttemptErrorKind } from "../gen/ts/attesto/v1/webhook_pb.js";
import { loadConfig } from "../src/config.js";
import { Keyring } from "../src/crypto/keyring.js";
import { createLogger } from "../src/logger.js";
import { addressRange, checkOutboundUrl, OutboundHttp, type OutboundPolicy, type ResolveAll } from "../src/net/outbound.js";
import type { Attesto } from "../src/server/app.js";
import { Webhooks } from "../src/webhooks/module.js";
import { webhookSettings } from "../src/webhooks/settings.js";
import { newTenant, tempDir } from "./support/server.js";
import { isolatedStore, Receiver, startWebhookServer, waitFor, webhookClient, type Store } from "./support/webhooks.js";

/** Every kind of address the guard refuses, with the range it names. */
const BLOCKED: Array<[string, string]> = [
  ["127.0.0.1", "loopback"],
  ["127.255.0.9", "loopback"],
  ["::1", "loopback"],
  ["0.0.0.0", "unspecified"],
  ["::", "unspecified"],
  ["10.0.0.1", "private"],
  ["172.16.5.4", "private"],
  ["192.168.1.1", "private"],
  ["169.254.169.254", "linkLocal"], // cloud metadata
  ["fd00:ec2::254", "uniqueLocal"], // AWS metadata over IPv6
  ["fe80::1", "linkLocal"],
  ["fc00::1", "uniqueLocal"],
  ["100.64.0.1", "carrierGradeNat"],
  ["224.0.0.1", "multicast"],
  ["ff02::1", "multicast"],
  ["255.255.255.255", "broadcast"],
  ["::ffff:127.0.0.1", "ipv4Mapped"],
  ["::ffff:8.8.8.8", "ipv4Mapped"],
  ["64:ff9b::7f00:1", "rfc6052"], // NAT64 of 127.0.0.1
  ["64:ff9b:1::a00:1", "rfc6052"],
  ["2002:7f00:1::1", "6to4"],
  ["2001:0:4136:e378:8000:63bf:3fff:fdd2", "teredo"],
  ["192.0.2.10", "reserved"], // documentation (TEST-NET-1)
  ["198.51.100.7", "reserved"],
  ["203.0.113.9", "reserved"],
  ["2001:db8::1", "reserved"],
  ["198.18.0.1", "reserved"], // benchmarking
  ["240.0.0.1", "reserved"],
  ["::7f00:1", "reserved"], // deprecated IPv4-compatible form
];

const PUBLIC = ["93.184.215.14", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e"];

const closed: OutboundPolicy = { allowLoopback: false };

/** A TCP listener that counts connections: it must see none. */
async function target() {
  let connections = 0;
  const server = net.createServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    get connections() {
      return connections;
    },
    close: () => new Promise((r) => server.close(r)),
  };
}

const resolveTo =
  (...addresses: string[]): ResolveAll =>
  async () =>
    addresses.map((address) => ({ address, family: net.isIPv6(address) ? 6 : 4 }));

describe("address ranges", () => {
  it.each(BLOCKED)("%s is %s", (address, range) => {
    expect(addressRange(address)).toBe(range);
  });
  it.each(PUBLIC)("%s is public", (address) => {
    expect(addressRange(address)).toBe("public");
  });
});

describe("when a URL is saved", () => {
  it.each(BLOCKED)("refuses https://%s (%s)", async (address, range) => {
    const host = net.isIPv6(address) ? `[${address}]` : address;
    await expect(checkOutboundUrl(`https://${host}:8443/hook`, closed)).rejects.toThrow(`url: host is not publicly routable (${range} address)`);
  });

  it("refuses other spellings of loopback that URL parsing normalizes", async () => {
    for (const url of ["https://2130706433/", "https://0x7f.1/", "https://127.1/", "https://[0:0:0:0:0:ffff:7f00:1]/"]) {
      await expect(checkOutboundUrl(url, closed), url).rejects.toThrow("url: host is not publicly routable");
    }
  });

  it("refuses a name that resolves to loopback (localhost), or to any private address among public ones", async () => {
    await expect(checkOutboundUrl("https://localhost:8443/hook", closed)).rejects.toThrow("url: host is not publicly routable (loopback address)");
    await expect(checkOutboundUrl("https://mixed.example/hook", { ...closed, resolve: resolveTo("93.184.215.14", "10.0.0.7") })).rejects.toThrow(
      "url: host is not publicly routable (private address)",
    );
    await expect(checkOutboundUrl("https://nowhere.invalid/hook", { ...closed, resolve: async () => Promise.reject(new Error("ENOTFOUND")) })).rejects.toThrow("url: host name does not resolve");
  });

  it("accepts https to public addresses only; http and loopback only with the development setting", async () => {
    for (const address of PUBLIC) {
      const host = net.isIPv6(address) ? `[${address}]` : address;
      expect((await checkOutboundUrl(`https://${host}/hook`, closed)).protocol).toBe("https:");
    }
    expect((await checkOutboundUrl("https://hooks.example/x", { ...closed, resolve: resolveTo("93.184.215.14") })).host).toBe("hooks.example");
    await expect(checkOutboundUrl("http://93.184.215.14/hook", closed)).rejects.toThrow("url: must be an https:// URL");
    await expect(checkOutboundUrl("http://127.0.0.1:9/hook", closed)).rejects.toThrow("url: must be an https:// URL");
    // A loopback receiver refused names the setting that allows it (what a developer tries first); a public http URL does not.
    const hinted: OutboundPolicy = { ...closed, loopbackSetting: "ATTESTO_WEBHOOK_ALLOW_LOOPBACK" };
    const hint = "loopback receivers are allowed with ATTESTO_WEBHOOK_ALLOW_LOOPBACK=true (development only)";
    await expect(checkOutboundUrl("http://127.0.0.1:9/hook", hinted)).rejects.toThrow(`url: must be an https:// URL; ${hint}`);
    await expect(checkOutboundUrl("http://localhost:9/hook", hinted)).rejects.toThrow(`url: must be an https:// URL; ${hint}`);
    await expect(checkOutboundUrl("https://127.0.0.1:9/hook", hinted)).rejects.toThrow(`url: host is not publicly routable (loopback address); ${hint}`);
    await expect(checkOutboundUrl("http://93.184.215.14/hook", hinted)).rejects.toThrow(/^url: must be an https:\/\/ URL$/);
    await expect(checkOutboundUrl("https://10.0.0.1/hook", hinted)).rejects.toThrow(/^url: host is not publicly routable \(private address\)$/);
    const webhooksPolicy = webhookSettings(loadConfig({ DATABASE_URL: "postgres://db.example/attesto" })).policy;
    expect(webhooksPolicy).toMatchObject({ allowLoopback: false, loopbackSetting: "ATTESTO_WEBHOOK_ALLOW_LOOPBACK" });
    // The embedded development default (no DATABASE_URL) allows loopback receivers to its development tenant only, unless told otherwise.
    expect(webhookSettings(loadConfig({}), undefined, "ten_dev")).toMatchObject({ policy: { allowLoopback: false }, loopbackTenantId: "ten_dev" });
    expect(webhookSettings(loadConfig({ ATTESTO_WEBHOOK_ALLOW_LOOPBACK: "false" }), undefined, "ten_dev")).toMatchObject({ policy: { allowLoopback: false }, loopbackTenantId: undefined });
    expect(webhookSettings(loadConfig({ ATTESTO_WEBHOOK_ALLOW_LOOPBACK: "true" }), undefined, "ten_dev").policy.allowLoopback).toBe(true);
    expect(webhookSettings(loadConfig({ DATABASE_URL: "postgres://db.example/attesto" }), undefined, undefined).loopbackTenantId).toBeUndefined();
    const dev: OutboundPolicy = { allowLoopback: true };
    expect((await checkOutboundUrl("http://127.0.0.1:9/hook", dev)).port).toBe("9");
    expect((await checkOutboundUrl("http://localhost:9/hook", dev)).hostname).toBe("localhost");
    await expect(checkOutboundUrl("http://93.184.215.14/hook", dev)).rejects.toThrow("http:// is allowed for loopback receivers only");
    await expect(checkOutboundUrl("https://10.0.0.1/hook", dev)).rejects.toThrow("(private address)");
  });

  it("is off for every tenant unless turned on explicitly; the embedded development default allows it to the development tenant only", () => {
    expect(loadConfig({ DATABASE_URL: "postgres://db.example/attesto" })).toMatchObject({ webhookAllowLoopback: false, webhookDevTenantLoopback: false });
    expect(loadConfig({})).toMatchObject({ webhookAllowLoopback: false, webhookDevTenantLoopback: true });
    expect(loadConfig({ ATTESTO_WEBHOOK_ALLOW_LOOPBACK: "false" })).toMatchObject({ webhookAllowLoopback: false, webhookDevTenantLoopback: false });
    expect(loadConfig({ ATTESTO_WEBHOOK_ALLOW_LOOPBACK: "true" })).toMatchObject({ webhookAllowLoopback: true });
    expect(loadConfig({ DATABASE_URL: "postgres://db.example/attesto", ATTESTO_DEV_TENANT: "true" }).webhookDevTenantLoopback).toBe(true);
  });
});

describe("when connecting", () => {
  const http = new OutboundHttp(closed, { connectTimeoutMs: 2_000 });
  afterAll(() => http.close());

  it("never reaches a blocked address, whatever DNS answered when the URL was saved", async () => {
    const t = await target();
    try {
      for (const [address] of BLOCKED) {
        const guarded = new OutboundHttp({ allowLoopback: false, resolve: resolveTo(address) });
        const result = await guarded.post(`https://rebound.example:${t.port}/hook`, {}, "{}", 2_000);
        await guarded.close();
        expect(result, address).toMatchObject({ ok: false, errorKind: "blocked_address" });
      }
      // IP literals are checked too (Node connects to them without a lookup).
      for (const url of [`https://127.0.0.1:${t.port}/`, `http://127.0.0.1:${t.port}/`, `https://[::ffff:127.0.0.1]:${t.port}/`, `https://localhost:${t.port}/`]) {
        expect(await http.post(url, {}, "{}", 2_000), url).toMatchObject({ ok: false, errorKind: "blocked_address" });
      }
      expect(t.connections).toBe(0);
    } finally {
      await t.close();
    }
  });

  it("pins the checked address: a name that rebinds to loopback after the check is refused", async () => {
    const t = await target();
    let calls = 0;
    // Public at save time, 127.0.0.1 afterwards: the classic DNS rebinding.
    const rebinding: ResolveAll = async () => [{ address: calls++ === 0 ? "93.184.215.14" : "127.0.0.1", family: 4 }];
    const policy: OutboundPolicy = { allowLoopback: false, resolve: rebinding };
    try {
      expect((await checkOutboundUrl(`https://rebind.example:${t.port}/hook`, policy)).hostname).toBe("rebind.example");
      const guarded = new OutboundHttp(policy);
      expect(await guarded.post(`https://rebind.example:${t.port}/hook`, {}, "{}", 2_000)).toMatchObject({ ok: false, errorKind: "blocked_address" });
      await guarded.close();
      expect(t.connections).toBe(0);
    } finally {
      await t.close();
    }
  });

  it("reports a refused connection, and does not follow redirects", async () => {
    const dev = new OutboundHttp({ allowLoopback: true });
    const inner = await Receiver.start();
    const outer = await Receiver.start();
    outer.respond = () => ({ status: 302, headers: { location: inner.url("/admin") } });
    try {
      const redirected = await dev.post(outer.url(), { "content-type": "application/json" }, "{}", 2_000);
      expect(redirected).toMatchObject({ ok: true, statusCode: 302 });
      expect(inner.connections).toBe(0);
      const port = inner.port;
      await inner.close();
      expect(await dev.post(`http://127.0.0.1:${port}/`, {}, "{}", 2_000)).toMatchObject({ ok: false, errorKind: "connection_refused" });
    } finally {
      await outer.close();
      await dev.close();
    }
  });
});

describe("delivery engines built by the tests (the server has the API role: no worker of its own)", () => {
  let store: Store;
  let app: Attesto;

  beforeAll(async () => {
    store = await isolatedStore("guard");
    // The API role: deliveries are only attempted by the engines these tests build.
    app = await startWebhookServer(store, { role: "api", webhookAllowLoopback: false });
  });
  afterAll(async () => {
    await app?.stop();
    await store?.drop();
  });

  it("refuses blocked URLs over RPC with INVALID_ARGUMENT naming url", async () => {
    const client = webhookClient(app, (await newTenant(app.url)).key);
    for (const url of ["https://127.0.0.1/hook", "https://[::1]/hook", "https://169.254.169.254/latest/meta-data", "https://[fd00:ec2::254]/", "https://localhost/hook", "http://93.184.215.14/hook"]) {
      await expect(client.createSubscription({ name: "x", url, eventTypes: ["batch.failed"] }), url).rejects.toMatchObject({ code: Code.InvalidArgument });
    }
    expect((await client.listSubscriptions({})).subscriptions).toEqual([]);
  });

  it("records a blocked attempt and sends nothing when the name rebinds to loopback", async () => {
    const t = await target();
    const tenant = await newTenant(app.url);
    let calls = 0;
    const policy: OutboundPolicy = { allowLoopback: false, resolve: async () => [{ address: calls++ === 0 ? "93.184.215.14" : "127.0.0.1", family: 4 }] };
    // A second webhooks module on the same database, with its own policy; never started: attempts are made by hand.
    const webhooks = new Webhooks({ db: app.database.db, keyring: app.keyring, jobs: app.jobs, logger: createLogger("silent") }, { ...app.webhooks.settings, policy });
    const { subscription } = await webhooks.subscriptions.create(tenant.tenantId, {
      name: "rebinding",
      url: `https://rebind.example:${t.port}/hook`,
      eventTypes: ["batch.failed"],
    });
    try {
      await webhooks.events.emitNow(tenant.tenantId, "batch.failed", { batch_id: "bat_x" } as never);
      const client = webhookClient(app, tenant.key);
      const id = await waitFor(async () => (await client.listDeliveries({ subscriptionId: subscription.id })).deliveries[0]?.id, "the delivery");
      // (A claim skips a row another statement holds for a moment; the job would come back, here we ask again.)
      const d = await waitFor(async () => {
        expect(await webhooks.engine.attempt(id)).toMatchObject({ kind: "later" });
        const x = await webhooks.deliveries.get(tenant.tenantId, id);
        return x.attempts.length > 0 ? x : undefined;
      }, "the attempt");
      expect(d.attempts).toMatchObject([{ number: 1, statusCode: null, errorKind: "blocked_address" }]);
      expect((await client.getDelivery({ deliveryId: id })).delivery!.attempts[0]!.errorKind).toBe(AttemptErrorKind.BLOCKED_ADDRESS);
      expect(t.connections).toBe(0);
    } finally {
      await webhooks.close();
      await t.close();
    }
  });

  it("records an attempt it cannot sign (wrong master key) as INTERNAL and sends nothing", async () => {
    const rec = await Receiver.start();
    const tenant = await newTenant(app.url);
    const dev: OutboundPolicy = { allowLoopback: true };
    const own = new Webhooks({ db: app.database.db, keyring: app.keyring, jobs: app.jobs, logger: createLogger("silent") }, { ...app.webhooks.settings, policy: dev });
    await own.subscriptions.create(tenant.tenantId, { name: "sealed", url: rec.url(), eventTypes: ["batch.failed"] });
    await own.close();
    // Attempts by a module whose master key is another: the sealed secret does not open.
    const webhooks = new Webhooks(
      { db: app.database.db, keyring: new Keyring(randomBytes(32)), jobs: app.jobs, logger: createLogger("silent") },
      { ...app.webhooks.settings, policy: dev, retrySchedule: [0, 60_000] },
    );
    try {
      await webhooks.events.emitNow(tenant.tenantId, "batch.failed", { batch_id: "bat_y" } as never);
      const client = webhookClient(app, tenant.key);
      const id = await waitFor(async () => (await client.listDeliveries({})).deliveries[0]?.id, "the delivery");
      const d = await waitFor(async () => {
        await webhooks.engine.attempt(id);
        const x = await webhooks.deliveries.get(tenant.tenantId, id);
        return x.attempts.length > 0 ? x : undefined;
      }, "the attempt");
      expect(d.attempts).toMatchObject([{ number: 1, statusCode: null, errorKind: "internal" }]);
      expect(d.status).toBe("pending");
      expect((await client.getDelivery({ deliveryId: id })).delivery!.attempts[0]!.errorKind).toBe(AttemptErrorKind.INTERNAL);
      expect(rec.connections).toBe(0);
    } finally {
      await webhooks.close();
      await rec.close();
    }
  });
});

describe("the development tenant (the embedded default's)", () => {
  let store: Store;
  let app: Attesto;

  beforeAll(async () => {
    store = await isolatedStore("devloop");
    // What the embedded default sets: a development tenant, ATTESTO_WEBHOOK_ALLOW_LOOPBACK unset.
    app = await startWebhookServer(store, { webhookAllowLoopback: false, webhookDevTenantLoopback: true, devTenant: true, dataDir: await tempDir() });
  });
  afterAll(async () => {
    await app?.stop();
    await store?.drop();
  });

  it("may send to a receiver on this machine; any other tenant is refused with the setting named", async () => {
    const dev = app.devCredentials!;
    const rec = await Receiver.start();
    try {
      const devClient = webhookClient(app, dev.apiKey);
      const created = await devClient.createSubscription({ name: "local", url: rec.url(), eventTypes: ["batch.failed"] });
      await devClient.sendTestEvent({ subscriptionId: created.subscription!.id, eventType: "batch.failed" });
      const got = await waitFor(() => rec.received[0], "the development tenant's delivery");
      expect(got.headers["webhook-id"]).toBeTruthy();

      const other = webhookClient(app, (await newTenant(app.url)).key);
      for (const url of [rec.url(), rec.url().replace("http://", "https://")]) {
        const refused = await other.createSubscription({ name: "local", url, eventTypes: ["batch.failed"] }).catch((e: unknown) => e);
        expect(refused, url).toMatchObject({ code: Code.InvalidArgument });
        expect(String((refused as Error).message), url).toContain("ATTESTO_WEBHOOK_ALLOW_LOOPBACK=true");
      }
      expect((await other.listSubscriptions({})).subscriptions).toEqual([]);
      // Nor may another tenant move a subscription onto loopback.
      const publicOne = await other.createSubscription({ name: "public", url: "https://93.184.215.14/hook", eventTypes: ["batch.failed"] });
      await expect(other.updateSubscription({ subscriptionId: publicOne.subscription!.id, url: rec.url(), updateMask: { paths: ["url"] } })).rejects.toMatchObject({
        code: Code.InvalidArgument,
      });
    } finally {
      await rec.close();
    }
  });
});
