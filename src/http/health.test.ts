import { Writable } from "node:stream";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createLogger } from "../logger.js";
import { readiness } from "./health.js";

function keptLogger() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString("utf8"));
      done();
    },
  });
  return { logger: createLogger("info", sink), lines };
}

afterEach(() => vi.useRealTimers());

describe("readiness", () => {
  it("is ready when every check passes, and with no checks at all", async () => {
    const { logger } = keptLogger();
    expect(await readiness({ database: async () => {}, redis: async () => {} }, logger)).toEqual({ status: "ready", checks: { database: "ok", redis: "ok" } });
    expect(await readiness({}, logger)).toEqual({ status: "ready", checks: {} });
  });

  it("names a failed check and logs why, without putting the why in the answer", async () => {
    const { logger, lines } = keptLogger();
    const state = await readiness({ database: async () => {}, redis: () => Promise.reject(new Error("ECONNREFUSED")) }, logger);
    expect(state).toEqual({ status: "unavailable", checks: { database: "ok", redis: "unavailable" } });
    expect(JSON.stringify(state)).not.toContain("ECONNREFUSED");
    expect(lines.join("")).toMatch(/"check":"redis".*ECONNREFUSED/);
  });

  it("counts a check that hangs past 2 s as unavailable", async () => {
    vi.useFakeTimers();
    const { logger } = keptLogger();
    const pending = readiness({ hung: () => new Promise<void>(() => {}) }, logger);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(await pending).toEqual({ status: "unavailable", checks: { hung: "unavailable" } });
  });
});
