import { Pipeline, Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { traceRedisCommands } from "./redis-spans.js";
import { startTracing } from "./tracing.js";

// Nothing is sent: no span is made here, so the exporter's endpoint is never called.
const settings = { tracesUrl: "http://127.0.0.1:9/v1/traces", serviceName: "spec" };

describe("Redis command spans", () => {
  it("wrap ioredis only while tracing is on: off, its methods are its own", async () => {
    const send = Redis.prototype.sendCommand;
    const queue = Pipeline.prototype.sendCommand;
    traceRedisCommands();
    expect(Redis.prototype.sendCommand).toBe(send);

    const stopFirst = startTracing(settings);
    expect(Redis.prototype.sendCommand).not.toBe(send);
    expect(Pipeline.prototype.sendCommand).not.toBe(queue);
    // A second server of the same process shares the hooks; its stop leaves them to the first.
    const stopSecond = startTracing(settings);
    traceRedisCommands();
    const wrapped = Redis.prototype.sendCommand;
    await stopSecond();
    expect(Redis.prototype.sendCommand).toBe(wrapped);

    await stopFirst();
    expect(Redis.prototype.sendCommand).toBe(send);
    expect(Pipeline.prototype.sendCommand).toBe(queue);
  });
});
