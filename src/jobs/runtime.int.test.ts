import { randomBytes } from "node:crypto";
import { Queue } from "bullmq";
import { afterAll, describe, expect, inject, it } from "vitest";
import { openRedis, type RedisHandle } from "../infra/redis.js";
import { createLogger } from "../logger.js";
import { PERIODIC_QUEUE, JobRuntime } from "./runtime.js";

const closers: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const close of closers.reverse()) await close();
});

const waitUntil = async (what: string, check: () => Promise<boolean>) => {
  const until = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

describe("periodic jobs", () => {
  it("skip, without failing, the ticks of a schedule this process has no handler for, and say so once", async () => {
    const prefix = `runtime-test-${randomBytes(4).toString("hex")}`;
    const redis: RedisHandle = await openRedis({ url: inject("redisUrl"), dataDir: "/tmp", logger: createLogger("silent") });
    closers.push(() => redis.close());
    // A schedule left in Redis by an earlier run with another configuration (anchoring on then).
    const queue = new Queue(PERIODIC_QUEUE, { connection: redis.connect({ maxRetriesPerRequest: null }), prefix });
    closers.push(() => queue.close());
    await queue.upsertJobScheduler("left.over", { every: 100 }, { name: "left.over" });

    const lines: Array<{ msg: string; job?: string; level: number }> = [];
    const logger = createLogger("info", { write: (line: string) => void lines.push(JSON.parse(line)) });
    const jobs = new JobRuntime({ redis, logger, role: "all", prefix });
    closers.push(() => jobs.close());
    let ran = 0;
    await jobs.every("known", 100, async () => void ran++);
    jobs.startPeriodic();

    await waitUntil("the known job to run twice and a left-over tick to complete", async () => ran >= 2 && (await queue.getJobs(["completed"])).some((j) => j.name === "left.over"));
    await waitUntil("a second left-over tick", async () => (await queue.getJobs(["completed"])).filter((j) => j.name === "left.over").length >= 2);
    expect(await queue.getFailedCount()).toBe(0);
    const said = lines.filter((l) => l.job === "left.over");
    expect(said).toHaveLength(1);
    expect(said[0]!.msg).toMatch(/no handler in this process/);
  });
});
