import { generateKeyPairSync } from "node:crypto";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StoreVerificationService } from "../gen/ts/attesto/v1/store_pb.js";
import { loadConfig } from "../src/config.js";
import { createLogger } from "../src/logger.js";
import { projectRoot } from "../src/paths.js";
import { startAttesto, type Attesto } from "../src/server/app.js";
import { makeAppleChain, transactionPayload, writeRootPem, type TestAppleChain } from "./support/apple-chain.js";
import { FakeAppStore } from "./support/fake-app-store.js";
import { runCli } from "./support/process.js";
import { clientFor, newTenant, tempDir, testEnv } from "./support/server.js";

let chain: TestAppleChain;
let fake: FakeAppStore;
let env: Record<string, string>;
let app: Attesto;
let dir: string;

beforeAll(async () => {
  chain = await makeAppleChain();
  fake = await new FakeAppStore(chain).start();
  dir = await tempDir();
  env = await testEnv({
    ATTESTO_DB_POOL: "4",
    ATTESTO_APPLE_ROOT_CERTS: `${await writeRootPem(dir, chain.root)},${path.join(projectRoot(), "certs/apple/AppleRootCA-G3.pem")}`,
    ATTESTO_APPLE_API_PRODUCTION_URL: fake.productionUrl,
    ATTESTO_APPLE_API_SANDBOX_URL: fake.sandboxUrl,
    ATTESTO_DEV_TENANT: "false",
    LOG_LEVEL: "warn",
  });
  app = await startAttesto(loadConfig(env, { port: 0 }), createLogger("silent"));
});
afterAll(async () => {
  await app?.stop();
  await fake?.close();
});

const cli = (args: string[]) => runCli(["--local", "--json", ...args], { ...process.env, ...env });

async function json<T>(args: string[]): Promise<T> {
  const res = await cli(args);
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout) as T;
}

describe("attesto store", () => {
  // Several CLI processes in a row on a loaded two-core machine.
  it("puts credentials (evicting the servers' caches), verifies and lists notifications", { timeout: 240_000 }, async () => {
    const tenant = await newTenant(app.url);
    const keyFile = path.join(dir, "key.p8");
    const p8 = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    await writeFile(keyFile, p8);
    const put = (bundleId: string) =>
      json<{ bundleId: string }>([
        "store",
        "put-apple",
        tenant.tenantId,
        "--bundle-id",
        bundleId,
        "--key-id",
        "CLIKEY0001",
        "--issuer-id",
        "issuer-cli",
        "--key-file",
        keyFile,
        "--environment",
        "sandbox",
      ]);
    expect((await put("com.example.app")).bundleId).toBe("com.example.app");

    // The server caches the credentials on its first verify...
    const client = clientFor(StoreVerificationService, app.url, tenant.key);
    const jws = await chain.sign(transactionPayload());
    expect((await client.verifyAppleSignedData({ signedData: jws })).purchase?.valid).toBe(true);
    // ...and a change made by the CLI reaches it by broadcast, not by TTL (a minute).
    await put("com.other.app");
    const deadline = Date.now() + 5_000;
    let answer = await client.verifyAppleSignedData({ signedData: jws });
    while (answer.purchase?.valid && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      answer = await client.verifyAppleSignedData({ signedData: jws });
    }
    expect(answer.purchase?.errorCode).toBe("app_mismatch");

    // Offline verification of genuine Apple data from a file.
    const bare = await newTenant(app.url);
    const signed = await json<{ kind: string; purchase: { valid: boolean; transactionId: string } }>([
      "store",
      "verify-signed",
      bare.tenantId,
      `@${path.join(import.meta.dirname, "fixtures/apple/sandbox-transaction.jws")}`,
    ]);
    expect(signed).toMatchObject({ kind: "transaction", purchase: { valid: true, transactionId: "2000000847061981" } });

    // A lookup through the App Store Server API.
    fake.registerPem("CLIKEY0001", "issuer-cli", "com.other.app", p8);
    fake.transactions.sandbox.set("3000000000000001", transactionPayload({ transactionId: "3000000000000001", environment: "Sandbox", bundleId: "com.other.app" }));
    const looked = await json<{ purchase: { valid: boolean; transactionId: string } }>(["store", "verify-apple", tenant.tenantId, "3000000000000001"]);
    expect(looked.purchase).toMatchObject({ valid: true, transactionId: "3000000000000001" });

    // Notifications received by the server, listed by the CLI.
    const signedPayload = await chain.sign({
      notificationType: "CONSUMPTION_REQUEST",
      notificationUUID: crypto.randomUUID(),
      data: { bundleId: "com.other.app", environment: "Sandbox", signedTransactionInfo: await chain.sign(transactionPayload({ bundleId: "com.other.app" })) },
      signedDate: Date.now(),
    });
    const posted = await fetch(`${app.url}/v1/webhooks/apple/${tenant.tenantId}`, { method: "POST", body: JSON.stringify({ signedPayload }) });
    expect(posted.status).toBe(200);
    const listed = await json<Array<{ notificationType: string; source: string }>>(["store", "notifications", tenant.tenantId, "--source", "apple"]);
    expect(listed.map((n) => n.notificationType)).toEqual(["CONSUMPTION_REQUEST"]);

    const bad = await cli(["store", "verify-apple", tenant.tenantId, "not-digits"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("digits");

    // Any App Store Server API call, its request as the RPC's JSON; the credentials' host (Sandbox here).
    const history = await json<{ transactions: Array<{ purchase: { valid: boolean; transactionId: string } }>; environment: string }>([
      "store",
      "apple",
      "transaction-history",
      tenant.tenantId,
      JSON.stringify({ transactionId: "3000000000000001" }),
    ]);
    expect(history.environment).toBe("Sandbox");
    expect(history.transactions.map((t) => t.purchase)).toEqual([expect.objectContaining({ valid: true, transactionId: "3000000000000001" })]);
    const refused = await cli(["store", "apple", "transaction-history", tenant.tenantId, JSON.stringify({ transactionId: "12a" })]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("transaction_id");
  });
});
