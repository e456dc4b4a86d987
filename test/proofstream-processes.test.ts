import type { ChildProcess } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { ProofstreamService } from "../gen/ts/attesto/v1/proofstream_pb.js";
import { verifyInclusion } from "../src/verify/merkle.js";
import { spawnServe, stopProcess } from "./support/process.js";
import { appendRequest, referenceRoot } from "./support/proofstream.js";
import { clientFor, newTenant, testEnv } from "./support/server.js";

const children: ChildProcess[] = [];
afterAll(async () => {
  await Promise.all(children.map(stopProcess));
});

describe("appends from several server processes", () => {
  it("stay gapless and form one tree", async () => {
    // One master key for all three: they share the streams' sealed signing keys.
    const env = { ...process.env, ...(await testEnv({ PUBLIC_BASE_URL: "https://attesto.test", LOG_LEVEL: "warn" })) };
    const servers = await Promise.all([0, 1, 2].map(() => spawnServe(env, ["--role", "api"])));
    children.push(...servers.map((s) => s.child));
    const urls = servers.map((s) => s.info.url);
    expect(new Set(urls).size).toBe(3);

    const tenant = await newTenant(urls[0]!);
    const clients = urls.map((url) => clientFor(ProofstreamService, url, tenant.key));
    const { stream } = await clients[0]!.createStream({ name: "multi-process" });
    const streamId = stream!.id;
    expect(stream!.origin).toBe(`attesto.test/proofstreams/${streamId}`);

    const perProcess = 200;
    const results = await Promise.all(Array.from({ length: perProcess * 3 }, (_, i) => clients[i % 3]!.appendEvent(appendRequest(streamId, `mp-${i}`))));
    const seqs = results.map((r) => Number(r.event!.seqNo)).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: perProcess * 3 }, (_, i) => i + 1));

    // One tree: a checkpoint signed by any process covers every leaf, and proofs from another verify against it.
    const { checkpoint } = await clients[1]!.createCheckpoint({ streamId });
    expect(checkpoint!.treeSize).toBe(600n);
    const leaves = [];
    let pageToken = "";
    do {
      const page = await clients[2]!.listEvents({ streamId, pageSize: 500, pageToken });
      leaves.push(...page.events.map((e) => e.leafHash));
      pageToken = page.nextPageToken ?? "";
    } while (pageToken);
    expect(Buffer.from(checkpoint!.rootHash).equals(referenceRoot(leaves))).toBe(true);
    const { proof } = await clients[2]!.getInclusionProof({ streamId, leaf: { case: "seqNo", value: 317n } });
    expect(verifyInclusion(316, 600, leaves[316]!, proof!.auditPath, checkpoint!.rootHash)).toBe(true);

    const codes = await Promise.all(servers.map((s) => stopProcess(s.child)));
    expect(codes).toEqual([0, 0, 0]);
  }, 90_000);
});
