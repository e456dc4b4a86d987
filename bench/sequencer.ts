// The append path alone on one PostgreSQL, without HTTP: 64 concurrent
// appenders' loops spread over 1, 2 or 3 Appenders (each stands for a
// process or an instance: its own pool and group commit), on one stream and
// on 100 streams. What it isolates is what processes that share a stream
// cost each other in the database (issue 29), apart from the CPU the HTTP
// edge needs. Rounds are interleaved (1, 2, 3 appenders, 1, ...); each
// figure is the median of the per-round ratios to one appender.
//
//   npm run bench:sequencer        (BENCH_SECONDS=5 BENCH_ROUNDS=3)
import { randomBytes } from "node:crypto";
import os from "node:os";
import { Keyring } from "../src/crypto/keyring.js";
import { openDatabase } from "../src/db/db.js";
import { Appender } from "../src/proofstream/append.js";
import { createStream } from "../src/proofstream/streams.js";
import { createTenant } from "../src/tenancy/tenants.js";
import { benchDatabase, fmt, machine, median } from "./lib.js";

const ROUNDS = Math.max(3, Number(process.env.BENCH_ROUNDS ?? 3));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CLIENTS = 64;
const OCCURRED = new Date("2026-06-07T12:00:00Z");

async function main() {
  console.log(`machine: ${machine()}`);
  const bench = await benchDatabase();
  const databases = [1, 2, 3].map(() => openDatabase({ url: bench.url, poolSize: 4 }));
  try {
    await databases[0]!.migrate();
    const db = databases[0]!.db;
    const tenantId = (await createTenant(db, `sequencer-${randomBytes(4).toString("hex")}`)).id;
    const keyring = new Keyring(randomBytes(32));
    const newStream = async (name: string) => (await createStream(db, keyring, { tenantId, name, publicBaseUrl: "https://attesto.example" })).id;
    const one = [await newStream("one")];
    const many = await Promise.all(Array.from({ length: 100 }, (_, i) => newStream(`many-${i}`)));
    let ref = 0;
    const run = async (appenders: Appender[], streams: string[]) => {
      let done = 0;
      let failed = 0;
      const end = performance.now() + SECONDS * 1000;
      await Promise.all(
        Array.from({ length: CLIENTS }, async (_, c) => {
          const appender = appenders[c % appenders.length]!;
          while (performance.now() < end) {
            const i = ref++;
            try {
              await appender.append({ tenantId, streamId: streams[i % streams.length]!, sourceRef: `s-${i}`, eventType: "bench", occurredAt: OCCURRED, payload: { i } });
              done++;
            } catch {
              failed++;
            }
          }
        }),
      );
      return { perSecond: done / SECONDS, failed };
    };
    const counts = [1, 2, 3];
    const figures = new Map<string, Map<number, number[]>>([
      ["1 stream", new Map(counts.map((n) => [n, []]))],
      ["100 streams", new Map(counts.map((n) => [n, []]))],
    ]);
    let failures = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (const n of counts) {
        // Fresh appenders each time: each starts cold, as a process that just started would.
        const appenders = databases.slice(0, n).map((d) => new Appender(d.db));
        for (const [name, streams] of [
          ["1 stream", one],
          ["100 streams", many],
        ] as const) {
          const { perSecond, failed } = await run(appenders, streams);
          failures += failed;
          figures.get(name)!.get(n)!.push(perSecond);
          process.stderr.write(`round ${round + 1}, ${n} appender(s), ${name}: ${fmt(perSecond)}/s\n`);
        }
      }
    }
    console.log(
      `${ROUNDS} interleaved rounds of ${SECONDS} s, ${CLIENTS} concurrent appends; load average ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}${failures ? `; ${failures} appends failed` : ""}`,
    );
    for (const [name, byCount] of figures) {
      const base = byCount.get(1)!;
      for (const n of counts) {
        const runs = byCount.get(n)!;
        const ratios = runs.map((r, i) => r / base[i]!);
        console.log(
          `${name.padEnd(12)} ${n} appender(s): ${fmt(median(runs)).padStart(6)}/s${n === 1 ? "" : `  ÷ one: ${median(ratios).toFixed(2)} × (rounds: ${ratios.map((r) => r.toFixed(2)).join(", ")})`}`,
        );
      }
    }
  } finally {
    await Promise.all(databases.map((d) => d.close()));
    await bench.drop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:sequencer failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
