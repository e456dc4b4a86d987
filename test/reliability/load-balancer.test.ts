import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http2 from "node:http2";
import { tmpdir } from "node:os";
import path from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TenantService } from "../../gen/ts/attesto/v1/tenant_pb.js";
import { attestoHaproxyConfig } from "../../scripts/topology/instances.js";
import { isolatedStore, type Store } from "../support/webhooks.js";
import { call, freePort, keepOutput, report, ServerProcess, serverEnv, sharedServices, sleep, tenantOn } from "./support.js";

/**
 * Instances behind a load balancer (issue 28): three instances of one
 * deployment behind HAProxy (Debian's haproxy) in HTTP mode, health from
 * /readyz, under appending clients. One instance is drained with SIGTERM,
 * another killed with -9. HAProxy retries a request whose connection failed
 * or ended without an answer on another instance (appends are idempotent by
 * source_ref, so a retried append answers its first outcome). Counted: every
 * answer the clients got that was not 200, in each phase.
 */
const CLIENTS = 8;
const INSTANCES = 3;
let dir: string;
let haproxy: ChildProcess;
let lbUrl: string;
/** The same instances for gRPC: HAProxy speaking h2c on both sides. */
let lbH2cUrl: string;
const servers: ServerProcess[] = [];
let tenant: { tenantId: string; key: string };
/**
 * A database of the deployment's own: its streams are signed with its master key, which the
 * other test files' servers (each with a key of its own) cannot open, so they must not find them.
 */
let store: Store;

beforeAll(async () => {
  store = await isolatedStore("load_balancer");
  const { REDIS_URL } = sharedServices("load_balancer");
  const env = serverEnv({ DATABASE_URL: store.databaseUrl, REDIS_URL: REDIS_URL!, ATTESTO_QUEUE_PREFIX: store.queuePrefix, ATTESTO_DB_POOL: "4", ATTESTO_MAX_CONNECTIONS_PER_IP: "0" });
  for (let i = 0; i < INSTANCES; i++) {
    const server = new ServerProcess(`lb-${i}`, { ...env, PORT: String(await freePort()) });
    await server.start();
    servers.push(server);
  }
  dir = mkdtempSync(path.join(tmpdir(), "attesto-haproxy-"));
  const [port, h2cPort] = [await freePort(), await freePort()];
  const cfg = path.join(dir, "haproxy.cfg");
  writeFileSync(cfg, attestoHaproxyConfig({ httpPort: port, h2cPort, instances: servers.map((s) => new URL(s.url).host) }));
  haproxy = spawn("haproxy", ["-f", cfg, "-db"], { stdio: "ignore" });
  lbUrl = `http://127.0.0.1:${port}`;
  lbH2cUrl = `http://127.0.0.1:${h2cPort}`;
  // Both frontends: each backend checks its servers on its own, so the HTTP one answering says
  // nothing of the h2c one (which answered 503, no server up yet, in one CI run).
  for (let i = 0; i < 100; i++) {
    const http1 = await fetch(`${lbUrl}/readyz`).then(
      (r) => r.status,
      () => 0,
    );
    if (http1 === 200 && (await h2cStatus(lbH2cUrl, "/readyz")) === 200) break;
    await sleep(100);
  }
  tenant = await tenantOn(lbUrl);
}, 180_000);
/** The status of a GET over h2c (HTTP/2 with prior knowledge), 0 when it fails. */
function h2cStatus(url: string, pathname: string): Promise<number> {
  return new Promise((resolve) => {
    const session = http2.connect(url);
    const done = (status: number) => {
      session.close();
      resolve(status);
    };
    session.on("error", () => done(0));
    const req = session.request({ ":path": pathname });
    req.on("response", (headers) => done(Number(headers[":status"])));
    req.on("error", () => done(0));
    req.setTimeout(2_000, () => done(0));
    req.resume();
    req.end();
  });
}

afterAll(async () => {
  haproxy?.kill("SIGKILL");
  await Promise.all(servers.map((s) => s.stop()));
  if (dir) rmSync(dir, { recursive: true, force: true });
  await store?.drop();
});

describe("instances behind HAProxy", () => {
  it("serves gRPC over h2c through HAProxy, to every instance in turn", async () => {
    const client = createClient(
      TenantService,
      createGrpcTransport({
        baseUrl: lbH2cUrl,
        interceptors: [
          (next) => (req) => {
            req.header.set("authorization", `Bearer ${tenant.key}`);
            return next(req);
          },
        ],
      }),
    );
    for (let i = 0; i < INSTANCES * 2; i++) expect((await client.getCurrentTenant({})).tenant?.id).toBe(tenant.tenantId);
  });

  it("one drained with SIGTERM cuts no request; one killed -9 is routed around; nothing acknowledged is lost", async () => {
    const streamId = (await call(lbUrl, tenant.key, "ProofstreamService/CreateStream", { name: "behind-haproxy" })).json.stream.id as string;
    let phase = "warm";
    const answers = new Map<string, Record<number, number>>();
    const acked = new Map<string, number>();
    let running = true;
    let n = 0;
    const loops = Array.from({ length: CLIENTS }, async (_, c) => {
      while (running) {
        const ref = `c${c}-${n++}`;
        const res = await call(lbUrl, tenant.key, "ProofstreamService/AppendEvent", { streamId, sourceRef: ref, eventType: "lb", occurredAt: "2026-06-07T12:00:00Z", payload: { ref } }, 15_000);
        const counts = answers.get(phase) ?? {};
        counts[res.status] = (counts[res.status] ?? 0) + 1;
        answers.set(phase, counts);
        if (res.status === 200) acked.set(ref, Number(res.json.event.seqNo));
        else keepOutput("answers-load-balancer", `${phase} ${res.status} ${res.body}\n`);
      }
    });
    await sleep(2_000);
    phase = "drain";
    const drainStarted = performance.now();
    await servers[0]!.stop(); // SIGTERM: it finishes what it has and exits
    const drainMs = performance.now() - drainStarted;
    await sleep(1_500);
    phase = "kill";
    await servers[1]!.kill9();
    await sleep(2_500);
    phase = "after";
    await sleep(1_500);
    running = false;
    await Promise.all(loops);

    const rows: Array<{ sourceRef: string; seqNo: string }> = [];
    let pageToken = "";
    do {
      const res = (await call(lbUrl, tenant.key, "ProofstreamService/ListEvents", { streamId, pageSize: 500, pageToken })).json;
      rows.push(...(res.events ?? []));
      pageToken = res.nextPageToken ?? "";
    } while (pageToken);
    const stored = new Map(rows.map((r) => [r.sourceRef, Number(r.seqNo)]));
    const lost = [...acked].filter(([ref, seq]) => stored.get(ref) !== seq).length;
    const failedIn = (p: string) => Object.entries(answers.get(p) ?? {}).reduce((sum, [status, count]) => (status === "200" ? sum : sum + count), 0);
    const okIn = (p: string) => answers.get(p)?.[200] ?? 0;
    const show = (p: string) => `${okIn(p)} ok, ${failedIn(p)} not (${JSON.stringify(answers.get(p) ?? {})})`;
    const ok = failedIn("drain") === 0 && failedIn("after") === 0 && okIn("kill") > 0 && okIn("after") > 0 && lost === 0;
    report({
      section: "load balancer",
      check: `${INSTANCES} instances behind HAProxy (HTTP/1.1, /readyz checks, retry on connection failure or no answer), ${CLIENTS} appending clients: one drained with SIGTERM, then one killed -9`,
      measured: `drain (SIGTERM to exit ${(drainMs / 1000).toFixed(1)} s): ${show("drain")}; kill -9 and 2.5 s after: ${show("kill")}; after: ${show("after")}; ${acked.size} acked, ${lost} lost`,
      ok,
    });
    expect({ drainCut: failedIn("drain"), afterFailed: failedIn("after"), lost }).toEqual({ drainCut: 0, afterFailed: 0, lost: 0 });
    expect(okIn("kill")).toBeGreaterThan(0);
  });
});
