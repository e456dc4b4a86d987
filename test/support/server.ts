import { randomBytes } from "node:crypto";
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { DescService } from "@bufbuild/protobuf";
import { inject } from "vitest";
import { AdminService } from "../../gen/ts/attesto/admin/v1/admin_pb.js";
import { loadConfig, type Config } from "../../src/config.js";
import { createLogger } from "../../src/logger.js";
import { startAttesto, type Attesto } from "../../src/server/app.js";

export const ADMIN_TOKEN = "test-operator-token-0123456789";

/** The Connect code a call failed with; a call that succeeds gives Unknown, which no test expects. */
export const codeOf = async (p: Promise<unknown>) =>
  ConnectError.from(
    await p.then(
      () => new Error("expected a failure"),
      (e: unknown) => e,
    ),
  ).code;

export async function tempDir(prefix = "attesto-test-"): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

/** The settings of a test server on the run's Postgres and Redis, with a fresh master key and data folder. */
export async function testEnv(extra: Record<string, string> = {}): Promise<Record<string, string>> {
  return {
    DATABASE_URL: inject("databaseUrl"),
    REDIS_URL: inject("redisUrl"),
    ATTESTO_QUEUE_PREFIX: inject("queuePrefix"),
    ATTESTO_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
    ATTESTO_ADMIN_TOKEN: ADMIN_TOKEN,
    ATTESTO_DATA_DIR: await tempDir(),
    LOG_LEVEL: "silent",
    // The store reconciliation job sweeps every tenant of the run's database: only the tests that mean it turn it on.
    ATTESTO_STORE_RECONCILE_INTERVAL_MS: "0",
    ...extra,
  };
}

/** A real server on a free loopback port, on the run's Postgres and Redis. */
export async function startTestServer(overrides: Partial<Config> = {}): Promise<Attesto> {
  const config = loadConfig(await testEnv(), { port: 0, ...overrides });
  return startAttesto(config, createLogger(process.env.TEST_LOG_LEVEL ?? "silent"));
}

export function clientFor<T extends DescService>(service: T, baseUrl: string, token?: string): Client<T> {
  const transport = createConnectTransport({
    baseUrl,
    httpVersion: "1.1",
    interceptors: token
      ? [
          (next) => (req) => {
            req.header.set("Authorization", `Bearer ${token}`);
            return next(req);
          },
        ]
      : [],
  });
  return createClient(service, transport);
}

export const adminClient = (baseUrl: string) => clientFor(AdminService, baseUrl, ADMIN_TOKEN);

/** A new tenant with one key, created through the operator API. */
export async function newTenant(baseUrl: string, name = `tenant-${randomBytes(4).toString("hex")}`) {
  const admin = adminClient(baseUrl);
  const { tenant } = await admin.createTenant({ name });
  const { apiKey, secret } = await admin.createApiKey({ tenantId: tenant!.id, name: "test" });
  return { tenantId: tenant!.id, apiKeyId: apiKey!.id, key: secret };
}
