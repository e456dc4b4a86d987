// Many streams, each written rarely (issue 32): AppendEvent round-robin over
// N streams against one stream, cold rounds and warm rounds apart, and
// CreateStream against AppendEvent on one stream; every comparison as
// interleaved rounds (one stream, subject, one stream, subject, …) in the
// same run, against the same `serve --workers 1`.
//
// A cold round: every append meets a stream the server has not written
// since it started (streams made beforehand, each holding a few events
// written by another process, so its state is only in the database). A warm
// round: round-robin over the N streams after an untimed lap over all of
// them. Each round starts once the server has signed a checkpoint for every
// stream that grew before it (the periodic signer runs in the server), so
// neither side pays for the signing of what came before it.
//
//   npm run bench:streams
//   BENCH_STREAM_COUNTS=100,10000 BENCH_SECONDS=3 npm run bench:streams
import { randomBytes } from "node:crypto";
import { sql } from "drizzle-orm";
import os from "node:os";
import { openDatabase } from "../src/db/db.js";
import { Appender } from "../src/proofstream/append.js";
import { type LoadResult, benchDatabase, benchTenant, fmt, load, machineLine, rpc, serveEnv, spawnNode, stop, median } from "./lib.js";

process.env.BENCH_SECONDS ??= "5";
const SECONDS = Number(process.env.BENCH_SECONDS);
const ROUNDS = Math.max(3, Number(process.env.BENCH_ROUNDS ?? 3));
const COUNTS = (process.env.BENCH_STREAM_COUNTS ?? "100,10000,100000").split(",").map(Number);
/** Events each cold stream holds before its timed append (written by this process, not the server). */
const COLD_EVENTS = Number(process.env.BENCH_COLD_EVENTS ?? 3);
const ADMIN = `bench-admin-${randomBytes(8).toString("hex")}`;
const OCCURRED = new Date("2026-06-07T12:00:00Z");

interface Row {
  name: string;
  baseline: string;
  target?: number;
  rounds: Array<{ base: LoadResult; subject: LoadResult }>;
}

async function main() {
  console.log(machineLine());
  console.log(`rounds: ${ROUNDS} interleaved per comparison, ${SECONDS} s each, 64 connections (autocannon in this process); serve --workers 1; stream counts ${COUNTS.map((n) => fmt(n)).join(", ")}`);
  const db = await benchDatabase();
  const database = openDatabase({ url: db.url, poolSize: 4 });
  try {
    const server = await spawnNode(
      ["src/cli/main.ts", "--json", "serve", "--port", "0", "--workers", "1"],
      {
        ...serveEnv(db.url, ADMIN, "streams"),
        // The paths are measured, not the tenant's budget: making 100,000 streams passes CreateStream's default 1,000/s.
        ATTESTO_RATE_LIMIT_DEFAULT: "1000000/1s",
        // BENCH_SIGNER=off: no periodic signing in the run (the append path alone; signing 100,000 grown streams takes minutes).
        ...(process.env.BENCH_SIGNER === "off" ? { ATTESTO_CHECKPOINT_INTERVAL_MS: String(24 * 3600_000) } : {}),
      },
      /"url": "([^"]+)"/,
    );
    const url = server.match[1]!;
    const { tenant, key } = await benchTenant(url, ADMIN);
    const headers = { "Content-Type": "application/json", Authorization: `Bearer ${key}` };
    const failed = (r: LoadResult) => r.errors + r.non2xx;

    /** CreateStream under load for `seconds` (or until `amount` streams); the ids made go to `into`. */
    const createLoad = (into: string[], opts: { amount?: number } = {}) =>
      load({
        url: `${url}/attesto.v1.ProofstreamService/CreateStream`,
        method: "POST",
        headers,
        ...(opts.amount !== undefined ? { amount: opts.amount, connections: Math.min(64, opts.amount) } : {}),
        requests: [
          {
            setupRequest: (req) => ({ ...req, body: JSON.stringify({ name: "bench" }) }),
            onResponse: (status, body) => {
              if (status === 200) into.push((JSON.parse(body) as { stream: { id: string } }).stream.id);
            },
          },
        ],
      });
    const created = async (count: number) => {
      const ids: string[] = [];
      while (ids.length < count) {
        const r = await createLoad(ids, { amount: count - ids.length });
        if (failed(r) > 0) throw new Error(`CreateStream failed ${failed(r)} times`);
      }
      return ids;
    };

    const tag = randomBytes(4).toString("hex");
    let n = 0;
    /**
     * Round-robin over `streams` from `cursor.at` for the round's duration;
     * with `once`, one lap instead (an append per stream, untimed: autocannon
     * counts the last partial second of an amount as a whole one).
     */
    const appendLoad = (streams: readonly string[], cursor = { at: 0 }, opts: { once?: boolean } = {}) =>
      load({
        url: `${url}/attesto.v1.ProofstreamService/AppendEvent`,
        method: "POST",
        headers,
        // An amount overrides the duration (autocannon).
        ...(opts.once ? { amount: Math.max(64, streams.length - cursor.at) } : {}),
        requests: [
          {
            setupRequest: (req) => {
              const i = n++;
              const streamId = streams[cursor.at++ % streams.length];
              return { ...req, body: JSON.stringify({ streamId, sourceRef: `s-${tag}-${i}`, eventType: "bench.event", occurredAt: OCCURRED.toISOString(), payload: { i, tag } }) };
            },
          },
        ],
      });

    /** Streams the server never wrote: made through the RPC, then given a few events by an appender in this process. */
    const coldStreams = async (count: number) => {
      const ids = await created(count);
      const appender = new Appender(database.db, { maxBatch: 4096 });
      for (let at = 0; at < ids.length; at += 4096) {
        await Promise.all(
          ids
            .slice(at, at + 4096)
            .flatMap((streamId) =>
              Array.from({ length: COLD_EVENTS }, (_, e) => appender.append({ tenantId: tenant.id, streamId, sourceRef: `pre-${e}`, eventType: "bench.event", occurredAt: OCCURRED, payload: { e } })),
            ),
        );
      }
      return ids;
    };

    /**
     * Waits until the server has signed a checkpoint for every stream that
     * grew: events written outside the timed rounds (a cold pool, a lap) are
     * signed for in the background, and a round must not pay for them.
     */
    const signedUp = async () => {
      if (process.env.BENCH_SIGNER === "off") return;
      for (const started = Date.now(); Date.now() - started < 300_000; await new Promise((r) => setTimeout(r, 500))) {
        const [row] = await database.db.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM streams WHERE checkpoint_size < tree_size`);
        if (row!.n === 0) return;
      }
      throw new Error("the server did not sign up to date within 300 s");
    };

    const one = (await rpc<{ stream: { id: string } }>(url, "ProofstreamService/CreateStream", { name: "one" }, key)).stream.id;
    const oneLoad = () => appendLoad([one]);
    console.error("warming up");
    await oneLoad();

    const rows: Row[] = [];
    const interleave = async (row: Omit<Row, "rounds">, before: () => Promise<void>, subject: () => Promise<LoadResult>) => {
      const rounds: Row["rounds"] = [];
      for (let i = 0; i < ROUNDS; i++) {
        await before();
        // Neither side pays for the checkpoints of what came before it.
        await signedUp();
        const base = await oneLoad();
        const s = await subject();
        rounds.push({ base, subject: s });
        console.error(
          `  ${row.name} round ${i + 1}: ${fmt(s.requestsPerSecond)} vs ${fmt(base.requestsPerSecond)} req/s (${fmt(s.total)} requests) = ${fmt(s.requestsPerSecond / base.requestsPerSecond, 2)}`,
        );
      }
      rows.push({ ...row, rounds });
    };

    // CreateStream ÷ AppendEvent on one stream.
    const made: string[] = [];
    await interleave(
      { name: "CreateStream", baseline: "AppendEvent, 1 stream", target: 0.5 },
      async () => {},
      () => createLoad(made),
    );

    let expectedRate = Math.max(...rows[0]!.rounds.map((r) => r.base.requestsPerSecond));
    for (const count of COUNTS) {
      console.error(`${fmt(count)} streams: creating them and an untimed lap`);
      const warm = await created(count);
      const lap = { at: 0 };
      await appendLoad(warm, lap, { once: true });
      // Cold: each round gets streams enough that it never reaches a stream twice (checked after the round).
      let cold: string[] = [];
      const coldCursor = { at: 0 };
      await interleave(
        { name: `AppendEvent, ${fmt(count)} streams, cold`, baseline: "AppendEvent, 1 stream", target: count === 10_000 ? 0.9 : undefined },
        async () => {
          cold = await coldStreams(Math.ceil(expectedRate * SECONDS * 2) + 64);
          coldCursor.at = 0;
        },
        async () => {
          const r = await appendLoad(cold, coldCursor);
          if (coldCursor.at > cold.length) throw new Error(`a cold round ran out of cold streams (${fmt(coldCursor.at)} appends, ${fmt(cold.length)} streams)`);
          expectedRate = Math.max(expectedRate, r.requestsPerSecond);
          return r;
        },
      );
      await interleave(
        { name: `AppendEvent, ${fmt(count)} streams, warm`, baseline: "AppendEvent, 1 stream", target: count === 10_000 ? 0.9 : undefined },
        async () => {},
        () => appendLoad(warm, lap),
      );
    }
    await stop(server.child);

    console.log(
      `\nload average after: ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}`,
    );
    console.log("\n| subject | baseline | subject req/s (median) | baseline req/s (median) | ratio per round | median ratio | target | subject p99 ms (median) | failed requests | met |");
    console.log("|---|---|---:|---:|---|---:|---:|---:|---:|---|");
    for (const row of rows) {
      const ratios = row.rounds.map((r) => r.subject.requestsPerSecond / r.base.requestsPerSecond);
      const ratio = median(ratios);
      const failures = row.rounds.reduce((t, r) => t + failed(r.subject) + failed(r.base), 0);
      const met = row.target === undefined ? "–" : ratio >= row.target && failures === 0 ? "yes" : "no";
      console.log(
        `| ${row.name} | ${row.baseline} | ${fmt(median(row.rounds.map((r) => r.subject.requestsPerSecond)))} | ${fmt(median(row.rounds.map((r) => r.base.requestsPerSecond)))} | ${ratios.map((x) => fmt(x, 2)).join(", ")} | **${fmt(ratio, 2)}** | ${row.target === undefined ? "reported" : `≥ ${fmt(row.target, 1)}`} | ${fmt(median(row.rounds.map((r) => r.subject.p99Ms)), 1)} | ${failures} | ${met} |`,
      );
    }
  } finally {
    await database.close();
    await db.drop();
  }
}

await main();
process.exit(0);
