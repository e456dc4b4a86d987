// Issue 24 items 2 and 3: once a key, a stream's latest checkpoint, its tiles
// and its leaves are in memory, an authenticated GetCurrentTenant and an
// inclusion proof send no statement at all to PostgreSQL. The domain facades
// run on a database handle that reports every statement it sends.
import { randomBytes } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Keyring } from "../src/crypto/keyring.js";
import { leafHash } from "../src/crypto/rfc9162.js";
import { openDatabase, type Database } from "../src/db/db.js";
import type { JobRuntime } from "../src/jobs/runtime.js";
import { createLogger } from "../src/logger.js";
import { Proofstreams } from "../src/proofstream/module.js";
import { Tenancy } from "../src/tenancy/module.js";
import { hashApiKey } from "../src/tenancy/api-keys.js";
import { tenantService } from "../src/rpc/tenant-service.js";
import { principalKey } from "../src/rpc/context.js";
import { create } from "@bufbuild/protobuf";
import { createContextValues, createHandlerContext } from "@connectrpc/connect";
import { GetCurrentTenantRequestSchema, TenantService, type GetCurrentTenantResponse } from "../gen/ts/attesto/v1/tenant_pb.js";
import { verifyInclusion } from "../src/verify/merkle.js";
import { WebhookOutbox } from "../src/webhooks/outbox.js";

let database: Database;
let sent: string[] = [];
const logger = createLogger("silent");

beforeAll(async () => {
  database = openDatabase({ url: inject("databaseUrl"), poolSize: 2, onStatement: (text) => sent.push(text) });
  await database.migrate();
});
afterAll(() => database?.close());

async function newTenant(tenancy: Tenancy) {
  const tenant = await tenancy.createTenant(`memory-${randomBytes(4).toString("hex")}`);
  const { apiKey, secret } = await tenancy.createApiKey(tenant.id, "hot", { caller: "operator" });
  return { tenant, apiKey, secret };
}

describe("answers from memory", () => {
  it("GetCurrentTenant's rows for a cached key: no statement; revoked: refused at once, here", async () => {
    const tenancy = new Tenancy({ db: database.db, logger }, { adminToken: undefined, apiKeyCacheMs: 60_000 });
    const { tenant, apiKey, secret } = await newTenant(tenancy);
    const header = `Bearer ${secret}`;
    const first = await tenancy.currentAccount(await tenancy.authenticator.requireTenant(header));
    expect(first.tenant).toEqual(tenant);
    // The first use records last_used_at (once a minute at most): wait until that write went out.
    await expect.poll(() => sent.some((s) => /^update "api_keys"/i.test(s))).toBe(true);

    sent = [];
    for (let i = 0; i < 50; i++) {
      const principal = await tenancy.authenticator.requireTenant(header);
      const account = await tenancy.currentAccount(principal);
      expect(account.tenant.id).toBe(tenant.id);
      expect(account.apiKey.id).toBe(apiKey.id);
    }
    expect(sent).toEqual([]);

    // What memory answered is what the database holds (last_used_at as this instance wrote it).
    const cached = await tenancy.currentAccount(await tenancy.authenticator.requireTenant(header));
    expect(cached.tenant).toEqual(await tenancy.getTenant(tenant.id));
    expect(cached.apiKey).toEqual(await tenancy.getApiKey(tenant.id, apiKey.id));

    await tenancy.revokeApiKey(apiKey.id);
    await expect(tenancy.authenticator.requireTenant(header)).rejects.toMatchObject({ code: "unauthenticated" });
  });

  it("GetCurrentTenant's answer is made once per account held, and anew when the account held changes", async () => {
    const tenancy = new Tenancy({ db: database.db, logger }, { adminToken: undefined, apiKeyCacheMs: 60_000 });
    const { apiKey, secret } = await newTenant(tenancy);
    const service = tenantService({ tenancy });
    const call = async () => {
      const values = createContextValues().set(principalKey, await tenancy.authenticator.requireTenant(`Bearer ${secret}`));
      const ctx = createHandlerContext({
        service: TenantService,
        method: TenantService.method.getCurrentTenant,
        protocolName: "connect",
        requestMethod: "POST",
        url: "http://test/",
        contextValues: values,
      });
      return service.getCurrentTenant!(create(GetCurrentTenantRequestSchema), ctx) as Promise<GetCurrentTenantResponse>;
    };
    const first = await call();
    // The first use recorded last_used_at, and the answer says so (the key row the Authenticator touched).
    expect(first.apiKey?.lastUsedAt).toBeDefined();
    expect(await call()).toBe(first);
    // A revocation elsewhere evicts the key here (its broadcast): the next answer is made from rows read again.
    tenancy.authenticator.evict(hashApiKey(secret));
    const again = await call();
    expect(again).not.toBe(first);
    expect(again.apiKey?.id).toBe(apiKey.id);
    expect(await call()).toBe(again);
  });

  it("an inclusion proof of a cached stream: no statement, and it verifies against the signed root with the stored leaf", async () => {
    const tenancy = new Tenancy({ db: database.db, logger }, { adminToken: undefined, apiKeyCacheMs: 60_000 });
    const { tenant } = await newTenant(tenancy);
    const proofstreams = new Proofstreams(
      { db: database.db, keyring: new Keyring(randomBytes(32)), jobs: undefined as unknown as JobRuntime, logger, events: new WebhookOutbox(database.db) },
      {
        publicBaseUrl: () => "https://attesto.test",
        tileCacheBytes: 1 << 24,
        leafCacheBytes: 1 << 24,
        headCacheMs: 600_000,
        checkpointIntervalMs: 1_000,
        receipts: { minIntervalMs: 20, maxWaitMs: 10_000 },
        selfAuditIntervalMs: 1_000,
        selfAuditSample: 0,
        selfAuditMaxLeaves: 1,
        bundles: { maxEvents: 1, pageSize: 1, chunkBytes: 1024, inlineBytes: 0 },
      },
    );
    const stream = await proofstreams.createStream(tenant.id, "memory");
    const size = 700; // two full tiles and bundles, and a partial one
    await Promise.all(
      Array.from({ length: size }, (_, i) => proofstreams.append({ tenantId: tenant.id, streamId: stream.id, sourceRef: `m-${i}`, eventType: "t", occurredAt: new Date(0), payload: { i } })),
    );
    const { checkpoint } = await proofstreams.createCheckpoint(tenant.id, stream.id);
    expect(checkpoint.treeSize).toBe(size);

    // One proof per tile brings its tiles and its bundle of leaves into memory.
    for (const seqNo of [1, 257, 513, size]) await proofstreams.proofEvidence(stream.id, await proofstreams.inclusionProof(tenant.id, stream.id, { seqNo }));

    sent = [];
    const asked = Array.from({ length: 100 }, () => 1 + Math.floor(Math.random() * size));
    const answers = [];
    for (const seqNo of asked) {
      const proof = await proofstreams.inclusionProof(tenant.id, stream.id, { seqNo });
      answers.push({ seqNo, proof, evidence: await proofstreams.proofEvidence(stream.id, proof) });
    }
    expect(sent).toEqual([]);

    const stored = new Map((await database.db.execute<{ seq_no: string; leaf: Buffer }>(sql`SELECT seq_no, leaf FROM events WHERE stream_id = ${stream.id}`)).map((r) => [Number(r.seq_no), r.leaf]));
    for (const { seqNo, proof, evidence } of answers) {
      expect(proof.checkpoint.treeSize).toBe(size);
      expect(Buffer.from(evidence.leaf).equals(stored.get(seqNo)!), `leaf ${seqNo}`).toBe(true);
      expect(leafHash(evidence.leaf).equals(proof.leafHash)).toBe(true);
      expect(verifyInclusion(seqNo - 1, size, proof.leafHash, proof.hashes, checkpoint.rootHash), `proof of ${seqNo}`).toBe(true);
    }
  });
});
