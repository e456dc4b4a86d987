import { randomUUID } from "node:crypto";
import { sign } from "@octokit/webhooks-methods";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConnectorKind, ConnectorStatus } from "../gen/ts/attesto/v1/connector_pb.js";
import { connectorStats } from "../src/connectors/schema.js";
import type { Attesto } from "../src/server/app.js";
import { capturedLogs, post, seedBody, signedHeaders, signedWebhookConnector, startConnectorServer, tenantWithStream, type TenantWithStream } from "./support/connectors.js";
import { VersionedS3 } from "./support/s3-versioned.js";

let app: Attesto;
let t: TenantWithStream;
let objects: VersionedS3;
/** Every answer of GetConnectorDiagnostics in this file, as JSON. */
const diagnosticsAnswers: string[] = [];
/** Every secret and payload fragment this file sends. */
const sensitive: string[] = [];

const bigintSafe = (_k: string, v: unknown) => (typeof v === "bigint" ? String(v) : v);

async function diagnostics(s: TenantWithStream, connectorId: string) {
  const { diagnostics: d } = await s.connectors.getConnectorDiagnostics({ connectorId });
  diagnosticsAnswers.push(JSON.stringify(d, bigintSafe));
  return d!;
}

beforeAll(async () => {
  // A flush interval far beyond the test: only an explicit read flushes.
  app = await startConnectorServer({ connectorStatsFlushMs: 600_000 });
  t = await tenantWithStream(app);
  objects = await VersionedS3.start("diag-bucket", "AKIADIAG", "s3-secret-access-key-3317");
});
afterAll(async () => {
  await app?.stop();
  await objects?.close();
});

describe("connector diagnostics", () => {
  it("walks idle → healthy → auth_failed (a retired secret) → replay_conflict → revoked, with times, kinds and counters, without a write per request", async () => {
    const c = await signedWebhookConnector(t);
    sensitive.push(c.secret);
    const idle = await diagnostics(t, c.id);
    expect(idle.status).toBe(ConnectorStatus.IDLE);
    expect(idle.lastSuccessAt).toBeUndefined();

    const url = `${app.url}/v2/connectors/signed-webhooks/${c.id}/events`;
    const body = seedBody("diag-1", "passed-with-private-detail-7781");
    sensitive.push("passed-with-private-detail-7781", "policy-2026-01");
    const before = new Date();
    expect((await post(url, signedHeaders(c.secret, body), body)).status).toBe(201);
    expect((await post(url, signedHeaders(c.secret, body), body)).status).toBe(200);
    // Outcomes wait in memory: no row was written by the two requests.
    expect(await app.database.db.select().from(connectorStats).where(eq(connectorStats.connectorId, c.id))).toEqual([]);
    const healthy = await diagnostics(t, c.id);
    expect(healthy.status).toBe(ConnectorStatus.HEALTHY);
    expect(healthy.lastSuccessKind).toBe("duplicate");
    expect(Number(healthy.lastSuccessAt!.seconds) * 1000).toBeGreaterThanOrEqual(Math.floor(before.getTime() / 1000) * 1000);
    expect(healthy.counters).toMatchObject({ acceptedCount: 1n, duplicateCount: 1n });

    // Noise (a forged signature) and a stale timestamp are counted; neither sets the status.
    expect((await post(url, signedHeaders("forged-secret-0042", body), body)).status).toBe(401);
    sensitive.push("forged-secret-0042");
    const stale = await post(url, signedHeaders(c.secret, body, Math.floor(Date.now() / 1000) - 600), body);
    expect(stale.status).toBe(401);
    const noisy = await diagnostics(t, c.id);
    expect(noisy.status).toBe(ConnectorStatus.HEALTHY);
    expect(noisy.lastFailureReason).toBe("TIMESTAMP_STALE");
    expect(noisy.counters!.authFailureCount).toBe(2n);

    // The sender still signs with the secret a rotation replaced: that is what auth_failed says.
    const { secret: current } = await t.connectors.rotateConnectorSecret({ connectorId: c.id, overlap: { seconds: 0n } });
    sensitive.push(current);
    expect((await post(url, signedHeaders(c.secret, body), body)).status).toBe(401);
    const failed = await diagnostics(t, c.id);
    expect(failed.status).toBe(ConnectorStatus.AUTH_FAILED);
    expect(failed.lastFailureReason).toBe("SECRET_RETIRED");
    expect(failed.lastFailureAt).toBeDefined();

    const conflicting = seedBody("diag-1", "changed-private-detail-9912");
    sensitive.push("changed-private-detail-9912");
    expect((await post(url, signedHeaders(current, conflicting), conflicting)).status).toBe(409);
    const conflict = await diagnostics(t, c.id);
    expect(conflict.status).toBe(ConnectorStatus.REPLAY_CONFLICT);
    expect(conflict.counters).toMatchObject({ acceptedCount: 1n, duplicateCount: 1n, authFailureCount: 3n, replayConflictCount: 1n });

    // A later success makes it healthy again.
    const next = seedBody("diag-2");
    expect((await post(url, signedHeaders(current, next), next)).status).toBe(201);
    expect((await diagnostics(t, c.id)).status).toBe(ConnectorStatus.HEALTHY);

    await t.connectors.revokeConnector({ connectorId: c.id });
    const revoked = await diagnostics(t, c.id);
    expect(revoked.status).toBe(ConnectorStatus.REVOKED);
    expect(revoked.counters!.acceptedCount).toBe(2n);
  });

  it("unsigned and badly signed posts to a healthy connector are counted and change nothing else: not its status, not its last failure", async () => {
    const c = await signedWebhookConnector(t);
    sensitive.push(c.secret);
    const url = `${app.url}/v2/connectors/signed-webhooks/${c.id}/events`;
    const body = seedBody();
    expect((await post(url, signedHeaders(c.secret, body), body)).status).toBe(201);
    const healthy = await diagnostics(t, c.id);
    expect(healthy.status).toBe(ConnectorStatus.HEALTHY);

    // The probe's three unsigned posts, and two badly signed ones (a wrong secret, a signature of another body).
    for (let i = 0; i < 3; i++) expect((await post(url, { "content-type": "application/json" }, "{}")).status).toBe(401);
    expect((await post(url, signedHeaders("guessed-secret", body), body)).status).toBe(401);
    expect((await post(url, signedHeaders(c.secret, "{}"), body)).status).toBe(401);
    const after = await diagnostics(t, c.id);
    expect(after.status).toBe(ConnectorStatus.HEALTHY);
    expect(after.counters).toMatchObject({ acceptedCount: 1n, authFailureCount: 5n });
    expect(after.lastFailureAt).toBeUndefined();
    expect(after.lastFailureReason).toBe("");
    // An idle connector stays idle.
    const idle = await signedWebhookConnector(t);
    expect((await post(`${app.url}/v2/connectors/signed-webhooks/${idle.id}/events`, {}, "{}")).status).toBe(401);
    expect((await diagnostics(t, idle.id)).status).toBe(ConnectorStatus.IDLE);
  });

  it("never shows or logs credentials, raw provider payloads or object content", async () => {
    const gh = await t.connectors.createConnector({ streamId: t.streamId, name: "gh", kind: ConnectorKind.GITHUB });
    sensitive.push(gh.secret);
    const raw = JSON.stringify({
      ref: "refs/heads/main",
      before: "a",
      after: "b",
      repository: { full_name: "o/r", pushed_at: 1780000000 },
      head_commit: { message: "raw-provider-message-5531" },
    });
    sensitive.push("raw-provider-message-5531");
    const ghUrl = `${app.url}/v2/connectors/github/${gh.connector!.id}/events`;
    expect((await post(ghUrl, { "x-github-event": "push", "x-github-delivery": randomUUID(), "x-hub-signature-256": await sign(gh.secret, raw) }, raw)).status).toBe(201);
    expect((await post(ghUrl, { "x-github-event": "push", "x-github-delivery": randomUUID(), "x-hub-signature-256": "sha256=" + "0".repeat(64) }, raw)).status).toBe(401);
    expect((await post(ghUrl, { "x-github-event": "push", "x-hub-signature-256": await sign(gh.secret, "{") }, "{")).status).toBe(400);
    await diagnostics(t, gh.connector!.id);

    const v = objects.put("cases/file.bin", "object-content-secret-6620");
    sensitive.push("object-content-secret-6620", "s3-secret-access-key-3317");
    const { connector: s3 } = await t.connectors.createConnector({
      streamId: t.streamId,
      name: "objects",
      kind: ConnectorKind.S3_OBJECT,
      config: {
        case: "s3Object",
        value: { endpoint: objects.endpoint, region: "auto", bucket: "diag-bucket", keyPrefix: "cases/", forcePathStyle: true, accessKeyId: "AKIADIAG", secretAccessKey: "s3-secret-access-key-3317" },
      },
    });
    const commitUrl = `${app.url}/v2/tenant/connectors/s3-objects/${s3!.id}/commit`;
    const auth = { authorization: `Bearer ${t.key}`, "content-type": "application/json" };
    expect((await post(commitUrl, auth, JSON.stringify({ key: "cases/file.bin", versionId: v.versionId, metadata: { source: "case-file" } }))).status).toBe(201);
    expect((await post(commitUrl, auth, JSON.stringify({ key: "cases/missing.bin" }))).status).toBe(404);
    await t.connectors.rotateConnectorSecret({ connectorId: s3!.id, accessKeyId: "AKIAOTHER", secretAccessKey: "s3-rotated-secret-8804" });
    sensitive.push("s3-rotated-secret-8804");
    expect((await post(commitUrl, auth, JSON.stringify({ key: "cases/file.bin" }))).status).toBe(412);
    const s3Diag = await diagnostics(t, s3!.id);
    expect(s3Diag.status).toBe(ConnectorStatus.AUTH_FAILED);
    expect(s3Diag.lastFailureReason).toBe("OBJECT_STORE_DENIED");

    // The logs of this file's server (debug level) and every diagnostics answer.
    expect(capturedLogs.length).toBeGreaterThan(0);
    const haystacks = [...capturedLogs, ...diagnosticsAnswers];
    const found = sensitive.filter((needle) => haystacks.some((h) => h.includes(needle)));
    expect(found).toEqual([]);
  });
});
