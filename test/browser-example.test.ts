/**
 * examples/browser in headless Chromium against the real server: the page
 * (bundled by esbuild as its README comment says, served from another
 * loopback port, so every call is cross-origin) lists the tenant's streams
 * over connect-web and verifies each latest checkpoint and an inclusion
 * proof in the page. A checkpoint the page cannot open with the stream's
 * own key (another stream's, swapped in on the wire) must fail its check,
 * so "verified" is not a constant.
 */
import { readFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProofstreamService } from "../gen/ts/attesto/v1/proofstream_pb.js";
import type { Attesto } from "../src/server/app.js";
import { appendRequest } from "./support/proofstream.js";
import { clientFor, newTenant, startTestServer } from "./support/server.js";

const DIR = fileURLToPath(new URL("../examples/browser/", import.meta.url));

let app: Attesto;
let pageServer: http.Server;
let pageOrigin: string;
let browser: Browser;

beforeAll(async () => {
  app = await startTestServer({ checkpointIntervalMs: 100_000 });
  const bundle = await build({ entryPoints: [`${DIR}app.ts`], bundle: true, write: false, format: "iife", platform: "browser", target: "es2022", logLevel: "silent" });
  const js = bundle.outputFiles[0]!.text;
  const html = await readFile(`${DIR}index.html`, "utf8");
  pageServer = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/app.js") res.writeHead(200, { "content-type": "text/javascript" }).end(js);
    else if (path === "/") res.writeHead(200, { "content-type": "text/html" }).end(html);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => pageServer.listen(0, "127.0.0.1", resolve));
  pageOrigin = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}`;
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu"] });
}, 120_000);
afterAll(async () => {
  await browser?.close();
  pageServer?.close();
  await app?.stop();
});

async function openPage(key: string, swap?: { streamId: string; checkpointJson: string }) {
  const page = await browser.newPage();
  if (swap) {
    // A server (or a proxy) that answers one stream's checkpoint with another's.
    await page.route("**/attesto.v1.ProofstreamService/GetCheckpoint", async (route) => {
      if (route.request().method() === "POST" && (route.request().postData() ?? "").includes(swap.streamId)) {
        await route.fulfill({ status: 200, headers: { "content-type": "application/json", "access-control-allow-origin": pageOrigin }, body: swap.checkpointJson });
      } else await route.continue();
    });
  }
  await page.goto(`${pageOrigin}/#url=${encodeURIComponent(app.url)}&key=${encodeURIComponent(key)}`);
  await page.waitForSelector("#status[data-done]", { timeout: 60_000 });
  const rows = await page.$$eval("#streams tbody tr", (trs) =>
    trs.map((tr) => ({
      id: (tr as HTMLElement).dataset.stream,
      signature: (tr as HTMLElement).dataset.signature,
      inclusion: (tr as HTMLElement).dataset.inclusion,
      size: Number((tr as HTMLElement).dataset.checkpointSize),
    })),
  );
  const status = await page.$eval("#status", (el) => ({ text: el.textContent, done: (el as HTMLElement).dataset.done }));
  await page.close();
  return { rows, status };
}

describe("the browser example", () => {
  it("lists the tenant's streams and verifies each latest checkpoint and an inclusion proof in the page", async () => {
    const tenant = await newTenant(app.url);
    const ps = clientFor(ProofstreamService, app.url, tenant.key);
    const { stream: a } = await ps.createStream({ name: "orders" });
    const { stream: b } = await ps.createStream({ name: "audit" });
    const { stream: empty } = await ps.createStream({ name: "not yet checkpointed" });
    for (let i = 0; i < 5; i++) await ps.appendEvent(appendRequest(a!.id, `a-${i}`));
    for (let i = 0; i < 3; i++) await ps.appendEvent(appendRequest(b!.id, `b-${i}`));
    await ps.createCheckpoint({ streamId: a!.id });
    await ps.createCheckpoint({ streamId: b!.id });

    const { rows, status } = await openPage(tenant.key);
    expect(status.done).toBe("ok");
    const byId = new Map(rows.map((r) => [r.id, r]));
    expect(byId.size).toBe(3);
    expect(byId.get(a!.id)).toMatchObject({ signature: "verified", inclusion: "verified", size: 5 });
    expect(byId.get(b!.id)).toMatchObject({ signature: "verified", inclusion: "verified", size: 3 });
    expect(byId.get(empty!.id)).toMatchObject({ signature: "none", inclusion: "none" });
  });

  it("fails the signature of a checkpoint that is not signed by the stream's key", async () => {
    const tenant = await newTenant(app.url);
    const ps = clientFor(ProofstreamService, app.url, tenant.key);
    const { stream: a } = await ps.createStream({ name: "victim" });
    const { stream: b } = await ps.createStream({ name: "other" });
    for (const s of [a!, b!]) {
      await ps.appendEvent(appendRequest(s.id, `${s.id}-1`));
      await ps.createCheckpoint({ streamId: s.id });
    }
    const res = await fetch(`${app.url}/attesto.v1.ProofstreamService/GetCheckpoint`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${tenant.key}` },
      body: JSON.stringify({ streamId: b!.id }),
    });
    const { rows, status } = await openPage(tenant.key, { streamId: a!.id, checkpointJson: await res.text() });
    expect(status.done).toBe("failed");
    const byId = new Map(rows.map((r) => [r.id, r]));
    expect(byId.get(a!.id)).toMatchObject({ signature: "failed" });
    expect(byId.get(b!.id)).toMatchObject({ signature: "verified", inclusion: "verified" });
  });

  it("shows another tenant nothing of these streams", async () => {
    const other = await newTenant(app.url);
    const { rows, status } = await openPage(other.key);
    expect(status.done).toBe("ok");
    expect(rows).toEqual([]);
  });

  it("reports an error, not a result, for a key the server refuses", async () => {
    const { rows, status } = await openPage(`atk_${"A".repeat(43)}`);
    expect(status.done).toBe("error");
    expect(status.text).toMatch(/invalid API key/);
    expect(rows).toEqual([]);
  });
});
