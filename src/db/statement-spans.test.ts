import postgres from "postgres";
import { describe, expect, it } from "vitest";
import { startTracing } from "../infra/tracing.js";
import { traceStatements } from "./statement-spans.js";

// Nothing is sent: postgres.js connects on a first query, and no span is made here.
const settings = { tracesUrl: "http://127.0.0.1:9/v1/traces", serviceName: "spec" };

describe("Postgres statement spans", () => {
  it("hook postgres.js only while tracing is on: off, Query.handle is its own", async () => {
    const client = postgres("postgres://attesto@127.0.0.1:1/none", { max: 1 });
    const queryPrototype = Object.getPrototypeOf(client.unsafe("")) as { handle: unknown };
    const handle = queryPrototype.handle;

    const stop = startTracing(settings);
    traceStatements(client);
    expect(queryPrototype.handle).not.toBe(handle);
    await stop();
    expect(queryPrototype.handle).toBe(handle);

    traceStatements(client);
    expect(queryPrototype.handle).toBe(handle);
    await client.end({ timeout: 0 });
  });
});
