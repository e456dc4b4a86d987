import { randomBytes } from "node:crypto";
import { Queue } from "bullmq";
import { describe, expect, inject, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { PERIODIC_QUEUE } from "../src/jobs/runtime.js";
import { createLogger } from "../src/logger.js";
import { startAttesto } from "../src/server/app.js";
import { testEnv } from "./support/server.js";

const waitUntil = async (what: string, check: () => Promise<boolean>) => {
  for (const until = Date.now() + 15_000; !(await check());) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

/**
 * A normal start says nothing misleading (issue 26, defect 8): the periodic
 * jobs' schedules outlive a run in Redis, so at the next start their ticks are
 * due at once; the periodic worker must not take one before the module that
 * handles it has registered ("a periodic job with no handler", at every start:
 * the anchoring module registers once its dev chain has started, seconds later).
 */
describe("a restart with the periodic jobs' ticks already due", () => {
  it("logs no 'periodic job with no handler' line, and the jobs run", async () => {
    const env = await testEnv({
      ATTESTO_QUEUE_PREFIX: `${inject("queuePrefix")}_restart_${randomBytes(3).toString("hex")}`,
      ATTESTO_CHECKPOINT_INTERVAL_MS: "100",
      ATTESTO_WEBHOOK_RELAY_INTERVAL_MS: "100",
      ATTESTO_WEBHOOK_PROOF_SWEEP_MS: "100",
      // The anchoring module registers its jobs once its dev chain has started, in the background: seconds after the rest.
      ATTESTO_ANCHOR_DEV_CHAIN: "true",
      ATTESTO_ANCHOR_POLL_MS: "100",
      ATTESTO_ANCHOR_INTERVAL_MS: "100",
    });
    const config = loadConfig(env, { port: 0 });
    // The earlier run: its schedules stay in Redis when it stops.
    const earlier = await startAttesto(config, createLogger("silent"));
    await earlier.anchoring.ready();
    expect(earlier.anchoring.enabled).toBe(true);
    await earlier.stop();

    const queue = new Queue(PERIODIC_QUEUE, { connection: { url: env.REDIS_URL }, prefix: env.ATTESTO_QUEUE_PREFIX });
    try {
      const schedulers = await queue.getJobSchedulers();
      expect(schedulers.map((j) => j.name)).toEqual(expect.arrayContaining(["webhook-outbox-relay", "proofstream.checkpoint", "anchor.track", "anchor.batch"]));
      const due = async (name: string) => (await queue.getJobs(["delayed", "wait"])).some((j) => j.name === name && j.timestamp + j.delay <= Date.now());
      await waitUntil("the earlier run's next anchoring ticks to fall due", async () => (await due("anchor.track")) && (await due("anchor.batch")));

      const lines: Array<{ msg: string; job?: string }> = [];
      const since = Date.now();
      const app = await startAttesto(config, createLogger("info", { write: (line: string) => void lines.push(JSON.parse(line)) }));
      try {
        const ranSince = async (name: string) => (await queue.getJobs(["completed"])).some((j) => j.name === name && (j.finishedOn ?? 0) > since);
        await app.anchoring.ready();
        const attached = Date.now();
        const ranAfterAttach = async () => (await queue.getJobs(["completed"])).some((j) => j.name === "anchor.track" && (j.finishedOn ?? 0) > attached);
        await waitUntil(
          "checkpoint, webhook relay and (once attached) anchor tracking ticks of this run",
          async () => (await ranSince("proofstream.checkpoint")) && (await ranSince("webhook-outbox-relay")) && (await ranAfterAttach()),
        );
      } finally {
        await app.stop();
      }
      expect(lines.filter((l) => /no handler/.test(l.msg))).toEqual([]);
    } finally {
      await queue.close();
    }
  });
});
