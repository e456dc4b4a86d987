import { describe, expect, it } from "vitest";
import { loadConfig } from "./config.js";

describe("ATTESTO_REDIS_SENTINELS", () => {
  it("reads the sentinels' addresses, the master's name and the sentinels' password; unset, Redis is reached directly", () => {
    const config = loadConfig({ ATTESTO_REDIS_SENTINELS: "127.0.0.1:26379, sentinel-b.internal:26380", ATTESTO_REDIS_SENTINEL_MASTER: "attesto", ATTESTO_REDIS_SENTINEL_PASSWORD: "s3cret" });
    expect(config.redisSentinel).toEqual({
      sentinels: [
        { host: "127.0.0.1", port: 26379 },
        { host: "sentinel-b.internal", port: 26380 },
      ],
      masterName: "attesto",
      sentinelPassword: "s3cret",
    });
    expect(loadConfig({ ATTESTO_REDIS_SENTINELS: "127.0.0.1:26379" }).redisSentinel?.masterName).toBe("mymaster");
    expect(loadConfig({}).redisSentinel).toBeUndefined();
  });

  it("refuses a list that is not host:port entries, naming the variable", () => {
    for (const bad of ["127.0.0.1", "127.0.0.1:26379,", "redis://127.0.0.1:26379", "a:1 b:2"]) {
      expect(() => loadConfig({ ATTESTO_REDIS_SENTINELS: bad }), bad).toThrow(/ATTESTO_REDIS_SENTINELS/);
    }
    expect(() => loadConfig({ ATTESTO_REDIS_SENTINELS: "127.0.0.1:26379", ATTESTO_REDIS_SENTINEL_MASTER: "bad name" })).toThrow(/ATTESTO_REDIS_SENTINEL_MASTER/);
  });
});
