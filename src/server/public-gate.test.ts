import { afterEach, describe, expect, it } from "vitest";
import { listenDual, type DualServer } from "./listener.js";
import { isPublicRoute, loopUtilizationAbove, withPublicGate } from "./public-gate.js";

let server: DualServer | undefined;
afterEach(async () => {
  await server?.close(100);
  server = undefined;
});

describe("the public-route gate", () => {
  it("names the unauthenticated routes only", () => {
    for (const path of [
      "/v2/verify",
      "/attesto.v1.VerifierService/VerifyBundle",
      "/v1/webhooks/apple/ten_1",
      "/v1/webhooks/google/ten_1",
      "/v1/store-notifications/apple/ten_1",
      "/v1/store-notifications/google/ten_1",
      "/v2/connectors/github/con_1/events",
      "/proofstreams/str_1/tile/0/000",
      "/bundles/bundle_1/download",
    ]) {
      expect(isPublicRoute(path), path).toBe(true);
    }
    for (const path of ["/attesto.v1.ProofstreamService/AppendEvent", "/v2/tenant/connectors/s3-objects/con_1/commit", "/v1/apple/verify", "/healthz", "/verify", "/v2/verifyx"]) {
      expect(isPublicRoute(path), path).toBe(false);
    }
  });

  it("admits `concurrency` public requests, queues `queue` more, refuses the rest at once with 503 and Retry-After; tenants never wait", async () => {
    const held: Array<() => void> = [];
    server = await listenDual(
      withPublicGate(
        (req, res) => {
          if (req.url === "/attesto.v1.ProofstreamService/AppendEvent") return void res.end("tenant");
          held.push(() => res.end(`done ${req.url}`));
        },
        { concurrency: 2, queue: 1, queueWaitMs: 5_000, cpuMsPerSecond: 0, maxLoopUtilization: 1 },
      ),
      "127.0.0.1",
      0,
    );
    const url = `http://127.0.0.1:${server.address.port}`;
    const first = [fetch(`${url}/v2/verify`, { method: "POST", body: "a" }), fetch(`${url}/proofstreams/s/checkpoint`)];
    while (held.length < 2) await new Promise((r) => setTimeout(r, 5));
    const queued = fetch(`${url}/v1/webhooks/apple/t`, { method: "POST", body: "{}" });
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    const refused = await fetch(`${url}/attesto.v1.VerifierService/VerifyBundle`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(await refused.json()).toMatchObject({ code: "unavailable", details: expect.arrayContaining([expect.objectContaining({ debug: expect.objectContaining({ reason: "SERVER_BUSY" }) })]) });
    const refusedHttp = await fetch(`${url}/v2/verify`, { method: "POST", body: "b" });
    expect(refusedHttp.status).toBe(503);
    expect(await refusedHttp.json()).toMatchObject({ error: { code: "unavailable", reason: "SERVER_BUSY" } });
    // An authenticated route, or a read with a tenant's key, is served while the public share is full.
    expect(await (await fetch(`${url}/attesto.v1.ProofstreamService/AppendEvent`, { method: "POST", body: "{}" })).text()).toBe("tenant");
    const keyedRead = fetch(`${url}/proofstreams/s/checkpoint`, { headers: { authorization: "Bearer k" } });
    while (held.length < 3) await new Promise((r) => setTimeout(r, 5));
    held.pop()!();
    expect((await keyedRead).status).toBe(200);
    // A place frees: the queued request is let in.
    held.shift()!();
    while (held.length < 2) await new Promise((r) => setTimeout(r, 5));
    for (const release of held.splice(0)) release();
    expect((await Promise.all([...first, queued])).map((r) => r.status)).toEqual([200, 200, 200]);
  });

  it("refuses a queued request that waited queueWaitMs", async () => {
    server = await listenDual(
      withPublicGate(() => {}, { concurrency: 1, queue: 4, queueWaitMs: 100, cpuMsPerSecond: 0, maxLoopUtilization: 1 }),
      "127.0.0.1",
      0,
    );
    const url = `http://127.0.0.1:${server.address.port}`;
    void fetch(`${url}/v2/verify`, { method: "POST", body: "a" }).catch(() => {});
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    const waited = await fetch(`${url}/v2/verify`, { method: "POST", body: "b" });
    expect(waited.status).toBe(503);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
  });

  it("charges each request's estimated CPU against a budget per second: past it they wait for the refill, in order", async () => {
    let clock = 0;
    const served: string[] = [];
    server = await listenDual(
      withPublicGate(
        (req, res) => {
          served.push(req.url!);
          res.end("ok");
        },
        { concurrency: 10, queue: 10, queueWaitMs: 5_000, cpuMsPerSecond: 80, maxLoopUtilization: 1 },
        () => false,
        () => clock,
      ),
      "127.0.0.1",
      0,
    );
    const url = `http://127.0.0.1:${server.address.port}`;
    // A 4 MB body is charged 81 ms: the first runs on the full bucket (80), the second waits for it to refill.
    const body = "x".repeat(4 * 1024 * 1024);
    expect((await fetch(`${url}/v2/verify?1`, { method: "POST", body })).status).toBe(200);
    const second = fetch(`${url}/v2/verify?2`, { method: "POST", body });
    await new Promise((r) => setTimeout(r, 100));
    expect(served).toEqual(["/v2/verify?1"]);
    clock += 1_000;
    expect((await second).status).toBe(200);
    expect(served).toEqual(["/v2/verify?1", "/v2/verify?2"]);
  });

  it("starts no public request while the event loop is busier than maxLoopUtilization; tenants' calls go on", async () => {
    let busy = true;
    const served: string[] = [];
    server = await listenDual(
      withPublicGate(
        (req, res) => {
          served.push(req.url!);
          res.end("ok");
        },
        { concurrency: 10, queue: 10, queueWaitMs: 5_000, cpuMsPerSecond: 0, maxLoopUtilization: 0.5 },
        () => busy,
      ),
      "127.0.0.1",
      0,
    );
    const url = `http://127.0.0.1:${server.address.port}`;
    const waiting = fetch(`${url}/v2/verify`, { method: "POST", body: "x" });
    expect((await fetch(`${url}/attesto.v1.ProofstreamService/AppendEvent`, { method: "POST", body: "{}" })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 150));
    expect(served).toEqual(["/attesto.v1.ProofstreamService/AppendEvent"]);
    busy = false;
    expect((await waiting).status).toBe(200);
  });

  it("measures the loop's utilization", async () => {
    const monitor = loopUtilizationAbove(0.5, 20);
    const until = Date.now() + 120;
    while (Date.now() < until) {
      /* keeps the loop busy */
    }
    await new Promise((r) => setTimeout(r, 1));
    expect(monitor.busy()).toBe(true);
    await new Promise((r) => setTimeout(r, 100));
    expect(monitor.busy()).toBe(false);
    monitor.stop();
  });
});
