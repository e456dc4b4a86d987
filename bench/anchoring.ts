// Anchoring benchmark (issue 13), in one process against a fresh database and
// a local anvil chain (automining):
//
//   - build and store a batch of BENCH_ANCHOR_CHECKPOINTS (default 100,000)
//     checkpoint notes: the RFC 9162 tree, every audit path and the member
//     rows; against a baseline that stores the same member rows without a
//     tree (what storage alone costs);
//   - checkpoints per second through batching, end to end: the batch builder's
//     scan of every stream's newest checkpoint, the batch, its one
//     transaction signed, stored and sent, and the tracker confirming it;
//     against a baseline of the scan alone.
//
// Streams and checkpoints are inserted directly in SQL (one tenant, one
// checkpoint per stream, notes of a real note's length). Rounds are
// interleaved (BENCH_ROUNDS, default 3); between rounds the anchor tables
// are emptied so every round anchors every stream again.
//
//   npm run bench:anchoring
import { randomBytes } from "node:crypto";
import { sql } from "drizzle-orm";
import { buildNextBatch } from "../src/anchoring/batch-builder.js";
import { storeBatch, type BatchCandidate } from "../src/anchoring/batch-rows.js";
import { Chain } from "../src/anchoring/chain.js";
import { ChainWriter } from "../src/anchoring/chain-writer.js";
import { startDevChain } from "../src/anchoring/devchain.js";
import { senderAccount } from "../src/anchoring/sender.js";
import { ConfirmationTracker } from "../src/anchoring/tracker.js";
import { Keyring } from "../src/crypto/keyring.js";
import { openDatabase } from "../src/db/db.js";
import type { JobRuntime } from "../src/jobs/runtime.js";
import { createLogger } from "../src/logger.js";
import { Proofstreams } from "../src/proofstream/module.js";
import { WebhookOutbox } from "../src/webhooks/outbox.js";
import { anchorMembers } from "../src/anchoring/schema.js";
import { benchDatabase, fmt, machine } from "./lib.js";

const N = Number(process.env.BENCH_ANCHOR_CHECKPOINTS ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

const streamId = (i: number) => `str_${String(i).padStart(26, "0")}`;
/** A C2SP checkpoint note's shape and length: origin, size, root, a blank line, one signature line. */
const noteOf = (i: number, root: Buffer) =>
  `bench.attesto.test/proofstreams/${streamId(i)}\n${i + 1}\n${root.toString("base64")}\n\n— bench.attesto.test/proofstreams/${streamId(i)} ${randomBytes(68).toString("base64")}\n`;

const timeIt = async (fn: () => Promise<unknown>) => {
  const started = performance.now();
  await fn();
  return performance.now() - started;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main() {
  const bench = await benchDatabase();
  const database = openDatabase({ url: bench.url, poolSize: 4 });
  const chainNode = await startDevChain();
  const logger = createLogger("warn");
  try {
    await database.migrate();
    const { db } = database;
    const tenantId = "ten_BENCH000000000000000000000";
    await db.execute(sql`INSERT INTO tenants (id, name) VALUES (${tenantId}, 'bench')`);
    const roots = Array.from({ length: N }, () => randomBytes(32));
    const candidates: BatchCandidate[] = roots.map((root, i) => ({
      tenantId,
      streamId: streamId(i),
      treeSize: i + 1,
      rootHash: root,
      note: noteOf(i, root),
      previousTreeSize: 0,
      consistencyProof: [],
    }));
    for (let at = 0; at < N; at += 5_000) {
      const slice = candidates.slice(at, at + 5_000);
      const rows = JSON.stringify(slice.map((c) => ({ s: c.streamId, n: c.treeSize, r: c.rootHash.toString("hex"), note: c.note })));
      await db.execute(sql`INSERT INTO streams (id, tenant_id, name, origin, tree_size, checkpoint_size)
        SELECT s, ${tenantId}, s, 'bench', n, n FROM jsonb_to_recordset(${rows}::jsonb) AS t(s text, n bigint)`);
      await db.execute(sql`INSERT INTO checkpoints (stream_id, tree_size, root_hash, note, key_id)
        SELECT s, n, decode(r, 'hex'), note, 1 FROM jsonb_to_recordset(${rows}::jsonb) AS t(s text, n bigint, r text, note text)`);
    }

    // Planner statistics for the bulk-loaded tables, as autovacuum would gather them.
    await db.execute(sql`ANALYZE streams`);
    await db.execute(sql`ANALYZE checkpoints`);

    const keyring = new Keyring(randomBytes(32));
    const events = new WebhookOutbox(db);
    // The batch builder reads through the facade; its jobs are never started here.
    const proofstreams = new Proofstreams(
      { db, keyring, jobs: undefined as unknown as JobRuntime, logger, events },
      {
        publicBaseUrl: () => "http://bench",
        tileCacheBytes: 1 << 20,
        leafCacheBytes: 1 << 20,
        headCacheMs: 0,
        checkpointIntervalMs: 1_000,
        receipts: { minIntervalMs: 20, maxWaitMs: 10_000 },
        selfAuditIntervalMs: 1_000,
        selfAuditSample: 0,
        selfAuditMaxLeaves: 1,
        bundles: { maxEvents: 1, pageSize: 1, chunkBytes: 1024, inlineBytes: 0 },
      },
    );
    const chain = new Chain(chainNode.url, chainNode.chainId);
    const account = await senderAccount(db, keyring, undefined);
    await chainNode.fund(account.address);
    const writer = new ChainWriter({ db, chain, account, logger });
    const tracker = new ConfirmationTracker({ db, chain, writer, events, logger }, { rule: "confirmations", confirmations: 1, orphanWindowMs: 3_600_000, replaceAfterMs: 3_600_000 });
    const reset = () => db.execute(sql`TRUNCATE anchor_members, anchor_transactions, anchor_batches`);

    const build: number[] = [];
    const storeOnly: number[] = [];
    const endToEnd: number[] = [];
    const scan: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      await reset();
      storeOnly.push(
        await timeIt(() =>
          db.transaction(async (tx) => {
            await tx.execute(sql`INSERT INTO anchor_batches (id, chain_id, root, member_count) VALUES ('bat_BASELINE', 1, '\\x00', ${N})`);
            for (let at = 0; at < N; at += 5_000) {
              await tx.insert(anchorMembers).values(
                candidates.slice(at, at + 5_000).map((c, i) => ({
                  batchId: "bat_BASELINE",
                  leafIndex: at + i,
                  tenantId,
                  streamId: c.streamId,
                  treeSize: c.treeSize,
                  rootHash: c.rootHash,
                  note: c.note,
                  auditPath: Buffer.alloc(0),
                  previousTreeSize: 0,
                  consistencyProof: Buffer.alloc(0),
                })),
              );
            }
          }),
        ),
      );
      await reset();
      build.push(await timeIt(() => db.transaction((tx) => storeBatch(tx, 1, candidates))));
      await reset();
      scan.push(
        await timeIt(async () => {
          let after = "";
          for (;;) {
            const page = await proofstreams.latestCheckpoints(after, 5_000);
            if (page.length < 5_000) break;
            after = page[page.length - 1]!.streamId;
          }
        }),
      );
      endToEnd.push(
        await timeIt(async () => {
          const built = await buildNextBatch({ db, proofstreams, logger }, { chainId: chain.chainId, maxMembers: N });
          if (built?.members !== N) throw new Error(`batch of ${built?.members}, expected ${N}`);
          await writer.submitNext();
          // The receipt may come a moment after the broadcast on a loaded machine: track until the batch is confirmed (a bounded number of rounds).
          let status: string | undefined;
          for (let round = 0; round < 50 && status !== "confirmed"; round++) {
            await tracker.track();
            [{ status }] = (await db.execute<{ status: string }>(sql`SELECT status FROM anchor_batches`)) as unknown as [{ status: string }];
          }
          if (status !== "confirmed") throw new Error(`batch ${status}, expected confirmed`);
        }),
      );
      const [{ n }] = (await db.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM anchor_transactions`)) as unknown as [{ n: number }];
      if (n !== 1) throw new Error(`${n} transactions for one batch`);
    }

    console.log(`anchoring bench: ${fmt(N)} checkpoints, ${ROUNDS} interleaved rounds (median), ${machine()}`);
    console.log(
      `  build + store one batch (tree, audit paths, members): ${fmt(median(build))} ms; baseline (members stored without a tree): ${fmt(median(storeOnly))} ms; ratio ${fmt(median(build) / median(storeOnly), 2)}×`,
    );
    console.log(
      `  through batching end to end (scan, batch, one transaction, confirmed): ${fmt(median(endToEnd))} ms = ${fmt(N / (median(endToEnd) / 1000))} checkpoints/s; baseline (the scan alone): ${fmt(median(scan))} ms; ratio ${fmt(median(endToEnd) / median(scan), 2)}×`,
    );
    console.log(`  one transaction per batch: ${fmt(N)} checkpoints cost the gas of one 36-byte calldata transaction`);
  } finally {
    await chainNode.stop();
    await database.close();
    await bench.drop();
  }
}

await main();
