import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { sql } from "drizzle-orm";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Keyring } from "../src/crypto/keyring.js";
import { openDatabase } from "../src/db/db.js";
import { Metrics } from "../src/http/metrics.js";
import { freePort } from "../src/infra/redis.js";
import type { Attesto } from "../src/server/app.js";
import { ValidationAudit, type AuditEntry } from "../src/store/audit.js";
import { newTenant, startTestServer } from "./support/server.js";

const silent = pino({ level: "silent" });

/**
 * A stand-in for the store verification handler: it answers, and only once
 * the answer is sent reports the verification to the audit log, which is the
 * one line the real handler adds.
 */
async function verificationServer(audit: ValidationAudit, tenantId: string) {
  const server = http.createServer((req, res) => {
    const started = performance.now();
    const identifier = new URL(req.url!, "http://x").searchParams.get("transactionId")!;
    const valid = !identifier.startsWith("bad");
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ valid, transactionId: identifier }));
    res.once("finish", () => audit.record({ tenantId, source: "apple", identifier, valid, errorCode: valid ? null : "4040010", latencyMs: performance.now() - started }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

const metricValue = (text: string, name: string) => Number(new RegExp(`^${name} (\\d+)`, "m").exec(text)?.[1]);

async function until(check: () => Promise<boolean>, ms = 5_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("validation audit log", () => {
  let app: Attesto;
  beforeAll(async () => {
    app = await startTestServer({ validationAudit: { enabled: true, queueSize: 10_000, flushIntervalMs: 50 }, dbPoolSize: 4 });
  });
  afterAll(() => app?.stop());

  const rowsOf = (tenantId: string) =>
    app.database.query<{ tenant_id: string; source: string; identifier_hash: string; valid: boolean; error_code: string | null; latency_ms: number }>(
      sql`SELECT tenant_id, source, identifier_hash, valid, error_code, latency_ms FROM validation_audit WHERE tenant_id = ${tenantId} ORDER BY id`,
    );

  it("writes a row per verification after the answer, keyed by a tenant-salted HMAC of the identifier", async () => {
    const [a, b] = await Promise.all([newTenant(app.url), newTenant(app.url)]);
    const verifyA = await verificationServer(app.audit, a.tenantId);
    const verifyB = await verificationServer(app.audit, b.tenantId);
    try {
      expect(await (await fetch(`${verifyA.url}/?transactionId=2000000123456789`)).json()).toEqual({ valid: true, transactionId: "2000000123456789" });
      expect(await (await fetch(`${verifyA.url}/?transactionId=bad-1`)).json()).toEqual({ valid: false, transactionId: "bad-1" });
      await fetch(`${verifyB.url}/?transactionId=2000000123456789`);
    } finally {
      await Promise.all([verifyA.close(), verifyB.close()]);
    }
    await until(async () => (await rowsOf(a.tenantId)).length === 2 && (await rowsOf(b.tenantId)).length === 1);

    const rowsA = await rowsOf(a.tenantId);
    const [rowB] = await rowsOf(b.tenantId);
    const expected = app.keyring.hmacHex("validation_audit.identifier", `${a.tenantId}:apple:2000000123456789`);
    expect(rowsA[0]).toMatchObject({ source: "apple", identifier_hash: expected, valid: true, error_code: null });
    expect(rowsA[1]).toMatchObject({ valid: false, error_code: "4040010" });
    expect(rowsA[0]!.latency_ms).toBeGreaterThanOrEqual(0);
    // The same transaction id under another tenant hashes differently: no cross-tenant correlation.
    expect(rowB!.identifier_hash).not.toBe(expected);
    // Keyed: not a plain hash of the identifier, and the identifier itself is stored nowhere.
    expect(expected).not.toBe(createHash("sha256").update(`${a.tenantId}:apple:2000000123456789`).digest("hex"));
    expect(JSON.stringify([...rowsA, rowB])).not.toContain("2000000123456789");

    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metricValue(metrics, "attesto_validation_audit_written_total")).toBeGreaterThanOrEqual(3);
    expect(metricValue(metrics, "attesto_validation_audit_dropped_total")).toBe(0);
    expect(metrics).toMatch(/^attesto_validation_audit_queue_depth \d+/m);
  });

  it("inserts one statement per batch of up to 500 rows", async () => {
    const t = await newTenant(app.url);
    for (let i = 0; i < 1_200; i++) app.audit.record({ tenantId: t.tenantId, source: "google", identifier: `token-${i}`, valid: true, latencyMs: 3 });
    await app.audit.flush();
    await until(async () => (await rowsOf(t.tenantId)).length === 1_200);
    // Rows of one INSERT share a transaction id (xmin): 500 + 500 + 200.
    const [batches] = await app.database.query<{ n: string }>(sql`SELECT count(DISTINCT xmin::text) AS n FROM validation_audit WHERE tenant_id = ${t.tenantId}`);
    expect(Number(batches!.n)).toBe(3);
  });
});

describe("validation audit writer on its own", () => {
  const keyring = new Keyring(Buffer.alloc(32, 7));
  const entry = (i: number, tenantId = "tnt_x"): AuditEntry => ({ tenantId, source: "apple", identifier: `id-${i}`, valid: true, latencyMs: 1 });

  it("drops and counts rows past a full queue, writes the rest, and flushes on close", async () => {
    const database = openDatabase({ url: inject("databaseUrl"), poolSize: 2 });
    await database.migrate();
    const tenantId = `tnt_q${randomBytes(4).toString("hex")}`;
    const audit = new ValidationAudit({ db: database.db, keyring, logger: silent }, { enabled: true, queueSize: 3, flushIntervalMs: 60_000 });
    audit.start();
    try {
      for (let i = 0; i < 5; i++) audit.record(entry(i, tenantId));
      expect(audit.stats()).toEqual({ queued: 3, written: 0, dropped: 2 });
      await audit.close();
      expect(audit.stats()).toEqual({ queued: 0, written: 3, dropped: 2 });
      const [count] = await database.query<{ n: string }>(sql`SELECT count(*) AS n FROM validation_audit WHERE tenant_id = ${tenantId}`);
      expect(Number(count!.n)).toBe(3);
      // Closed: recording is a no-op and still never throws.
      audit.record(entry(9, tenantId));
      expect(audit.stats().queued).toBe(0);
    } finally {
      await database.close();
    }
  });

  it("with the database unreachable, answers go out unchanged and fast while dropped rows are counted", async () => {
    const database = openDatabase({ url: `postgres://postgres@127.0.0.1:${await freePort()}/nowhere`, poolSize: 1 });
    const audit = new ValidationAudit({ db: database.db, keyring, logger: silent }, { enabled: true, queueSize: 20, flushIntervalMs: 20, closeTimeoutMs: 200 });
    const metrics = new Metrics();
    metrics.trackValidationAudit(audit);
    audit.start();
    const verify = await verificationServer(audit, "tnt_x");
    try {
      const latencies: number[] = [];
      for (let i = 0; i < 60; i++) {
        const started = performance.now();
        const res = await fetch(`${verify.url}/?transactionId=2000000${i}`);
        expect(res.status).toBe(200);
        expect(await res.json()).toEqual({ valid: true, transactionId: `2000000${i}` });
        latencies.push(performance.now() - started);
      }
      expect(Math.max(...latencies)).toBeLessThan(250);
      // record() itself: synchronous and cheap even while every write fails.
      const started = performance.now();
      for (let i = 0; i < 1_000; i++) audit.record(entry(i));
      expect(performance.now() - started).toBeLessThan(250);
      await until(async () => metricValue(await metrics.registry.metrics(), "attesto_validation_audit_dropped_total") >= 1_000);
      expect(audit.stats().written).toBe(0);
    } finally {
      await verify.close();
      const closing = performance.now();
      await audit.close();
      expect(performance.now() - closing).toBeLessThan(1_000);
      await database.close().catch(() => {});
    }
  });

  it("records nothing when ENABLE_VALIDATION_AUDIT_LOG is off", async () => {
    const database = openDatabase({ url: `postgres://postgres@127.0.0.1:${await freePort()}/nowhere`, poolSize: 1 });
    const audit = new ValidationAudit({ db: database.db, keyring, logger: silent }, { enabled: false, queueSize: 20, flushIntervalMs: 20 });
    audit.start();
    audit.record(entry(1));
    expect(audit.stats()).toEqual({ queued: 0, written: 0, dropped: 0 });
    await audit.close();
    await database.close().catch(() => {});
  });
});
