/**
 * A stream the periodic checkpointer cannot sign (its key sealed with
 * another master key: a deployment restored with the wrong key, or a second
 * deployment on the same database) is held back with backoff and logged
 * once, while every other stream is signed on each pass. Before, it was
 * read, proven and refused on every tick with an error each time.
 */
import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProofstreamService } from "../gen/ts/attesto/v1/proofstream_pb.js";
import { loadConfig } from "../src/config.js";
import { createLogger } from "../src/logger.js";
import { startAttesto, type Attesto } from "../src/server/app.js";
import { appendRequest } from "./support/proofstream.js";
import { clientFor, newTenant, testEnv } from "./support/server.js";
import { isolatedStore, type Store } from "./support/webhooks.js";

let store: Store;
const running: Attesto[] = [];

/** A server on the store with the given master key and its log lines collected; the periodic job left to the test. */
async function server(encryptionKey: string, lines: Array<Record<string, unknown>> = []): Promise<Attesto> {
  const env = await testEnv({ DATABASE_URL: store.databaseUrl, ATTESTO_QUEUE_PREFIX: store.queuePrefix, ATTESTO_ENCRYPTION_KEY: encryptionKey });
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split("\n")) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  const app = await startAttesto(loadConfig(env, { port: 0, checkpointIntervalMs: 3_600_000 }), createLogger("debug", sink));
  running.push(app);
  return app;
}

beforeAll(async () => {
  store = await isolatedStore("checkpoint_backoff");
}, 60_000);
afterAll(async () => {
  for (const app of running) await app.stop().catch(() => {});
  await store?.drop();
});

describe("the periodic checkpointer", () => {
  it("holds back a stream whose key it cannot open, logging it once, and signs the others on every pass", async () => {
    // Deployment A creates a stream (its key sealed with A's master key) and stops.
    const a = await server(randomBytes(32).toString("base64"));
    const tenant = await newTenant(a.url);
    const foreign = (await clientFor(ProofstreamService, a.url, tenant.key).createStream({ name: "sealed with A" })).stream!.id;
    await a.stop();
    running.splice(running.indexOf(a), 1);

    // Deployment B, another master key, on the same database: both streams grow.
    const lines: Array<Record<string, unknown>> = [];
    const b = await server(randomBytes(32).toString("base64"), lines);
    const ps = clientFor(ProofstreamService, b.url, tenant.key);
    const own = (await ps.createStream({ name: "sealed with B" })).stream!.id;
    await ps.appendEvent(appendRequest(foreign, "f-1"));

    const passes = 6;
    for (let i = 0; i < passes; i++) {
      await ps.appendEvent(appendRequest(own, `o-${i}`));
      expect(await b.proofstreams.closeGrownCheckpoints()).toBe(1);
    }
    const { checkpoint } = await ps.getCheckpoint({ streamId: own });
    expect(Number(checkpoint!.treeSize)).toBe(passes);

    const aboutForeign = lines.filter((l) => l.streamId === foreign);
    const reported = aboutForeign.filter((l) => l.msg === "checkpoint failed; retried with backoff");
    const attempts = aboutForeign.filter((l) => String(l.msg).startsWith("checkpoint failed"));
    expect(reported).toHaveLength(1);
    expect(reported[0]).toMatchObject({ failures: 1, retryInMs: 1_000, level: 50 });
    // The first retry waits 1 s: passes done within it try the stream once (twice if the machine was that slow).
    expect(attempts.length).toBeGreaterThanOrEqual(1);
    expect(attempts.length).toBeLessThanOrEqual(2);
    // The reason is named.
    expect(JSON.stringify(reported[0])).toContain("cannot open sealed value");
    expect((await ps.getStream({ streamId: foreign })).stream!.treeSize).toBe(1n);
  });
});
