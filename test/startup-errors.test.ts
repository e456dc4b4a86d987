import { describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { createLogger } from "../src/logger.js";
import { startAttesto } from "../src/server/app.js";
import { testEnv } from "./support/server.js";

/** Starts with one dependency's URL replaced; returns the error and how long it took. */
async function failedStart(extra: Record<string, string>): Promise<{ message: string; ms: number }> {
  const config = loadConfig(await testEnv(extra), { port: 0 });
  const started = performance.now();
  const err = await startAttesto(config, createLogger("silent")).then(
    async (app) => {
      await app.stop();
      throw new Error("the server started");
    },
    (e: Error) => e,
  );
  return { message: err.message, ms: performance.now() - started };
}

describe("a dependency that does not answer at start-up", () => {
  it("fails within 3 s naming Redis and its URL without the password", async () => {
    const { message, ms } = await failedStart({ REDIS_URL: "redis://default:hunter2@127.0.0.1:1/0" });
    expect(message).toMatch(/^Redis at redis:\/\/127\.0\.0\.1:1\/0 \(REDIS_URL\) is not usable: /);
    expect(message).not.toContain("hunter2");
    expect(ms).toBeLessThan(3_000);
  });

  it("fails within 3 s naming PostgreSQL and its URL without the password", async () => {
    const { message, ms } = await failedStart({ DATABASE_URL: "postgres://attesto:hunter2@127.0.0.1:1/attesto" });
    expect(message).toMatch(/^PostgreSQL at postgres:\/\/127\.0\.0\.1:1\/attesto \(DATABASE_URL\) is not usable: /);
    expect(message).not.toContain("hunter2");
    expect(ms).toBeLessThan(3_000);
  });

  it("gives up on an unreachable host within 3 s", async () => {
    // TEST-NET-1 (RFC 5737): routed nowhere; either unreachable at once or no answer until the probe gives up.
    const { message, ms } = await failedStart({ REDIS_URL: "redis://192.0.2.1:6379" });
    expect(message).toMatch(/^Redis at redis:\/\/192\.0\.2\.1:6379 \(REDIS_URL\) is not usable: /);
    expect(ms).toBeLessThan(3_000);
  });
});

describe("a run-time file that is missing", () => {
  it("fails start-up in one line naming the pinned root ATTESTO_APPLE_ROOT_CERTS names, before opening anything", async () => {
    const { message, ms } = await failedStart({ ATTESTO_APPLE_ROOT_CERTS: "/nonexistent/apple-root.pem" });
    expect(message).toBe("ATTESTO_APPLE_ROOT_CERTS names /nonexistent/apple-root.pem, which is missing");
    expect(ms).toBeLessThan(1_000);
  });
});
