import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProofstreamService } from "../gen/ts/attesto/v1/proofstream_pb.js";
import type { Attesto } from "../src/server/app.js";
import { appendRequest } from "./support/proofstream.js";
import { clientFor, newTenant, startTestServer } from "./support/server.js";

/**
 * A busy stream's periodic checkpoint comes from the commit that appends to
 * it, once per checkpoint interval, in the commit's own statement
 * (CheckpointPace); the periodic job signs only the streams no commit did.
 */
const INTERVAL_MS = 600;
let app: Attesto;
let client: ReturnType<typeof clientFor<typeof ProofstreamService>>;

beforeAll(async () => {
  app = await startTestServer({ checkpointIntervalMs: INTERVAL_MS });
  const tenant = await newTenant(app.url);
  client = clientFor(ProofstreamService, app.url, tenant.key);
});
afterAll(() => app?.stop());

const metric = async (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(await (await fetch(`${app.url}/metrics`)).text())?.[1]);
const intervalPassed = () => new Promise((resolve) => setTimeout(resolve, INTERVAL_MS + 50));

describe("periodic checkpoints of a busy stream", () => {
  it("are signed by the commit that appends once the interval has passed since the last, covering its events when it answers", async () => {
    const { stream } = await client.createStream({ name: "paced" });
    const streamId = stream!.id;
    await client.appendEvent(appendRequest(streamId, "p-0"));
    // The first signing reads the stream's keys (then held in memory) and starts the interval.
    expect((await client.createCheckpoint({ streamId })).checkpoint!.treeSize).toBe(1n);
    const before = await metric("attesto_proofstream_checkpoints_in_commit_total");
    for (let i = 1; i <= 3; i++) {
      // Until this append, the stream did not grow since its last checkpoint: the periodic job had nothing to sign.
      await intervalPassed();
      const { event } = await client.appendEvent(appendRequest(streamId, `p-${i}`));
      // Signed in the commit: the checkpoint covering the event exists when the answer does.
      const { checkpoint } = await client.getCheckpoint({ streamId });
      expect(checkpoint!.treeSize).toBe(event!.seqNo);
      expect(await metric("attesto_proofstream_checkpoints_in_commit_total")).toBe(before + i);
    }
    // Within the interval a commit does not sign: the next append leaves the stream grown until the job or the next interval.
    const { event } = await client.appendEvent(appendRequest(streamId, "p-within"));
    expect(await metric("attesto_proofstream_checkpoints_in_commit_total")).toBe(before + 3);
    // The periodic job covers it within one and a half intervals.
    const deadline = Date.now() + 3 * INTERVAL_MS;
    let covered = 0n;
    while (covered < event!.seqNo) {
      expect(Date.now(), "the periodic job signs the grown stream").toBeLessThan(deadline);
      covered = (await client.getCheckpoint({ streamId })).checkpoint!.treeSize;
      await new Promise((r) => setTimeout(r, 25));
    }
  });
});
