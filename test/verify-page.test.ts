/**
 * The /verify page in headless Chromium (the system /usr/bin/chromium, as in
 * test/browser.test.ts): the page's esbuild bundle of the verification
 * library checks a bundle and a tlog-proof in the browser, shows each check,
 * and sends nothing anywhere.
 */
import { chromium, type Browser, type Page } from "playwright-core";
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BundleStatus, ProofstreamService } from "../gen/ts/attesto/v1/proofstream_pb.js";
import type { Attesto } from "../src/server/app.js";
import { buildBundle, TAMPERS } from "./support/bundles.js";
import { appendRequest } from "./support/proofstream.js";
import { clientFor, newTenant, startTestServer } from "./support/server.js";
import { DeliveryStatus } from "../gen/ts/attesto/v1/webhook_pb.js";
import { Receiver, waitFor, webhookClient } from "./support/webhooks.js";
import { CHROMIUM, CHROMIUM_ARGS } from "./support/chromium.js";
import { OpensslTsa } from "./support/tsa.js";
import { ed25519FromSeed, ed25519RawPublic, signatureLine, type NoteSigner } from "../src/crypto/note-signing.js";
import { keyId, logSignedNote, SIG_COSIGNATURE_V1, splitNote, verifierKeyString } from "../src/verify/note.js";
import { timestampRequest, tokenOfResponse } from "../src/verify/rfc3161.js";

let app: Attesto;
let browser: Browser;
let page: Page;
const requests: string[] = [];

beforeAll(async () => {
  app = await startTestServer({ dbPoolSize: 4, checkpointIntervalMs: 60_000, webhookAllowLoopback: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
  page = await browser.newPage();
  page.on("request", (r) => requests.push(`${r.method()} ${new URL(r.url()).pathname}${new URL(r.url()).search}`));
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await app?.stop();
});

async function open(query = ""): Promise<void> {
  await page.goto(`${app.url}/verify${query}`);
  await page.waitForSelector("body[data-ready=true]", { timeout: 60_000 });
}

async function checks(): Promise<Record<string, string>> {
  await page.waitForSelector("#verdict[data-valid]", { timeout: 60_000 });
  return page.$$eval("#checks li", (items) => Object.fromEntries(items.map((li) => [(li as HTMLElement).dataset.check!, (li as HTMLElement).dataset.status!])));
}

describe("GET /verify checks evidence in the browser", () => {
  it("verifies a dropped bundle and a pasted tlog-proof in the page, uploading nothing", async () => {
    const tenant = await newTenant(app.url);
    const ps = clientFor(ProofstreamService, app.url, tenant.key);
    const { stream } = await ps.createStream({ name: "page" });
    for (let i = 0; i < 40; i++) await ps.appendEvent(appendRequest(stream!.id, `p-${i}`));
    const { bundle: pending } = await ps.createBundle({ streamId: stream!.id, fromSeqNo: 5n, toSeqNo: 33n, includePayloads: true });
    const bundle = await waitFor(
      async () => {
        const { bundle: b } = await ps.getBundle({ bundleId: pending!.id });
        return b!.status === BundleStatus.READY ? b : undefined;
      },
      "the bundle",
      60_000,
    );
    const { tlogProof } = await ps.getInclusionProof({ streamId: stream!.id, leaf: { case: "seqNo", value: 17n } });

    requests.length = 0;
    await open();
    await page.fill("#key", stream!.verifierKey);
    await page.setInputFiles("#file", { name: `${bundle.id}.json`, mimeType: "application/json", buffer: Buffer.from(bundle.bundleJson) });
    expect(await checks()).toEqual({ format: "pass", signature: "pass", leaves: "pass", range_proof: "pass", anchors: "skipped" });
    expect(await page.getAttribute("#verdict", "data-valid")).toBe("true");
    expect(await page.$eval("#summary", (el) => ({ ...(el as HTMLElement).dataset }))).toEqual({ stream: stream!.id, from: "5", to: "33", anchors: "0" });
    expect(await page.textContent("#summary")).toContain(stream!.id);

    // Pasted tlog-proof; then without the pinned key the page says "not trusted", not "valid".
    await page.evaluate(() => document.getElementById("verdict")!.removeAttribute("data-valid"));
    await page.fill("#paste", tlogProof);
    await page.evaluate(() => {
      // A paste replaces the dropped file (the input event does that for a typing user).
      document.getElementById("paste")!.dispatchEvent(new Event("input"));
    });
    await page.click("#verify");
    expect(await checks()).toEqual({ format: "pass", signature: "pass", leaves: "pass", inclusion_proof: "pass" });
    await page.fill("#key", "");
    await page.click("#verify");
    await page.waitForFunction(() => document.querySelector("#checks li[data-check=signature]")?.getAttribute("data-status") === "unpinned");
    expect(await page.getAttribute("#verdict", "data-valid")).toBe("false");
    expect(await page.textContent("#verdict")).toContain("Not trusted");

    // Nothing left the page: the document and the script, both GETs of this server.
    expect(requests).toEqual(["GET /verify", "GET /verify/verify.js"]);
  }, 180_000);

  it("verifies a bundle of a tenant's webhook deliveries stream like any other (issue 27)", async () => {
    const tenant = await newTenant(app.url);
    const receiver = await Receiver.start();
    try {
      const hooks = webhookClient(app, tenant.key);
      await hooks.createSubscription({ name: "page", url: receiver.url(), eventTypes: ["proofstream.checkpointed"] });
      const ps = clientFor(ProofstreamService, app.url, tenant.key);
      const { stream } = await ps.createStream({ name: "page deliveries" });
      await ps.appendEvent(appendRequest(stream!.id, "d-1"));
      await ps.createCheckpoint({ streamId: stream!.id });
      const attempt = await waitFor(async () => {
        const done = (await hooks.listDeliveries({})).deliveries.find((d) => d.status === DeliveryStatus.SUCCEEDED);
        const first = done && (await hooks.getDelivery({ deliveryId: done.id })).delivery!.attempts[0];
        return first && first.seqNo > 0n ? first : undefined;
      }, "an attempt in the deliveries Proofstream");
      const { stream: deliveries } = await ps.getStream({ streamId: attempt.proofStreamId });
      const { bundle: pending } = await ps.createBundle({ streamId: attempt.proofStreamId, fromSeqNo: 1n, toSeqNo: attempt.seqNo, includePayloads: true });
      const bundle = await waitFor(async () => {
        const { bundle: b } = await ps.getBundle({ bundleId: pending!.id });
        return b!.status === BundleStatus.READY ? b : undefined;
      }, "the deliveries bundle");
      await open();
      await page.fill("#key", deliveries!.verifierKey);
      await page.setInputFiles("#file", { name: `${bundle.id}.json`, mimeType: "application/json", buffer: Buffer.from(bundle.bundleJson) });
      expect(await checks()).toEqual({ format: "pass", signature: "pass", leaves: "pass", range_proof: "pass", anchors: "skipped" });
      expect(await page.getAttribute("#verdict", "data-valid")).toBe("true");
    } finally {
      await receiver.close();
    }
  }, 180_000);

  it("fails exactly the tampered check in the page", async () => {
    const base = buildBundle({ size: 20, from: 2, to: 15, payloads: true, anchored: true });
    await open();
    await page.fill("#key", base.signer.verifierKey);
    for (const name of ["changed payload", "anchor path altered", "range proof hash altered"]) {
      const tamper = TAMPERS.find((t) => t.name === name)!;
      await page.evaluate(() => document.getElementById("verdict")!.removeAttribute("data-valid"));
      await page.setInputFiles("#file", { name: "tampered.json", mimeType: "application/json", buffer: Buffer.from(JSON.stringify(tamper.apply(base.bundle, base.signer))) });
      const result = await checks();
      expect(
        Object.entries(result)
          .filter(([, status]) => status === "fail")
          .map(([check]) => check),
        name,
      ).toEqual([tamper.fails]);
      expect(await page.getAttribute("#verdict", "data-valid")).toBe("false");
    }
  }, 120_000);

  it("checks the caller's policy in the page: the RFC 3161 token against pasted TSA roots (pass, fail, missing) and witnesses + k", async () => {
    const tsa = await OpensslTsa.create();
    try {
      const base = buildBundle({ size: 12, from: 2, to: 9, payloads: true });
      const sha256 = new Uint8Array(createHash("sha256").update(logSignedNote(base.bundle.checkpoint, base.bundle.origin)).digest());
      const token = Buffer.from(tokenOfResponse(await tsa.reply(timestampRequest(sha256, randomBytes(8))))).toString("base64");
      const seed = randomBytes(32);
      const pub = ed25519RawPublic(ed25519FromSeed(seed));
      const name = "witness.example/page";
      const witness: NoteSigner = { name, keyId: keyId(name, pub, SIG_COSIGNATURE_V1), type: SIG_COSIGNATURE_V1, privateKey: ed25519FromSeed(seed) };
      const checkpoint = base.bundle.checkpoint + signatureLine(splitNote(base.bundle.checkpoint).text, witness);
      const stamped = JSON.stringify({ ...base.bundle, checkpoint, timestamp_token: token });
      const unstamped = JSON.stringify({ ...base.bundle, checkpoint });
      const verifyWith = async (doc: string, roots: string) => {
        await page.evaluate(() => document.getElementById("verdict")!.removeAttribute("data-valid"));
        await page.fill("#tsa-roots", roots);
        await page.setInputFiles("#file", { name: "bundle.json", mimeType: "application/json", buffer: Buffer.from(doc) });
        return checks();
      };
      await open();
      await page.fill("#key", base.signer.verifierKey);
      await page.click("#policy summary");
      await page.fill("#witness-keys", verifierKeyString(name, pub, SIG_COSIGNATURE_V1));
      await page.fill("#witness-k", "1");
      const offline = { format: "pass", signature: "pass", leaves: "pass", range_proof: "pass", anchors: "skipped" };
      expect(await verifyWith(stamped, await tsa.caPem())).toEqual({ ...offline, witnesses: "pass", timestamp: "pass" });
      expect(await page.getAttribute("#verdict", "data-valid")).toBe("true");
      expect(await verifyWith(stamped, await tsa.openssl(["x509", "-in", "other_ca.pem"]))).toEqual({ ...offline, witnesses: "pass", timestamp: "fail" });
      expect(await page.textContent("#checks li[data-check=timestamp]")).toContain("chain");
      expect(await verifyWith(unstamped, await tsa.caPem())).toEqual({ ...offline, witnesses: "pass", timestamp: "missing" });
      expect(await page.getAttribute("#verdict", "data-valid")).toBe("false");
      expect(await page.textContent("#verdict")).toContain("Not valid");
      // No roots pasted: the carried token is skipped (present, not checked).
      expect(await verifyWith(stamped, "")).toEqual({ ...offline, witnesses: "pass", timestamp: "skipped" });
      // A trusted witness that did not cosign: missing; no witness keys given: the carried line is skipped.
      await page.fill("#witness-keys", verifierKeyString("witness.example/other", pub, SIG_COSIGNATURE_V1));
      expect((await verifyWith(stamped, ""))["witnesses"]).toBe("missing");
      await page.fill("#witness-keys", "");
      expect((await verifyWith(stamped, "")).witnesses).toBe("skipped");
    } finally {
      tsa.close();
    }
  }, 120_000);

  it("opens a share link with no API key: fetches the bundle by its token (never in a URL the server sees) and verifies it; a revoked link fails clearly", async () => {
    const tenant = await newTenant(app.url);
    const ps = clientFor(ProofstreamService, app.url, tenant.key);
    const { stream } = await ps.createStream({ name: "shared page" });
    for (let i = 0; i < 12; i++) await ps.appendEvent(appendRequest(stream!.id, `s-${i}`));
    const { bundle: pending, shareLink } = await ps.createBundle({ streamId: stream!.id, fromSeqNo: 2n, toSeqNo: 11n, includePayloads: true, share: true });
    await waitFor(async () => ((await ps.getBundle({ bundleId: pending!.id })).bundle!.status === BundleStatus.READY ? true : undefined), "the shared bundle", 60_000);

    // The browser holds no key: whatever it sends, it sends with no Authorization.
    const sentAuthorization: string[] = [];
    const onRequest = (r: import("playwright-core").Request) => {
      if (r.headers().authorization) sentAuthorization.push(r.url());
    };
    page.on("request", onRequest);
    try {
      requests.length = 0;
      await page.goto("about:blank");
      await page.goto(`${shareLink!.url}&key=${encodeURIComponent(stream!.verifierKey)}`);
      await page.waitForSelector("body[data-ready=true]", { timeout: 60_000 });
      expect(await checks()).toEqual({ format: "pass", signature: "pass", leaves: "pass", range_proof: "pass", anchors: "skipped" });
      expect(await page.getAttribute("#verdict", "data-valid")).toBe("true");
      expect(await page.$eval("#summary", (el) => ({ ...(el as HTMLElement).dataset }))).toEqual({ stream: stream!.id, from: "2", to: "11", anchors: "0" });
      expect(requests).toEqual(["GET /verify", "GET /verify/verify.js", "GET /v1/shared-bundle"]);
      expect(requests.join(" ")).not.toContain(shareLink!.token);
      expect(sentAuthorization).toEqual([]);

      await ps.revokeBundleShareLink({ shareLinkId: shareLink!.id });
      await page.goto("about:blank");
      await page.goto(shareLink!.url);
      await page.waitForSelector("#source[data-failed]", { timeout: 30_000 });
      expect(await page.getAttribute("#source", "data-failed")).toBe("404");
      expect(await page.textContent("#source")).toContain("This share link is revoked, expired or unknown (HTTP 404)");
      expect(await page.getAttribute("#verdict", "data-valid")).toBeNull();
    } finally {
      page.off("request", onRequest);
    }
  }, 180_000);

  it("names a private bundle from a verification_url and says how to get it", async () => {
    const id = "bundle_01J0000000000000000000000Z";
    await open(`?bundle=${id}`);
    await page.waitForFunction(() => /API key/.test(document.getElementById("source")!.textContent ?? ""), undefined, { timeout: 30_000 });
    expect(await page.textContent("#source")).toContain(`attesto bundle download ${id}`);
  }, 60_000);
});
