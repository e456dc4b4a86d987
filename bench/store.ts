// Store verification benchmark:
//
//   - Apple lookup: VerifyAppleTransaction at 64 concurrent callers through
//     an `attesto serve` child process to a loopback App Store Server API
//     (this process), which checks the request JWT and answers a JWS signed
//     by a local chain. Baseline, in the same run and interleaved: the same
//     64 callers asking the fake directly (its own latency and the network
//     path). Added latency = Attesto − baseline, p50 and p99.
//   - Server CPU per lookup (the serve process tree, from /proc) against the
//     least work a lookup needs, in the same rounds: sign one ES256 JWT, one
//     request on a kept-alive connection to the fake, verify the answer's JWS
//     with a cached chain (bench/store-least-work.ts, a process of its own so
//     its CPU is not the fake's).
//   - VerifyAppleSignedData: verifies/s of the Apple JWS verifier on one
//     process, a repeated chain (the chain cache hits) against a new chain
//     per call (every call parses three certificates and checks the chain).
//
//   npm run bench:store     (BENCH_LOOKUPS=3000 per round, BENCH_ROUNDS=3)
//
// Needs PostgreSQL (ATTESTO_TEST_DATABASE_URL, default the local one; a fresh
// database is made and dropped) and Redis (127.0.0.1:6379 or REDIS_URL).
import "reflect-metadata";
import { generateKeyPairSync, randomBytes, X509Certificate } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Pool } from "undici";
import { AppleJwsVerifier } from "../src/store/apple/jws-verifier.js";
import { appleApiToken } from "../src/store/apple/server-api.js";
import { makeAppleChain, transactionPayload, type TestAppleChain } from "../test/support/apple-chain.js";
import { FakeAppStore } from "../test/support/fake-app-store.js";
import { benchDatabase, closedLoop, fmt, machine, percentile, rpcPath, spawnNode, stop, treeCpuSeconds } from "./lib.js";

const LOOKUPS = Number(process.env.BENCH_LOOKUPS ?? 3_000);
const ROUNDS = Math.max(3, Number(process.env.BENCH_ROUNDS ?? 3));
const CONCURRENCY = 64;
const VERIFIES = Number(process.env.BENCH_VERIFIES ?? 10_000);
const NEW_CHAINS = Number(process.env.BENCH_NEW_CHAINS ?? 400);
const ADMIN = "bench-operator-token-0123456789";
/** The fake's own answer delay (Apple's is tens of ms); 0 measures Attesto's CPU cost at saturation. */
const FAKE_DELAY_MS = Number(process.env.BENCH_FAKE_DELAY_MS ?? 0);
const SEQUENTIAL = 200;

async function rpc<T>(pool: Pool, method: string, body: unknown, token: string): Promise<T> {
  const res = await pool.request({
    method: "POST",
    path: rpcPath(method),
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`${method}: ${res.statusCode} ${text.slice(0, 200)}`);
  return JSON.parse(text) as T;
}

async function appleLookup(chain: TestAppleChain, dir: string) {
  const fake = await new FakeAppStore(chain).start();
  fake.delayMs = FAKE_DELAY_MS;
  const db = await benchDatabase();
  const rootFile = path.join(dir, "root.pem");
  await writeFile(rootFile, chain.root.pem);
  const server = await spawnNode(
    ["src/cli/main.ts", "--json", "serve", "--port", "0", "--workers", "1"],
    {
      DATABASE_URL: db.url,
      ATTESTO_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
      ATTESTO_ADMIN_TOKEN: ADMIN,
      ATTESTO_QUEUE_PREFIX: `bench-store-${process.pid}`,
      ATTESTO_DATA_DIR: path.join(dir, "data"),
      ATTESTO_DEV_TENANT: "false",
      ATTESTO_APPLE_ROOT_CERTS: rootFile,
      ATTESTO_APPLE_API_PRODUCTION_URL: fake.productionUrl,
      ATTESTO_APPLE_API_SANDBOX_URL: fake.sandboxUrl,
      // The verification path is measured, not the tenant's budget (bench:ratelimit measures the limiter).
      ATTESTO_RATE_LIMITS: "false",
      LOG_LEVEL: "warn",
    },
    /"url": "([^"]+)"/,
  );
  const url = server.match[1]!;
  const pool = new Pool(url, { connections: CONCURRENCY });
  const fakePool = new Pool(fake.url, { connections: CONCURRENCY });
  try {
    const { tenant } = await rpc<{ tenant: { id: string } }>(pool, "AdminService/CreateTenant", { name: "bench" }, ADMIN);
    const { secret: key } = await rpc<{ secret: string }>(pool, "AdminService/CreateApiKey", { tenantId: tenant.id, name: "bench" }, ADMIN);
    const privateKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const credentials = {
      bundleId: "com.example.app",
      keyId: "BENCHKEY01",
      issuerId: "bench-issuer",
      environment: "production" as const,
      acceptedEnvironments: ["production" as const, "sandbox" as const],
    };
    await rpc(pool, "AdminService/PutAppleCredentials", { tenantId: tenant.id, ...credentials, privateKeyPem: pem, environment: "APPLE_ENVIRONMENT_PRODUCTION", acceptedEnvironments: [] }, ADMIN);
    fake.registerPem(credentials.keyId, credentials.issuerId, credentials.bundleId, pem);
    fake.transactions.production.set("1000000000000001", transactionPayload({ transactionId: "1000000000000001", environment: "Production" }));
    const token = await appleApiToken({ ...credentials, privateKey });

    const direct = async () => {
      const res = await fakePool.request({ method: "GET", path: "/production/inApps/v1/transactions/1000000000000001", headers: { authorization: `Bearer ${token}` } });
      await res.body.text();
      if (res.statusCode !== 200) throw new Error(`fake answered ${res.statusCode}`);
    };
    const through = async () => {
      const answer = await rpc<{ purchase: { valid: boolean } }>(pool, "StoreVerificationService/VerifyAppleTransaction", { transactionId: "1000000000000001" }, key);
      if (!answer.purchase.valid) throw new Error("lookup not valid");
    };
    // Warm-up: connections, JIT, credential and chain caches.
    await closedLoop(300, direct, CONCURRENCY);
    await closedLoop(300, through, CONCURRENCY);

    type Row = { round: number | string; base: { p50: number; p99: number; rps: number }; attesto: { p50: number; p99: number; rps: number } };
    const rows: Row[] = [];
    const cpu: Array<{ attesto: number; leastWork: number }> = [];
    const leastWorkEnv = {
      LEAST_WORK_LOOKUPS: String(LOOKUPS),
      LEAST_WORK_CONCURRENCY: String(CONCURRENCY),
      LEAST_WORK_BUNDLE: credentials.bundleId,
      LEAST_WORK_KEY_ID: credentials.keyId,
      LEAST_WORK_ISSUER: credentials.issuerId,
      LEAST_WORK_PEM: pem,
      LEAST_WORK_ROOT: rootFile,
      LEAST_WORK_FAKE_URL: fake.url,
      LEAST_WORK_PATH: "/production/inApps/v1/transactions/1000000000000001",
    };
    for (let round = 1; round <= ROUNDS; round++) {
      const base = await closedLoop(LOOKUPS, direct, CONCURRENCY);
      const cpuBefore = treeCpuSeconds(server.child.pid!);
      const att = await closedLoop(LOOKUPS, through, CONCURRENCY);
      const attestoCpu = (treeCpuSeconds(server.child.pid!) - cpuBefore) / LOOKUPS;
      const least = await spawnNode(["bench/store-least-work.ts"], leastWorkEnv, /^RESULT (.*)$/m);
      const { cpuSeconds } = JSON.parse(least.match[1]!) as { cpuSeconds: number };
      cpu.push({ attesto: attestoCpu, leastWork: cpuSeconds / LOOKUPS });
      rows.push({
        round,
        base: { p50: percentile(base.latencies, 50), p99: percentile(base.latencies, 99), rps: base.perSecond },
        attesto: { p50: percentile(att.latencies, 50), p99: percentile(att.latencies, 99), rps: att.perSecond },
      });
    }
    // One caller at a time: the cost of a lookup without queueing, beside the saturated figures.
    const sequential: Row[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const base = await closedLoop(SEQUENTIAL, direct, 1);
      const att = await closedLoop(SEQUENTIAL, through, 1);
      sequential.push({
        round: `${round} (1 caller)`,
        base: { p50: percentile(base.latencies, 50), p99: percentile(base.latencies, 99), rps: base.perSecond },
        attesto: { p50: percentile(att.latencies, 50), p99: percentile(att.latencies, 99), rps: att.perSecond },
      });
    }
    return { rows, sequential, cpu };
  } finally {
    await pool.close();
    await fakePool.close();
    await stop(server.child);
    await fake.close();
    await db.drop();
  }
}

async function signedDataThroughput(chain: TestAppleChain) {
  const pinnedRoots = [new X509Certificate(chain.root.pem)];
  const repeated = await Promise.all(Array.from({ length: 200 }, (_, i) => chain.sign(transactionPayload({ transactionId: String(1_000_000 + i) }))));
  const fresh: string[] = [];
  for (let i = 0; i < NEW_CHAINS; i++) fresh.push(await (await makeAppleChain({ root: chain.root })).sign(transactionPayload()));

  const rows: Array<{ round: number; repeated: number; fresh: number }> = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const hot = new AppleJwsVerifier({ pinnedRoots });
    await hot.verify(repeated[0]!);
    let t = performance.now();
    for (let i = 0; i < VERIFIES; i++) await hot.verify(repeated[i % repeated.length]!);
    const repeatedPerSecond = (VERIFIES / (performance.now() - t)) * 1000;

    const cold = new AppleJwsVerifier({ pinnedRoots });
    t = performance.now();
    for (const jws of fresh) await cold.verify(jws);
    const freshPerSecond = (fresh.length / (performance.now() - t)) * 1000;
    rows.push({ round, repeated: repeatedPerSecond, fresh: freshPerSecond });
  }
  return rows;
}

async function main() {
  const dir = await mkdtemp(path.join(os.tmpdir(), "attesto-bench-store-"));
  const chain = await makeAppleChain();
  console.log(`store benchmark on ${machine()}`);

  const { rows: lookups, sequential, cpu } = await appleLookup(chain, dir);
  console.log(`\nApple lookup, ${CONCURRENCY} concurrent callers, ${fmt(LOOKUPS)} lookups per round, fake delay ${FAKE_DELAY_MS} ms (ms; added = Attesto − fake)`);
  console.log("round | fake p50 | fake p99 | Attesto p50 | Attesto p99 | added p50 | added p99 | Attesto lookups/s");
  for (const r of [...lookups, ...sequential]) {
    console.log(
      `${r.round} | ${fmt(r.base.p50, 2)} | ${fmt(r.base.p99, 2)} | ${fmt(r.attesto.p50, 2)} | ${fmt(r.attesto.p99, 2)} | ${fmt(r.attesto.p50 - r.base.p50, 2)} | ${fmt(r.attesto.p99 - r.base.p99, 2)} | ${fmt(r.attesto.rps)}`,
    );
  }
  const median = (xs: number[]) => percentile(xs, 50);
  console.log(
    `median added latency, 1 caller: p50 ${fmt(median(sequential.map((r) => r.attesto.p50 - r.base.p50)), 2)} ms, p99 ${fmt(median(sequential.map((r) => r.attesto.p99 - r.base.p99)), 2)} ms`,
  );
  console.log(
    `median added latency, ${CONCURRENCY} callers: p50 ${fmt(median(lookups.map((r) => r.attesto.p50 - r.base.p50)), 2)} ms, p99 ${fmt(median(lookups.map((r) => r.attesto.p99 - r.base.p99)), 2)} ms`,
  );

  console.log(`\nServer CPU per Apple lookup (${CONCURRENCY} callers) against the least work a lookup needs (sign a JWT, one kept-alive request, verify one JWS of a cached chain)`);
  console.log("round | Attesto µs | least work µs | Attesto ÷ least work");
  cpu.forEach((c, i) => console.log(`${i + 1} | ${fmt(c.attesto * 1e6)} | ${fmt(c.leastWork * 1e6)} | ${fmt(c.attesto / c.leastWork, 2)}`));
  console.log(`median: Attesto ÷ least work ${fmt(median(cpu.map((c) => c.attesto / c.leastWork)), 2)}`);

  const verifies = await signedDataThroughput(chain);
  console.log(`\nVerifyAppleSignedData (the verifier, one process): verifies/s`);
  console.log("round | repeated chain | new chain per call | new / repeated");
  for (const r of verifies) console.log(`${r.round} | ${fmt(r.repeated)} | ${fmt(r.fresh)} | ${fmt(r.fresh / r.repeated, 3)}`);
  console.log(`median: repeated ${fmt(median(verifies.map((r) => r.repeated)))}/s (target ≥ 5,000), new chain ${fmt(median(verifies.map((r) => r.fresh)))}/s`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
