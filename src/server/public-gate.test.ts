import { EventEmitter } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { listenDual, type DualServer } from "./listener.js";
import { leavePublicShare } from "../contract/public-share.js";
import { isPublicRoute, loopUtilizationAbove, withPublicGate } from "./public-gate.js";

let server: DualServer | undefined;
afterEach(async () => {
  await server?.close(100);
  server = undefined;
});

/**
 * The gate driven with requests and answers as it sees them (it admits synchronously, so what was let
 * in is known at each step); connector deliveries say they authenticated, as the ingress edge does
 * once a signature verifies. `admitted` lists the URLs let in, in order.
 */
function syncGate(limits: Parameters<typeof withPublicGate>[1], loopBusy = () => false, now = () => 0) {
  const admitted: string[] = [];
  const listener = withPublicGate(
    (req) => {
      admitted.push(req.url!);
      if (req.url!.startsWith("/v2/connectors/")) leavePublicShare(req);
    },
    limits,
    loopBusy,
    now,
  ) as unknown as (req: EventEmitter, res: EventEmitter) => void;
  const request = (url: string) => Object.assign(new EventEmitter(), { url, method: "POST", headers: {} as Record<string, string> });
  /** Sends a request; its answer, whose "close" ends it. */
  const send = (url: string) => {
    const answer = Object.assign(new EventEmitter(), { headersSent: false, writableEnded: false });
    listener(request(url), answer);
    return answer;
  };
  return { admitted, send, request };
}

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

  it("gives a place back when the edge says the caller authenticated, once: the answer's end does not free a second", () => {
    const { admitted, send, request } = syncGate({ concurrency: 1, queue: 4, queueWaitMs: 60_000, cpuMsPerSecond: 0, maxLoopUtilization: 1 });
    const verified = send("/v2/connectors/signed-webhooks/con_1/events");
    // Its place is free while it still runs: the next public request is let in at once, the one after waits.
    const next = send("/v2/verify");
    const queued = send("/attesto.v1.VerifierService/VerifyBundle");
    expect(admitted).toEqual(["/v2/connectors/signed-webhooks/con_1/events", "/v2/verify"]);
    // The verified delivery's answer ends: its place was given back already, so nothing more is let in.
    verified.emit("close");
    expect(admitted).toHaveLength(2);
    next.emit("close");
    expect(admitted).toEqual(["/v2/connectors/signed-webhooks/con_1/events", "/v2/verify", "/attesto.v1.VerifierService/VerifyBundle"]);
    queued.emit("close");
    // A request the gate never saw has no place to give back.
    expect(() => leavePublicShare(request("/v2/verify"))).not.toThrow();
  });

  it("refunds an authenticated request's charge to the CPU budget: verified deliveries do not use up the anonymous callers' share", () => {
    // 3 ms a second, 1 ms a request (no body), a clock that stands still: three requests' worth, no refill.
    const { admitted, send } = syncGate({ concurrency: 10, queue: 10, queueWaitMs: 60_000, cpuMsPerSecond: 3, maxLoopUtilization: 1 });
    const answers = [0, 1, 2, 3].map((i) => send(`/v2/connectors/github/con_${i}/events`));
    // Each verified delivery gave its charge back: the budget is whole for anonymous callers.
    answers.push(send("/v2/verify"), send("/v2/verify?again"));
    expect(admitted).toHaveLength(6);
    answers.push(send("/v2/verify?third"), send("/v2/verify?fourth"));
    // Three anonymous requests spent the three ms; the fourth waits for a refill that this clock never gives.
    expect(admitted.filter((u) => u.startsWith("/v2/verify"))).toEqual(["/v2/verify", "/v2/verify?again", "/v2/verify?third"]);
    // The waiting one leaves when its caller goes: nothing stays queued.
    for (const a of answers) a.emit("close");
  });

  it("lets connector deliveries start while the event loop is busy (their signature check is cheap), and holds back the other public routes", () => {
    const { admitted, send } = syncGate({ concurrency: 10, queue: 10, queueWaitMs: 60_000, cpuMsPerSecond: 0, maxLoopUtilization: 0.7 }, () => true);
    const answers = [send("/v2/connectors/signed-webhooks/con_1/events"), send("/v2/connectors/gitlab/con_2/events"), send("/v2/verify")];
    expect(admitted).toEqual(["/v2/connectors/signed-webhooks/con_1/events", "/v2/connectors/gitlab/con_2/events"]);
    for (const a of answers) a.emit("close");
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
