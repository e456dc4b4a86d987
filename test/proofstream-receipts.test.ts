import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProofReceiptStatus, ProofstreamService } from "../gen/ts/attesto/v1/proofstream_pb.js";
import { verifyTlogProof } from "../src/verify/document.js";
import type { Attesto } from "../src/server/app.js";
import { appendRequest } from "./support/proofstream.js";
import { clientFor, newTenant, startTestServer } from "./support/server.js";

/**
 * Receipts at write time: AppendEvent with wait_for_proof answers once a
 * signed checkpoint covers the event, with its tlog-proof. The periodic
 * checkpointer is set to an hour, so every checkpoint here is one the waits
 * made.
 */
let app: Attesto;
let client: ReturnType<typeof clientFor<typeof ProofstreamService>>;

beforeAll(async () => {
  app = await startTestServer({ checkpointIntervalMs: 3_600_000, receiptSignIntervalMs: 20 });
  const tenant = await newTenant(app.url);
  client = clientFor(ProofstreamService, app.url, tenant.key);
});
afterAll(() => app?.stop());

const metric = async (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(await (await fetch(`${app.url}/metrics`)).text())?.[1]);

describe("AppendEvent with wait_for_proof", () => {
  it("answers with the event's tlog-proof against a signed checkpoint that covers it, verifiable offline with the stream's key", async () => {
    const { stream } = await client.createStream({ name: "receipts" });
    const res = await client.appendEvent({ ...appendRequest(stream!.id, "r-1", { n: 1 }), waitForProof: true });
    expect(res.proofReceipt?.status).toBe(ProofReceiptStatus.PROVEN);
    expect(res.proofReceipt!.checkpointTreeSize).toBeGreaterThanOrEqual(res.event!.seqNo);
    const report = verifyTlogProof(res.proofReceipt!.tlogProof, { pinnedKey: stream!.verifierKey });
    expect(report.checks.filter((c) => c.status !== "pass")).toEqual([]);
    expect(report.valid).toBe(true);
    expect([report.from_seq_no, report.checkpoint_size]).toEqual([1, Number(res.proofReceipt!.checkpointTreeSize)]);
    // The receipt's checkpoint is the stream's: GetCheckpoint serves the same note.
    const { checkpoint } = await client.getCheckpoint({ streamId: stream!.id, treeSize: res.proofReceipt!.checkpointTreeSize });
    expect(res.proofReceipt!.tlogProof.endsWith(checkpoint!.note)).toBe(true);
    // Under another stream's key, the same receipt fails its signature check (the check can fail).
    const { stream: other } = await client.createStream({ name: "other" });
    expect(verifyTlogProof(res.proofReceipt!.tlogProof, { pinnedKey: other!.verifierKey }).valid).toBe(false);
  });

  it("covers many concurrent waiters with few checkpoints, each receipt proving its own event", async () => {
    const { stream } = await client.createStream({ name: "many" });
    const signedBefore = await metric("attesto_proofstream_receipt_checkpoints_total");
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => client.appendEvent({ ...appendRequest(stream!.id, `m-${i}`, { i }), waitForProof: true })));
    const signed = (await metric("attesto_proofstream_receipt_checkpoints_total")) - signedBefore;
    for (const a of answers) {
      expect(a.proofReceipt?.status).toBe(ProofReceiptStatus.PROVEN);
      const report = verifyTlogProof(a.proofReceipt!.tlogProof, { pinnedKey: stream!.verifierKey });
      expect(report.valid).toBe(true);
      expect(report.from_seq_no).toBe(Number(a.event!.seqNo));
    }
    expect(signed).toBeGreaterThanOrEqual(1);
    expect(signed).toBeLessThan(40);
    // Every checkpoint the waits made is in the stream's history, consistent with the last.
    const sizes = [...new Set(answers.map((a) => a.proofReceipt!.checkpointTreeSize))].sort((x, y) => Number(x - y));
    const last = sizes[sizes.length - 1]!;
    for (const size of sizes.slice(0, -1)) {
      const proof = await client.getConsistencyProof({ streamId: stream!.id, fromSize: size, toSize: last });
      expect(proof.proof?.toSize).toBe(last);
    }
  });

  it("answers a replay's receipt against a checkpoint that covers the original event", async () => {
    const { stream } = await client.createStream({ name: "replay" });
    const request = { ...appendRequest(stream!.id, "same", { a: 1 }), waitForProof: true };
    const first = await client.appendEvent(request);
    const again = await client.appendEvent(request);
    expect(again.duplicate).toBe(true);
    expect(again.proofReceipt?.status).toBe(ProofReceiptStatus.PROVEN);
    expect(verifyTlogProof(again.proofReceipt!.tlogProof, { pinnedKey: stream!.verifierKey }).from_seq_no).toBe(Number(first.event!.seqNo));
  });

  it("changes nothing without the option: no receipt, no checkpoint signed", async () => {
    const { stream } = await client.createStream({ name: "plain" });
    const res = await client.appendEvent(appendRequest(stream!.id, "p-1", {}));
    expect(res.proofReceipt).toBeUndefined();
    expect((await client.getStream({ streamId: stream!.id })).stream!.checkpointSize).toBe(0n);
  });

  it("refuses a proof_timeout without wait_for_proof or beyond 30 s, naming the field and writing nothing", async () => {
    const { stream } = await client.createStream({ name: "bad" });
    for (const request of [
      { ...appendRequest(stream!.id, "b-1", {}), proofTimeout: { seconds: 1n, nanos: 0 } },
      { ...appendRequest(stream!.id, "b-2", {}), waitForProof: true, proofTimeout: { seconds: 31n, nanos: 0 } },
    ]) {
      const err = ConnectError.from(
        await client.appendEvent(request).then(
          () => new Error("expected a refusal"),
          (e: unknown) => e,
        ),
      );
      expect(err.code).toBe(Code.InvalidArgument);
      expect(err.message).toContain("proof_timeout");
    }
    expect((await client.getStream({ streamId: stream!.id })).stream!.treeSize).toBe(0n);
  });
});
