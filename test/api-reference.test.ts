/**
 * The REST API reference page (GET /docs/api) in headless Chromium (the
 * system /usr/bin/chromium, as in test/browser.test.ts): Redoc, served from
 * this server, renders /openapi.json, its operations and the webhook
 * deliveries; the page asks nothing of any other origin and logs no error.
 * The links from the landing page and the documentation index lead to it.
 */
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Attesto } from "../src/server/app.js";
import { startTestServer } from "./support/server.js";
import { CHROMIUM, CHROMIUM_ARGS } from "./support/chromium.js";

let app: Attesto;
let browser: Browser;
let page: Page;
/** Every request the page made, as its full URL. */
const requests: string[] = [];
/** Console errors and warnings, uncaught page errors and CSP violations. */
const problems: string[] = [];

beforeAll(async () => {
  app = await startTestServer({ dbPoolSize: 2 });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
  page = await browser.newPage();
  page.on("request", (r) => requests.push(r.url()));
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`${r.status()} ${r.url()}`);
  });
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await app?.stop();
});

describe("GET /docs/api", () => {
  it("renders the operations and the webhook deliveries of /openapi.json, with nothing fetched from elsewhere and no error", async () => {
    requests.length = 0;
    problems.length = 0;
    await page.goto(`${app.url}/docs/api`);
    // Redoc gives each operation an element with id "operation/<operationId>", and each webhook one with "webhook/<event>/…".
    await page.waitForSelector('[id="operation/getCheckpoint"]', { timeout: 60_000 });
    const ids = await page.$$eval("[id^='operation/']", (els) => els.map((e) => e.id));
    expect(ids).toEqual(expect.arrayContaining(["operation/getCheckpoint", "operation/createSubscription", "operation/verifyBundle", "operation/receiveAppleNotification"]));
    expect(ids.length).toBeGreaterThan(50);
    const text = await page.textContent("body");
    expect(text).toContain("The latest signed checkpoint");
    expect(text).toContain("proofstream.checkpointed");
    expect(text).toContain("Attesto REST API");

    // The search runs in Redoc's worker (a blob: URL, allowed by the page's CSP).
    await page.click('input[placeholder="Search..."]');
    await page.keyboard.type("rotate");
    await page.waitForSelector("[data-role='search:results'] li[data-item-id='operation/rotateSubscriptionSecret']", { timeout: 30_000 });
    const origin = new URL(app.url).origin;
    const elsewhere = requests.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith("blob:") && !u.startsWith("data:"));
    expect(elsewhere, "requests to other origins").toEqual([]);
    expect(requests).toEqual(expect.arrayContaining([`${origin}/docs/api`, `${origin}/docs/api/redoc.standalone.js`, `${origin}/openapi.json`]));
    expect(problems).toEqual([]);
  });

  it("is linked from the landing page and the documentation index", async () => {
    for (const from of ["/", "/docs"]) {
      await page.goto(`${app.url}${from}`);
      await page.click('a[href="/docs/api"]');
      await page.waitForSelector('[id="operation/getCheckpoint"]', { timeout: 60_000 });
      expect(new URL(page.url()).pathname, from).toBe("/docs/api");
    }
  });
});

describe("the documentation pages in a browser (issue 26: the docs render at /docs/… in headless Chromium with no broken links)", () => {
  it("every page renders with no error, nothing blocked and nothing from elsewhere, and each of its links answers 200 with the heading it names", async () => {
    const origin = new URL(app.url).origin;
    const { pages } = (await (await fetch(`${app.url}/docs`, { headers: { accept: "application/json" } })).json()) as { pages: string[] };
    expect(pages.length).toBeGreaterThan(3);
    const checked = new Map<string, Promise<string>>();
    const htmlOf = (url: string) => {
      if (!checked.has(url))
        checked.set(
          url,
          fetch(url, { headers: { accept: "text/html" } }).then(async (r) => (r.ok ? r.text() : Promise.reject(new Error(`${r.status} ${url}`)))),
        );
      return checked.get(url)!;
    };
    let links = 0;
    for (const path of ["/docs", ...pages]) {
      requests.length = 0;
      problems.length = 0;
      await page.goto(`${app.url}${path}`);
      expect(await page.locator("h1").count(), `${path} has a heading`).toBeGreaterThan(0);
      const hrefs = await page.$$eval("a[href]", (els) => els.map((e) => (e as HTMLAnchorElement).href));
      for (const href of hrefs.filter((h) => h.startsWith(`${origin}/`))) {
        links++;
        const [target, anchor] = href.split("#") as [string, string | undefined];
        const body = await htmlOf(target!).catch((err: Error) => expect.fail(`${path} links to ${href}: ${err.message}`));
        if (anchor) expect(body.includes(` id="${decodeURIComponent(anchor)}"`), `${path} links to ${href}, a heading the page does not have`).toBe(true);
      }
      expect(
        requests.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith("data:")),
        `${path}: requests to other origins`,
      ).toEqual([]);
      expect(problems, path).toEqual([]);
    }
    expect(links).toBeGreaterThan(pages.length);
  }, 180_000);
});
