import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProofstreamService } from "../gen/ts/attesto/v1/proofstream_pb.js";
import { startRedisServer } from "../src/infra/redis.js";
import type { Attesto } from "../src/server/app.js";
import { appendRequest } from "./support/proofstream.js";
import { clientFor, newTenant, startTestServer, tempDir } from "./support/server.js";

/**
 * Issue 11, item 13: signing does not depend on Redis. With the server's
 * own redis-server killed, appends keep being acknowledged and the worker
 * signs them on its fallback timer (one signer, elected by a Postgres
 * advisory lock).
 */
let app: Attesto;
let redis: Awaited<ReturnType<typeof startRedisServer>>;

beforeAll(async () => {
  redis = await startRedisServer(await tempDir("attesto-redis-"));
  app = await startTestServer({ redisUrl: redis.url, checkpointIntervalMs: 300 });
});
afterAll(async () => {
  redis?.child.kill("SIGKILL");
  await app?.stop().catch(() => {});
});

async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("checkpoints while Redis is down", () => {
  it("keeps signing what was appended after Redis went away", async () => {
    const tenant = await newTenant(app.url);
    const ps = clientFor(ProofstreamService, app.url, tenant.key);
    const { stream } = await ps.createStream({ name: "no redis" });
    for (let i = 0; i < 5; i++) await ps.appendEvent(appendRequest(stream!.id, `before-${i}`));
    const before = await eventually(
      () => ps.getStream({ streamId: stream!.id }),
      (r) => r.stream!.checkpointSize === 5n,
      10_000,
    );
    expect(before.stream!.checkpointSize).toBe(5n);

    redis.child.kill("SIGKILL");
    await new Promise((resolve) => redis.child.once("exit", resolve));
    for (let i = 0; i < 7; i++) await ps.appendEvent(appendRequest(stream!.id, `after-${i}`));

    const after = await eventually(
      () => ps.getStream({ streamId: stream!.id }),
      (r) => r.stream!.checkpointSize === 12n,
      15_000,
    );
    expect(after.stream!.treeSize).toBe(12n);
    expect(after.stream!.checkpointSize).toBe(12n);
    const { checkpoint } = await ps.getCheckpoint({ streamId: stream!.id });
    expect(checkpoint!.treeSize).toBe(12n);
  });
});
