import { describe, expect, it } from "vitest";
import { createLogger } from "../logger.js";
import type { CheckpointRecord } from "./checkpoints.js";
import type { EventRecord } from "./event-record.js";
import { ReceiptWaiter } from "./receipts.js";
import { leafText } from "../verify/leaf.js";

const event = (seqNo: number, streamId = "str_a") => ({ streamId, seqNo }) as EventRecord;
const checkpoint = (streamId: string, treeSize: number) => ({ streamId, treeSize, note: `note ${treeSize}` }) as CheckpointRecord;

/**
 * A stream whose tree grows as the test says, and a signer that signs the
 * tree as it is when called (as the Checkpointer does), resolving when the
 * test lets it: so the test decides what committed before each signing.
 */
function harness(minIntervalMs = 0) {
  const trees = new Map<string, number>();
  const signings: Array<{ streamId: string; size: number; release(): void; fail(err: Error): void }> = [];
  const waiter = new ReceiptWaiter(
    {
      sign: (streamId) =>
        new Promise<CheckpointRecord>((resolve, reject) => {
          const size = trees.get(streamId) ?? 0;
          signings.push({ streamId, size, release: () => resolve(checkpoint(streamId, size)), fail: reject });
        }),
      prove: async (e, c) => `proof of ${e.seqNo} in ${c.treeSize}`,
      logger: createLogger("silent"),
    },
    { minIntervalMs },
  );
  const nextSigning = async (n: number) => {
    const deadline = Date.now() + 2000;
    while (signings.length < n) {
      if (Date.now() > deadline) throw new Error(`no signing #${n}`);
      await new Promise((r) => setTimeout(r, 1));
    }
    return signings[n - 1]!;
  };
  return { waiter, trees, signings, nextSigning };
}

describe("ReceiptWaiter", () => {
  it("covers every waiter committed before a signing with that one signing", async () => {
    const { waiter, trees, signings, nextSigning } = harness();
    trees.set("str_a", 3);
    const receipts = [1, 2, 3].map((n) => waiter.receipt({ event: event(n), duplicate: false }, 1000));
    (await nextSigning(1)).release();
    expect(await Promise.all(receipts)).toEqual([1, 2, 3].map((n) => ({ status: "proven", tlogProof: `proof of ${n} in 3`, checkpointTreeSize: 3 })));
    expect(signings).toHaveLength(1);
    expect(waiter.stats()).toEqual({ waits: 3, proven: 3, pending: 0, checkpointsSigned: 1, signedAtCommit: 0 });
  });

  it("leaves a waiter that committed during a signing for the next one, and signs no sooner than the interval", async () => {
    const { waiter, trees, nextSigning } = harness(60);
    trees.set("str_a", 1);
    const first = waiter.receipt({ event: event(1), duplicate: false }, 2000);
    const signing1 = await nextSigning(1);
    trees.set("str_a", 2);
    const second = waiter.receipt({ event: event(2), duplicate: false }, 2000);
    const releasedAt = performance.now();
    signing1.release();
    expect(await first).toMatchObject({ status: "proven", checkpointTreeSize: 1 });
    const signing2 = await nextSigning(2);
    // The second signing started an interval after the first did, not at once when the first ended.
    expect(performance.now() - releasedAt).toBeGreaterThanOrEqual(50);
    expect(signing2.size).toBe(2);
    signing2.release();
    expect(await second).toMatchObject({ status: "proven", checkpointTreeSize: 2 });
  });

  it("keeps streams apart: each has its own signing", async () => {
    const { waiter, trees, nextSigning } = harness();
    trees.set("str_a", 1).set("str_b", 5);
    const a = waiter.receipt({ event: event(1, "str_a"), duplicate: false }, 1000);
    const b = waiter.receipt({ event: event(5, "str_b"), duplicate: false }, 1000);
    const [s1, s2] = [await nextSigning(1), await nextSigning(2)];
    expect([s1.streamId, s2.streamId].sort()).toEqual(["str_a", "str_b"]);
    s1.release();
    s2.release();
    expect(await a).toMatchObject({ checkpointTreeSize: 1 });
    expect(await b).toMatchObject({ checkpointTreeSize: 5 });
  });

  it("answers pending when the deadline passes first, and withdraws the waiter", async () => {
    const { waiter, trees, nextSigning } = harness();
    trees.set("str_a", 1);
    const receipt = waiter.receipt({ event: event(1), duplicate: false }, 30);
    const signing = await nextSigning(1);
    const answer = await receipt;
    expect(answer.status).toBe("pending");
    expect(answer.status === "pending" && answer.reason).toMatch(/proof_timeout \(30 ms\)/);
    signing.release();
    expect(waiter.stats()).toMatchObject({ waits: 1, proven: 0, pending: 1 });
  });

  it("retries a failed signing for the waiters left, after a back-off", async () => {
    const { waiter, trees, nextSigning } = harness();
    trees.set("str_a", 1);
    const receipt = waiter.receipt({ event: event(1), duplicate: false }, 3000);
    const failedAt = performance.now();
    (await nextSigning(1)).fail(new Error("database away"));
    const retry = await nextSigning(2);
    expect(performance.now() - failedAt).toBeGreaterThanOrEqual(200);
    retry.release();
    expect(await receipt).toMatchObject({ status: "proven", checkpointTreeSize: 1 });
  });

  it("answers a receipt its commit made at once, with no signing of its own", async () => {
    const { waiter, signings } = harness();
    const e = { ...event(2), sourceRef: "r", eventType: "t", occurredAt: new Date(0), receivedAt: new Date(0), payload: {}, payloadSha256: "00".repeat(32), leafHash: Buffer.alloc(32) } as EventRecord;
    const leaf = Buffer.from(
      leafText({ stream_id: "str_a", seq_no: 2, source_ref: "r", event_type: "t", occurred_at: new Date(0).toISOString(), received_at: new Date(0).toISOString(), payload_sha256: "00".repeat(32) }),
    );
    const proof = { checkpoint: { ...checkpoint("str_a", 2), note: "origin\n2\nroot\n\n— sig\n" }, hashes: [Buffer.alloc(32, 7)], leaf };
    waiter.signedAtCommit();
    const answer = await waiter.receipt({ event: e, duplicate: false, proof }, 1000);
    expect(answer).toMatchObject({ status: "proven", checkpointTreeSize: 2 });
    const text = answer.status === "proven" ? answer.tlogProof : "";
    expect(text.split("\n").slice(0, 4)).toEqual(["c2sp.org/tlog-proof@v1", `extra ${leaf.toString("base64")}`, "index 1", Buffer.alloc(32, 7).toString("base64")]);
    expect(text.endsWith(proof.checkpoint.note)).toBe(true);
    expect(signings).toHaveLength(0);
    expect(waiter.stats()).toEqual({ waits: 1, proven: 1, pending: 0, checkpointsSigned: 1, signedAtCommit: 1 });
  });
});
