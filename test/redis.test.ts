import { access } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { createLogger } from "../src/logger.js";
import { answersPing, DEPENDENCY_PROBE_MS, openSentinelRedis, startRedisServer } from "../src/infra/redis.js";
import { tempDir } from "./support/server.js";

describe("finding a Redis", () => {
  it("tells a live Redis from a closed port", async () => {
    const url = new URL(process.env.ATTESTO_TEST_REDIS_URL ?? "redis://127.0.0.1:6379");
    expect(await answersPing(url.hostname, Number(url.port || 6379))).toBe(true);
    expect(await answersPing("127.0.0.1", 1)).toBe(false);
  });

  it("starts a redis-server of its own on a free port, with its data folder, and stops it", async () => {
    const dir = path.join(await tempDir(), "redis");
    const { child, port, url } = await startRedisServer(dir);
    try {
      expect(url).toBe(`redis://127.0.0.1:${port}`);
      expect(port).not.toBe(6379);
      expect(await answersPing("127.0.0.1", port)).toBe(true);
      await access(dir);
    } finally {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
    }
    expect(await answersPing("127.0.0.1", port)).toBe(false);
  });

  it("through Sentinel, fails start-up within the probe time naming the sentinels when none answers", async () => {
    const started = Date.now();
    const err = await openSentinelRedis(
      { sentinels: [{ host: "127.0.0.1", port: 1 }], masterName: "attesto", sentinelPassword: undefined },
      "redis://:pw@127.0.0.1:6379/2",
      createLogger("silent"),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/redis-sentinel:\/\/127\.0\.0\.1:1\/attesto \(ATTESTO_REDIS_SENTINELS\) is not usable/);
    expect((err as Error).message).not.toContain("pw");
    expect(Date.now() - started).toBeLessThan(DEPENDENCY_PROBE_MS + 1_000);
  });
});
