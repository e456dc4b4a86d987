// What a tenant's program does with Attesto, end to end, over the typed
// client: create a stream, append events, have a checkpoint signed, fetch an
// inclusion and a consistency proof, and verify all of it locally against
// the stream's verifier key, trusting nothing the server says without
// checking it.
//
//   ATTESTO_URL=http://127.0.0.1:8080 ATTESTO_API_KEY=atk_… npx tsx --conditions=source examples/ts/quickstart.ts
//
// (`--conditions=source` runs the client from source; after `npm run build`
// plain `node`/`tsx` use dist/.) Prints one JSON line; exits 1 if a check fails.
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { createAttestoClient } from "attesto/client";
import { openNote, parseCheckpoint, parseVerifierKey, verifyConsistency, verifyInclusion, type CheckpointBody } from "attesto/verify";

const baseUrl = process.env.ATTESTO_URL ?? "http://127.0.0.1:8080";
const apiKey = process.env.ATTESTO_API_KEY;
if (!apiKey) {
  console.error("set ATTESTO_API_KEY to a tenant API key (npm start prints the development one)");
  process.exit(2);
}
const attesto = createAttestoClient({ baseUrl, apiKey });

function check(ok: boolean, what: string): void {
  if (!ok) {
    console.error(`FAILED: ${what}`);
    process.exit(1);
  }
}

// 1. A stream. Its verifier key is what a verifier pins (handed over out of band).
const { stream } = await attesto.proofstreams.createStream({ name: `quickstart-${Date.now()}` });
const verifier = parseVerifierKey(stream!.verifierKey);
check(verifier.name === stream!.origin, "the verifier key names the stream's origin");

// 2. Events. source_ref makes each append idempotent.
const append = (n: number) =>
  attesto.proofstreams.appendEvent({
    streamId: stream!.id,
    sourceRef: `order-${n}`,
    eventType: "order.paid",
    occurredAt: timestampFromDate(new Date(Date.UTC(2026, 0, n, 12))),
    payload: { order: `order-${n}`, amount: n * 100, currency: "EUR" },
  });
const appended = [];
for (let n = 1; n <= 5; n++) appended.push((await append(n)).event!);
const again = await append(3);
check(again.duplicate && again.event!.seqNo === appended[2]!.seqNo, "appending the same source_ref again returns the original event");

/** A checkpoint note, opened with the pinned key only. */
function signedCheckpoint(note: string): CheckpointBody {
  const opened = openNote(note, [verifier]);
  check(opened.verifiedBy.length === 1, "the checkpoint is signed by the stream's key");
  const body = parseCheckpoint(opened.text);
  check(body.origin === stream!.origin, "the checkpoint names the stream's origin");
  return body;
}

// 3. A signed checkpoint of the 5 events.
const first = signedCheckpoint((await attesto.proofstreams.createCheckpoint({ streamId: stream!.id })).checkpoint!.note);
check(first.size === 5, "the checkpoint covers the 5 events");

// 4. Event 3 is in that tree.
const { proof: inclusion } = await attesto.proofstreams.getInclusionProof({ streamId: stream!.id, leaf: { case: "seqNo", value: 3n }, treeSize: 5n });
check(verifyInclusion(Number(inclusion!.leafIndex), Number(inclusion!.treeSize), appended[2]!.leafHash, inclusion!.auditPath, first.root), "the inclusion proof places event 3 under the signed root");

// 5. More events, a later checkpoint, and proof that it extends the first one.
for (let n = 6; n <= 8; n++) await append(n);
const second = signedCheckpoint((await attesto.proofstreams.createCheckpoint({ streamId: stream!.id })).checkpoint!.note);
check(second.size === 8, "the second checkpoint covers 8 events");
const { proof: consistency } = await attesto.proofstreams.getConsistencyProof({ streamId: stream!.id, fromSize: 5n, toSize: 8n });
check(verifyConsistency(first.size, second.size, consistency!.consistencyPath, first.root, second.root), "the tree of 8 extends the tree of 5 (history was not rewritten)");

console.log(JSON.stringify({ ok: true, streamId: stream!.id, origin: stream!.origin, checkpoints: [first.size, second.size], inclusion: "verified", consistency: "verified" }));
