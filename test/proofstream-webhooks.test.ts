import { createHmac } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProofReceiptStatus, ProofstreamService } from "../gen/ts/attesto/v1/proofstream_pb.js";
import { formatCheckpoint, signNote } from "../src/proofstream/note.js";
import type { Attesto } from "../src/server/app.js";
import { appendRequest, stolenSigner } from "./support/proofstream.js";
import { clientFor, newTenant } from "./support/server.js";
import { isolatedStore, Receiver, startWebhookServer, waitFor, webhookClient, type Store } from "./support/webhooks.js";

let store: Store;
let app: Attesto;
let receiver: Receiver;

beforeAll(async () => {
  store = await isolatedStore("ps");
  app = await startWebhookServer(store, { checkpointIntervalMs: 60_000 });
  receiver = await Receiver.start();
});
afterAll(async () => {
  await app?.stop();
  await receiver?.close();
  await store?.drop();
});

const bodies = (event: string) =>
  receiver.received.filter((r) => r.headers["x-attesto-event"] === event).map((r) => JSON.parse(r.body.toString("utf8")) as { tenant_id: string; data: Record<string, unknown> });

describe("Proofstream lifecycle events reach tenant webhooks", () => {
  it("delivers the checkpoints that waiting appends' commits sign, each the note its receipt carries", async () => {
    const tenant = await newTenant(app.url);
    const own = await Receiver.start();
    // More subscriptions than the commit mints delivery ids for (4): the rest get ids made in its statement.
    // The first one ordered: its deliveries carry their ordering as emit's do.
    for (let i = 0; i < 6; i++) await webhookClient(app, tenant.key).createSubscription({ name: `receipts ${i}`, url: own.url(), eventTypes: ["proofstream.checkpointed"], ordered: i === 0 });
    const ps = clientFor(ProofstreamService, app.url, tenant.key);
    const { stream } = await ps.createStream({ name: "receipts" });
    // The first wait signs after its commit (the stream's key is not in memory yet); the next ones sign in theirs.
    await ps.appendEvent({ ...appendRequest(stream!.id, "first"), waitForProof: true });
    const atCommit = async () => Number(/^attesto_proofstream_receipt_checkpoints_at_commit_total (\S+)$/m.exec(await (await fetch(`${app.url}/metrics`)).text())?.[1]);
    const before = await atCommit();
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await ps.appendEvent({ ...appendRequest(stream!.id, `w-${i}`), waitForProof: true }));
    expect((await atCommit()) - before).toBe(3);
    for (const answer of answers) {
      // Signed with its own commit: the checkpoint is the tree that commit made.
      expect(answer.proofReceipt!.checkpointTreeSize).toBe(answer.event!.seqNo);
      const size = Number(answer.event!.seqNo);
      const requests = await waitFor(() => {
        const found = own.received.filter((r) => (JSON.parse(r.body.toString("utf8")) as { data: { tree_size: number } }).data.tree_size === size);
        return found.length >= 6 ? found : undefined;
      }, `the checkpoint of size ${size} to six subscriptions`);
      expect(requests.map((r) => r.headers["x-attesto-ordering"]).filter(Boolean)).toEqual(["in_order"]);
      const all = requests.map((r) => JSON.parse(r.body.toString("utf8")) as { id: string; event: string; data: Record<string, unknown> });
      expect(new Set(all.map((b) => b.id)).size).toBe(6);
      for (const b of all) {
        expect(b.id).toMatch(/^dlv_[0-9A-HJKMNP-TV-Z]{26}$/);
        expect(Object.keys(b)).toEqual(["id", "event", "tenant_id", "created_at", "data"]);
      }
      const delivered = all[0]!;
      expect(answer.proofReceipt!.tlogProof.endsWith(delivered.data.note as string)).toBe(true);
      const { checkpoint } = await ps.getCheckpoint({ streamId: stream!.id, treeSize: BigInt(size) });
      expect(checkpoint!.note).toBe(delivered.data.note);
    }
    await own.close();
  });

  it("a quiet stream's commits leave its deliveries out, and its next checkpoint still reaches a subscription made since", async () => {
    const tenant = await newTenant(app.url);
    const ps = clientFor(ProofstreamService, app.url, tenant.key);
    const { stream } = await ps.createStream({ name: "quiet" });
    const atCommit = async () => Number(/^attesto_proofstream_receipt_checkpoints_at_commit_total (\S+)$/m.exec(await (await fetch(`${app.url}/metrics`)).text())?.[1]);
    const waiting = (ref: string) => ps.appendEvent({ ...appendRequest(stream!.id, ref), waitForProof: true });
    // Until a commit signs for its waiter (the first waits sign after theirs, until the stream's key is held):
    // that commit finds no recipient, so the stream is quiet from then on.
    const start = await atCommit();
    for (let i = 0; i < 20 && (await atCommit()) === start; i++) await waiting(`q-${i}`);
    expect(await atCommit()).toBe(start + 1);
    const own = await Receiver.start();
    await webhookClient(app, tenant.key).createSubscription({ name: "late", url: own.url(), eventTypes: ["proofstream.checkpointed"] });
    const before = await atCommit();
    // Quiet, so its commit is refused (its checkpoint has a recipient now): it is stored alone and its waiter signs.
    const refused = await waiting("after-subscribing");
    expect(await atCommit()).toBe(before);
    // No longer quiet: once the stream takes the one-statement path again (the refused event integrated), a commit
    // signs for its waiter again, with its deliveries.
    const later = [];
    for (let i = 0; i < 50 && (await atCommit()) === before; i++) later.push(await waiting(`heard-${i}`));
    expect(await atCommit()).toBe(before + 1);
    for (const answer of [refused, ...later]) {
      expect(answer.proofReceipt!.status).toBe(ProofReceiptStatus.PROVEN);
      const size = Number(answer.proofReceipt!.checkpointTreeSize);
      expect(size).toBeGreaterThanOrEqual(Number(answer.event!.seqNo));
      const [delivered] = await waitFor(() => {
        const found = own.received.filter((r) => (JSON.parse(r.body.toString("utf8")) as { data: { tree_size: number } }).data.tree_size === size);
        return found.length > 0 ? found : undefined;
      }, `the checkpoint of size ${size}, delivered`);
      expect(answer.proofReceipt!.tlogProof.endsWith((JSON.parse(delivered!.body.toString("utf8")) as { data: { note: string } }).data.note)).toBe(true);
    }
    await own.close();
  });

  it("delivers proofstream.checkpointed and proofstream.fork_detected, signed, to the stream's tenant only", async () => {
    const a = await newTenant(app.url);
    const b = await newTenant(app.url);
    const { secret } = await webhookClient(app, a.key).createSubscription({
      name: "ps",
      url: receiver.url(),
      eventTypes: ["proofstream.checkpointed", "proofstream.fork_detected"],
    });
    const ps = clientFor(ProofstreamService, app.url, a.key);
    const { stream } = await ps.createStream({ name: "hooked" });
    for (let i = 0; i < 3; i++) await ps.appendEvent(appendRequest(stream!.id, `w-${i}`));
    const { checkpoint } = await ps.createCheckpoint({ streamId: stream!.id });

    // Another tenant's checkpoint must not reach A's endpoint.
    const psB = clientFor(ProofstreamService, app.url, b.key);
    const { stream: other } = await psB.createStream({ name: "other" });
    await psB.appendEvent(appendRequest(other!.id, "b-1"));
    await psB.createCheckpoint({ streamId: other!.id });

    const [delivered] = await waitFor(() => {
      const found = bodies("proofstream.checkpointed");
      return found.length > 0 ? found : undefined;
    }, "a proofstream.checkpointed delivery");
    expect(delivered!.tenant_id).toBe(a.tenantId);
    expect(delivered!.data).toMatchObject({
      stream_id: stream!.id,
      origin: stream!.origin,
      tree_size: 3,
      root_hash: Buffer.from(checkpoint!.rootHash).toString("hex"),
      note: checkpoint!.note,
    });
    const raw = receiver.received.find((r) => r.headers["x-attesto-event"] === "proofstream.checkpointed")!;
    const expected = createHmac("sha256", secret).update(`${raw.headers["x-attesto-timestamp"]}.`).update(raw.body).digest("hex");
    expect(raw.headers["x-attesto-signature"]).toBe(expected);

    const signer = await stolenSigner(app.database.db, app.keyring, stream!.id, stream!.origin);
    const forged = signNote(formatCheckpoint({ origin: stream!.origin, size: 3, root: Buffer.alloc(32, 5) }), signer);
    const { forkEvidenceId } = await ps.submitCheckpoint({ streamId: stream!.id, note: forged });
    const [fork] = await waitFor(() => {
      const found = bodies("proofstream.fork_detected");
      return found.length > 0 ? found : undefined;
    }, "a proofstream.fork_detected delivery");
    expect(fork!.data).toMatchObject({
      stream_id: stream!.id,
      fork_evidence_id: forkEvidenceId,
      kind: "same_size_different_root",
      source: "submitted_checkpoint",
      history_size: 3,
      conflicting_size: 3,
    });

    // Give B's checkpoint time to have been (wrongly) delivered, then make sure it was not.
    await new Promise((r) => setTimeout(r, 300));
    expect(bodies("proofstream.checkpointed").every((d) => d.tenant_id === a.tenantId && d.data.stream_id === stream!.id)).toBe(true);
  });
});
