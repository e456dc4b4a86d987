// Bundle benchmark (issue 12). On one server process (spawned, so its RSS is
// its own) over a stream of BENCH_BUNDLE_EVENTS events (default 1,000,000)
// inserted directly in SQL, with tiles computed here:
//
//   - build a 100,000-event bundle (payloads included), server-side time,
//     against a baseline: reading the same rows once (COPY ... TO STDOUT);
//   - verify it with the compiled CLI (`node bin/attesto.js verify --key`, a
//     new process; the bench runs `npm run build` first), against
//     a baseline process that only reads and JSON.parses the file;
//   - verify it in the /verify page in headless Chromium (the time the page
//     reports), against JSON.parse of the same text in the page;
//   - build a bundle of the whole stream and sample the server's RSS.
//
// The 100,000-event figures run BENCH_ROUNDS (default 3) interleaved rounds.
//
//   npm run bench:bundles        (BENCH_BUNDLE_EVENTS=1000000 BENCH_ROUNDS=3; BENCH_SKIP_BUILD=1 reuses dist/)
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import postgres from "postgres";
import { chromium } from "playwright-core";
import { appendToTiles } from "../src/proofstream/merkle/tiles.js";
import { benchDatabase, benchTenant, fmt, machine, ROOT, rpc, spawnNode, stop } from "./lib.js";

const EVENTS = Number(process.env.BENCH_BUNDLE_EVENTS ?? 1_000_000);
const RANGE = Math.min(100_000, EVENTS);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ADMIN = `bench-admin-${randomBytes(8).toString("hex")}`;

const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) * 1024;

function timed(cmd: string, args: string[]): Promise<{ ms: number; code: number; stdout: string }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, LOG_LEVEL: "warn" } });
    let stdout = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.once("error", reject);
    child.once("exit", (code) => resolve({ ms: performance.now() - started, code: code ?? -1, stdout }));
  });
}

/** The stream's events straight into Postgres (leaf bytes as the appender writes them), then its tiles. */
async function loadStream(sql: postgres.Sql, streamId: string): Promise<void> {
  for (let from = 1; from <= EVENTS; from += 100_000) {
    const to = Math.min(from + 99_999, EVENTS);
    await sql`
      INSERT INTO events (stream_id, seq_no, source_ref, event_type, occurred_at, received_at, payload, payload_sha256, leaf, leaf_hash)
      SELECT ${streamId}, n, 'bench-' || n, 'bench.event', ts, ts, jsonb_build_object('i', n), ph, leaf, sha256('\\x00'::bytea || leaf)
      FROM (
        SELECT n, ts, ph, convert_to(format('{"event_type":"bench.event","occurred_at":"%s","payload_sha256":"%s","received_at":"%s","seq_no":%s,"source_ref":"bench-%s","stream_id":"%s","v":1}', t, ph, t, n, n, ${streamId}::text), 'UTF8') AS leaf
        FROM (
          SELECT n, '2026-06-07T12:00:00.000Z' AS t, timestamptz '2026-06-07T12:00:00Z' AS ts, encode(sha256(convert_to('{"i":' || n || '}', 'UTF8')), 'hex') AS ph
          FROM generate_series(${from}::bigint, ${to}::bigint) AS n
        ) a
      ) b`;
  }
  const hashes: Buffer[] = [];
  await sql`SELECT leaf_hash FROM events WHERE stream_id = ${streamId} ORDER BY seq_no`.cursor(50_000, (rows) => {
    for (const r of rows) hashes.push(r.leaf_hash as Buffer);
  });
  const tiles = appendToTiles(0, hashes, () => Buffer.alloc(0));
  for (let i = 0; i < tiles.length; i += 1000) {
    await sql`INSERT INTO tiles ${sql(tiles.slice(i, i + 1000).map((t) => ({ stream_id: streamId, level: t.level, idx: t.index, hashes: t.hashes })))}`;
  }
  await sql`UPDATE streams SET tree_size = ${EVENTS} WHERE id = ${streamId}`;
}

interface BundleMsg {
  bundle: { id: string; status: string; createdAt: string; completedAt?: string; downloadUrl: string; sizeBytes?: string };
}

async function buildBundle(url: string, key: string, streamId: string, to: number, payloads: boolean, onTick?: () => void) {
  const { bundle } = await rpc<BundleMsg>(url, "ProofstreamService/CreateBundle", { streamId, fromSeqNo: "1", toSeqNo: String(to), includePayloads: payloads }, key);
  for (;;) {
    onTick?.();
    const { bundle: b } = await rpc<BundleMsg>(url, "ProofstreamService/GetBundle", { bundleId: bundle.id }, key);
    if (b.status === "BUNDLE_STATUS_READY") return { ...b, serverMs: Date.parse(b.completedAt!) - Date.parse(b.createdAt) };
    if (b.status === "BUNDLE_STATUS_FAILED") throw new Error(`bundle ${b.id} failed`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function main() {
  console.log(
    `bundles bench on ${machine()}, load average ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")}`,
  );
  // The CLI is measured as users run it: compiled (bin/attesto.js), not through tsx.
  if (!process.env.BENCH_SKIP_BUILD) {
    const build = await timed("npm", ["run", "build", "--silent"]);
    if (build.code !== 0) throw new Error(`npm run build failed: ${build.stdout}`);
    const pkg = await timed("npx", ["tsx", "packages/verify/build.ts"]);
    if (pkg.code !== 0) throw new Error(`packages/verify build failed: ${pkg.stdout}`);
  }
  const db = await benchDatabase();
  const sql = postgres(db.url, { max: 2, onnotice: () => {} });
  const dir = path.join(os.tmpdir(), `attesto-bench-bundles-${process.pid}`);
  const { child, match } = await spawnNode(
    ["src/cli/main.ts", "--json", "serve", "--port", "0", "--workers", "1"],
    {
      DATABASE_URL: db.url,
      REDIS_URL: process.env.ATTESTO_TEST_REDIS_URL ?? "redis://127.0.0.1:6379",
      ATTESTO_QUEUE_PREFIX: `bench_bundles_${process.pid}`,
      ATTESTO_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
      ATTESTO_ADMIN_TOKEN: ADMIN,
      ATTESTO_DEV_TENANT: "false",
      ATTESTO_CHECKPOINT_INTERVAL_MS: "3600000",
      ATTESTO_DB_POOL: "4",
      // Public downloads, so the page can fetch the bundle as a verification_url makes it do.
      ATTESTO_TILES_PUBLIC: "true",
      LOG_LEVEL: "warn",
    },
    /"url": "([^"]+)"/,
  );
  const url = match[1]!;
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"] });
  try {
    const { key } = await benchTenant(url, ADMIN);
    const { stream } = await rpc<{ stream: { id: string; verifierKey: string } }>(url, "ProofstreamService/CreateStream", { name: "bench" }, key);
    let started = performance.now();
    await loadStream(sql, stream.id);
    await rpc(url, "ProofstreamService/CreateCheckpoint", { streamId: stream.id }, key);
    console.log(`setup: ${fmt(EVENTS)} events inserted in SQL, tiles and checkpoint in ${fmt((performance.now() - started) / 1000, 1)} s`);

    await (await import("node:fs/promises")).mkdir(dir, { recursive: true });
    const file = path.join(dir, "bundle.json");
    const page = await browser.newPage();
    const rows: Array<{ build: number; read: number; cli: number; pkgCli: number; parse: number; page: number; pageParse: number }> = [];
    for (let round = 1; round <= ROUNDS; round++) {
      // Baseline first, then the bundle, alternating in every round.
      started = performance.now();
      // COPY takes no parameters; the stream id is a server-made ULID id.
      const copy = await sql
        .unsafe(
          `COPY (SELECT seq_no, source_ref, event_type, occurred_at, received_at, payload, payload_sha256, leaf_hash FROM events WHERE stream_id = '${stream.id}' AND seq_no <= ${RANGE} ORDER BY seq_no) TO STDOUT`,
        )
        .readable();
      for await (const _ of copy) void _;
      const read = performance.now() - started;
      const built = await buildBundle(url, key, stream.id, RANGE, true);
      const res = await fetch(`${url}${new URL(built.downloadUrl).pathname}`, { headers: { Authorization: `Bearer ${key}` } });
      const text = await res.text();
      await writeFile(file, text);

      const parse = await timed(process.execPath, ["-e", `JSON.parse(require("node:fs").readFileSync(${JSON.stringify(file)}, "utf8"))`]);
      const cli = await timed(process.execPath, ["bin/attesto.js", "verify", file, "--key", stream.verifierKey]);
      if (cli.code !== 0) throw new Error(`attesto verify exited ${cli.code}: ${cli.stdout}`);
      // The installable verifier's command (packages/verify), as `npx attesto-verify` runs it.
      const pkgCli = await timed(process.execPath, ["packages/verify/dist/cli.js", file, "--key", stream.verifierKey]);
      if (pkgCli.code !== 0) throw new Error(`attesto-verify exited ${pkgCli.code}: ${pkgCli.stdout}`);

      // The page as a verification_url opens it: it fetches the bundle from this server (public downloads
      // here) and verifies it in the browser; the page reports its own verification time.
      await page.goto(`${url}/verify?bundle=${built.id}&key=${encodeURIComponent(stream.verifierKey)}`);
      await page.waitForSelector("#verdict[data-valid=true]", { timeout: 600_000 });
      const pageMs = Number(/Checked in (\d+) ms/.exec((await page.textContent("#summary")) ?? "")![1]);
      const pageParse = await page.evaluate(async (path) => {
        const t = await (await fetch(path)).text();
        const s = performance.now();
        JSON.parse(t);
        return performance.now() - s;
      }, new URL(built.downloadUrl).pathname);
      rows.push({ build: built.serverMs, read, cli: cli.ms, pkgCli: pkgCli.ms, parse: parse.ms, page: pageMs, pageParse });
      console.log(
        `round ${round}: build ${fmt(built.serverMs)} ms (read baseline ${fmt(read)} ms), ${fmt(Number(built.sizeBytes) / 2 ** 20, 1)} MiB; ` +
          `CLI verify ${fmt(cli.ms)} ms, attesto-verify ${fmt(pkgCli.ms)} ms (read+parse process ${fmt(parse.ms)} ms); page ${fmt(pageMs)} ms (JSON.parse in page ${fmt(pageParse)} ms)`,
      );
    }
    const median = (k: keyof (typeof rows)[number]) => [...rows.map((r) => r[k])].sort((a, b) => a - b)[Math.floor(rows.length / 2)]!;
    console.log(`\n${fmt(RANGE)}-event bundle, medians of ${ROUNDS} rounds:`);
    console.log(`  build (server)    ${fmt(median("build"))} ms   = ${fmt(median("build") / median("read"), 1)} × reading the rows once      (target ≤ 5,000 ms)`);
    console.log(`  CLI verify        ${fmt(median("cli"))} ms   = ${fmt(median("cli") / median("parse"), 1)} × a process that only parses it   (target ≤ 2,000 ms)`);
    console.log(`  attesto-verify    ${fmt(median("pkgCli"))} ms   = ${fmt(median("pkgCli") / median("parse"), 1)} × a process that only parses it   (target ≤ 2,000 ms)`);
    console.log(`  page verify       ${fmt(median("page"))} ms   = ${fmt(median("page") / median("pageParse"), 1)} × JSON.parse in the page           (target ≤ 5,000 ms)`);

    // RSS of the server while it builds a bundle of the whole stream.
    const pid = child.pid!;
    const before = rssOf(pid);
    let peak = before;
    started = performance.now();
    const whole = await buildBundle(url, key, stream.id, EVENTS, false, () => (peak = Math.max(peak, rssOf(pid))));
    console.log(
      `\n${fmt(EVENTS)}-event bundle: built in ${fmt((performance.now() - started) / 1000, 1)} s, ${fmt(Number(whole.sizeBytes) / 2 ** 20)} MiB; ` +
        `server RSS ${fmt(before / 2 ** 20)} MiB before, peak ${fmt(peak / 2 ** 20)} MiB: growth ${fmt((peak - before) / 2 ** 20)} MiB (target < 100 MiB)`,
    );
  } finally {
    await browser.close();
    await stop(child);
    await sql.end();
    await db.drop();
    await (await import("node:fs/promises")).rm(dir, { recursive: true, force: true });
  }
}

await main();
