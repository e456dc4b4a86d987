// The least work an Apple lookup needs, as its own process (so its CPU is its
// own, not the fake's): sign one ES256 JWT, one request on a kept-alive
// connection to the App Store Server API fake, verify the answer's JWS with
// a cached chain. bench:store runs it beside Attesto's lookups and compares
// CPU per lookup. Inputs come in the environment; the figures go to stdout
// as one line: RESULT {"cpuSeconds":…,"lookups":…}.
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { Pool } from "undici";
import { AppleJwsVerifier } from "../src/store/apple/jws-verifier.js";
import { appleApiToken } from "../src/store/apple/server-api.js";
import { closedLoop } from "./lib.js";

const env = (name: string) =>
  process.env[name] ??
  (() => {
    throw new Error(`${name} is not set`);
  })();
const total = Number(env("LEAST_WORK_LOOKUPS"));
const concurrency = Number(env("LEAST_WORK_CONCURRENCY"));
const credentials = { bundleId: env("LEAST_WORK_BUNDLE"), keyId: env("LEAST_WORK_KEY_ID"), issuerId: env("LEAST_WORK_ISSUER"), privateKey: createPrivateKey(env("LEAST_WORK_PEM")) };
const verifier = new AppleJwsVerifier({ pinnedRoots: [new X509Certificate(await readFile(env("LEAST_WORK_ROOT"), "utf8"))] });
const pool = new Pool(env("LEAST_WORK_FAKE_URL"), { connections: concurrency });
const path = env("LEAST_WORK_PATH");

async function lookup(): Promise<void> {
  const token = await appleApiToken(credentials);
  const res = await pool.request({ method: "GET", path, headers: { authorization: `Bearer ${token}` } });
  const body = JSON.parse(await res.body.text()) as { signedTransactionInfo: string };
  if (res.statusCode !== 200) throw new Error(`the fake answered ${res.statusCode}`);
  await verifier.verify(body.signedTransactionInfo);
}

await closedLoop(Math.min(300, total), lookup, concurrency); // warm: connections, JIT, the chain cache
const before = process.cpuUsage();
await closedLoop(total, lookup, concurrency);
const used = process.cpuUsage(before);
console.log(`RESULT ${JSON.stringify({ cpuSeconds: (used.user + used.system) / 1e6, lookups: total })}`);
await pool.close();
process.exit(0);
