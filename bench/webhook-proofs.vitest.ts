// Provable deliveries against dispatch (issue 27 item 1): an API-role instance and two
// `serve --role worker` processes on one store, a loopback receiver that fails attempts 1
// and 2 of every delivery; N events are emitted at once and the clock runs until the
// receiver got all 3N attempts ("sent") and until every delivery reads as succeeded
// ("done"), with ATTESTO_WEBHOOK_DELIVERY_PROOFS off and on, interleaved, fresh store
// and workers each time. Prints each round's on ÷ off throughput; the figure is the median.
//
//   npm run bench:webhook-proofs      N=1500 ROUNDS=5 (defaults)
//                                     PROF=dir (V8 CPU profiles of the workers, proofs on)
//
// A vitest file (not a test: run only through vitest.bench.config.ts) for the isolated
// stores of test/support.
import { spawn, type ChildProcess } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DeliveryStatus } from "../gen/ts/attesto/v1/webhook_pb.js";
import { newTenant, tempDir } from "../test/support/server.js";
import { emitEvents, isolatedStore, Receiver, startWebhookServer, storeEnv, waitFor, webhookClient, type Store } from "../test/support/webhooks.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const SETTINGS = {
  ATTESTO_WEBHOOK_RETRY_SCHEDULE: "0,100ms,100ms",
  ATTESTO_WEBHOOK_TIMEOUT_MS: "1500",
  ATTESTO_WEBHOOK_JOB_LOCK_MS: "2000",
  ATTESTO_WEBHOOK_RELAY_INTERVAL_MS: "500",
  ATTESTO_WEBHOOK_RELAY_GRACE_MS: "1000",
};
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function spawnWorker(store: Store, extra: Record<string, string>, prof?: string) {
  const args = ["--import", "tsx", ...(prof ? ["--cpu-prof", "--cpu-prof-dir", prof] : []), path.join(ROOT, "src/cli/main.ts"), "serve", "--role", "worker", "--port", "0"];
  const child: ChildProcess = spawn(process.execPath, args, { cwd: ROOT, env: storeEnv(store, { ...SETTINGS, ATTESTO_DATA_DIR: await tempDir(), ...extra }), stdio: ["ignore", "pipe", "inherit"] });
  cleanups.push(async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill(prof ? "SIGINT" : "SIGKILL");
    await exited;
  });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  await waitFor(() => out.includes("listening"), "worker", 60_000);
}

async function round(proofs: boolean, N: number, prof?: string) {
  const store = await isolatedStore(proofs ? "on" : "off");
  cleanups.push(() => store.drop());
  const app = await startWebhookServer(store, {
    role: "api",
    webhookRetrySchedule: [0, 100, 100],
    webhookTimeoutMs: 1500,
    webhookJobLockMs: 2000,
    webhookRelayIntervalMs: 500,
    webhookRelayGraceMs: 1000,
    webhookDeliveryProofs: proofs,
  });
  cleanups.push(() => app.stop());
  const rec = await Receiver.start();
  cleanups.push(() => rec.close());
  rec.respond = (r) => (r.headers["x-attesto-attempt"] === "3" ? { status: 204 } : { status: 500 });
  const env = { ATTESTO_WEBHOOK_DELIVERY_PROOFS: String(proofs) };
  await Promise.all([spawnWorker(store, env, prof), spawnWorker(store, env, prof)]);
  const tenant = await newTenant(app.url);
  const client = webhookClient(app, tenant.key);
  await client.createSubscription({ name: "p", url: rec.url(), eventTypes: ["proofstream.checkpointed"] });
  const t0 = Date.now();
  await emitEvents(
    app,
    tenant.tenantId,
    Array.from({ length: N }, (_, k) => ["proofstream.checkpointed", { stream_id: "str_p", tree_size: k + 1 }]),
  );
  await waitFor(() => rec.received.length >= 3 * N, "all attempts", 180_000, 20);
  const sent = Date.now() - t0;
  await waitFor(
    async () => {
      let n = 0;
      let pageToken = "";
      do {
        const page = await client.listDeliveries({ pageSize: 500, status: DeliveryStatus.SUCCEEDED, pageToken });
        n += page.deliveries.length;
        pageToken = page.nextPageToken;
      } while (pageToken);
      return n === N;
    },
    "succeeded",
    180_000,
    200,
  );
  const done = Date.now() - t0;
  for (const c of cleanups.splice(0).reverse()) await c();
  return { sent, done };
}

describe("provable deliveries against dispatch", () => {
  it("on vs off, interleaved", async () => {
    const N = Number(process.env.N ?? 1500);
    const rounds = Math.max(3, Number(process.env.ROUNDS ?? 5));
    const lines: string[] = [];
    const ratios = { sent: [] as number[], done: [] as number[] };
    for (let r = 0; r < rounds; r++) {
      const off = await round(false, N);
      const on = await round(true, N, process.env.PROF);
      const line = `round ${r + 1}: off ${off.sent} ms (all succeeded ${off.done} ms), on ${on.sent} ms (${on.done} ms); throughput on/off ${(off.sent / on.sent).toFixed(2)} (done ${(off.done / on.done).toFixed(2)}); load ${os
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(" ")}`;
      console.log(line);
      ratios.sent.push(off.sent / on.sent);
      ratios.done.push(off.done / on.done);
      lines.push(line);
    }
    const median = (xs: number[]) => xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    console.log(`median on/off: sent ${median(ratios.sent).toFixed(2)}, done ${median(ratios.done).toFixed(2)} (${N} deliveries, ${rounds} rounds)`);
    expect(lines).toHaveLength(rounds);
  }, 1_200_000);
});
