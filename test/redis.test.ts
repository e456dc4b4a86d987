import { access } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { answersPing, startRedisServer } from "../src/infra/redis.js";
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
});
