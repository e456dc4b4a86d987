import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Attesto } from "../src/server/app.js";
import { post, seedBody, signedHeaders, signedWebhookConnector, startConnectorServer, tenantWithStream } from "./support/connectors.js";

/**
 * Connector ingress is a public route (the gate in src/server/public-gate.ts charges each request
 * against the public CPU budget before it runs), but a delivery whose signature verifies is its
 * tenant's: it gives its place and its charge back (leavePublicShare from the ingress edge). Here the
 * budget is 1 ms a second, one request's worth (the next refill is a second away), and a request
 * waits at most 800 ms for it.
 */
let app: Attesto;
let url: string;
let secret: string;

beforeAll(async () => {
  app = await startConnectorServer({}, { ATTESTO_PUBLIC_CPU_MS_PER_S: "1", ATTESTO_PUBLIC_QUEUE_WAIT_MS: "800", ATTESTO_PUBLIC_CONCURRENCY: "2" });
  const t = await tenantWithStream(app);
  const c = await signedWebhookConnector(t);
  secret = c.secret;
  url = `${app.url}/v2/connectors/signed-webhooks/${c.id}/events`;
});
afterAll(async () => {
  await app?.stop();
});

describe("a verified connector delivery leaves the public share", () => {
  it("twenty signed deliveries, four at a time, all commit within a budget of one public request a second", async () => {
    const statuses: number[] = [];
    for (let round = 0; round < 5; round++) {
      const sent = Array.from({ length: 4 }, () => {
        const body = seedBody();
        return post(url, signedHeaders(secret, body), body);
      });
      statuses.push(...(await Promise.all(sent)).map((r) => r.status));
    }
    expect(statuses).toEqual(Array(20).fill(201));
  });

  it("unsigned requests still spend the budget: past it they wait, and are refused 503 SERVER_BUSY after the queue wait", async () => {
    const body = seedBody();
    const answers = await Promise.all(Array.from({ length: 8 }, () => post(url, { "content-type": "application/json" }, body)));
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 401).length).toBeGreaterThanOrEqual(1);
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThanOrEqual(1);
    expect(statuses.every((s) => s === 401 || s === 503)).toBe(true);
    for (const busy of answers.filter((a) => a.status === 503)) expect(busy.json).toMatchObject({ error: { code: "unavailable", reason: "SERVER_BUSY" } });
  });
});
