import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { Code, ConnectError } from "@connectrpc/connect";
import S3rver from "s3rver";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConnectorKind, ConnectorStatus } from "../gen/ts/attesto/v1/connector_pb.js";
import { freePort } from "../src/infra/redis.js";
import type { Attesto } from "../src/server/app.js";
import { post, startConnectorServer, tenantWithStream, type TenantWithStream } from "./support/connectors.js";
import { capturedLogs, leakedIntoLogs, sensitive } from "./support/connectors.js";
import { VersionedS3 } from "./support/s3-versioned.js";
import { tempDir } from "./support/server.js";

let app: Attesto;
let t: TenantWithStream;
let versioned: VersionedS3;
let s3rver: S3rver;
let s3rverEndpoint: string;

beforeAll(async () => {
  app = await startConnectorServer();
  t = await tenantWithStream(app);
  versioned = await VersionedS3.start("evidence-bucket", "AKIAREADONLY", "read-only-secret");
  s3rver = new S3rver({ port: 0, address: "127.0.0.1", silent: true, directory: await tempDir("s3rver-"), configureBuckets: [{ name: "flat-bucket" }] });
  const address = await s3rver.run();
  s3rverEndpoint = `http://127.0.0.1:${address.port}`;
});
afterAll(async () => {
  await app?.stop();
  await versioned?.close();
  await s3rver?.close();
});

async function s3Connector(s: TenantWithStream, config: { endpoint: string; bucket: string; accessKeyId: string; secretAccessKey: string; region?: string; keyPrefix?: string }) {
  const { connector } = await s.connectors.createConnector({
    streamId: s.streamId,
    name: "objects",
    kind: ConnectorKind.S3_OBJECT,
    config: {
      case: "s3Object",
      value: { region: "auto", keyPrefix: "evidence/", forcePathStyle: true, ...config },
    },
  });
  return connector!;
}

const commit = (s: TenantWithStream, id: string, body: unknown) =>
  post(`${app.url}/v2/tenant/connectors/s3-objects/${id}/commit`, { authorization: `Bearer ${s.key}`, "content-type": "application/json" }, JSON.stringify(body));

const errorOf = (res: { json?: Record<string, unknown> }) => res.json!.error as { code: string; reason?: string; field?: string };

describe("S3/R2 object commitments", () => {
  it("versioned bucket (R2-style region auto, path-style): HeadObject receipt with checksum, committed once per version", async () => {
    const v1 = versioned.put("evidence/input.json", '{"case":1}');
    const v2 = versioned.put("evidence/input.json", '{"case":2}', "application/octet-stream");
    const c = await s3Connector(t, { endpoint: versioned.endpoint, bucket: "evidence-bucket", accessKeyId: "AKIAREADONLY", secretAccessKey: "read-only-secret" });
    expect(c.config).toMatchObject({ case: "s3Object", value: { endpoint: versioned.endpoint, bucket: "evidence-bucket", keyPrefix: "evidence/", region: "auto" } });

    const first = await commit(t, c.id, { key: "evidence/input.json", versionId: v1.versionId, metadata: { source: "case-file" } });
    expect(first.status).toBe(201);
    expect(first.json).toMatchObject({
      stream_id: t.streamId,
      duplicate: false,
      receipt: {
        bucket: "evidence-bucket",
        key: "evidence/input.json",
        version_id: v1.versionId,
        etag: v1.etag,
        size: 10,
        last_modified: v1.lastModified.toISOString(),
        content_type: "application/json",
        checksum_algorithm: "SHA256",
        checksum_value: v1.sha256,
      },
    });
    const { event } = await t.ps.getEvent({ streamId: t.streamId, event: { case: "seqNo", value: BigInt(first.json!.seq_no as number) } });
    expect(event!.eventType).toBe("s3.object");
    expect(event!.sourceRef).toMatch(/^s3:[0-9a-f]{64}$/);
    expect(event!.payload).toEqual({
      provider: "s3",
      bucket: "evidence-bucket",
      key: "evidence/input.json",
      version_id: v1.versionId,
      etag: v1.etag,
      size: 10,
      last_modified: v1.lastModified.toISOString(),
      content_type: "application/json",
      checksum_algorithm: "SHA256",
      checksum_value: v1.sha256,
      metadata: { source: "case-file" },
    });

    const again = await commit(t, c.id, { key: "evidence/input.json", versionId: v1.versionId, metadata: { source: "case-file" } });
    expect(again).toMatchObject({ status: 200, json: { seq_no: first.json!.seq_no, duplicate: true } });
    const conflict = await commit(t, c.id, { key: "evidence/input.json", versionId: v1.versionId, metadata: { source: "other" } });
    expect(conflict.status).toBe(409);
    expect(errorOf(conflict).reason).toBe("REPLAY_CONFLICT");

    // No version: the current one (v2), a separate event.
    const latest = await commit(t, c.id, { key: "evidence/input.json" });
    expect(latest.status).toBe(201);
    expect(latest.json!.receipt).toMatchObject({ version_id: v2.versionId, content_type: "application/octet-stream" });

    // Content is never read: HEAD only, always asking for checksums.
    expect(versioned.requests.length).toBeGreaterThan(0);
    expect(versioned.requests.every((r) => r.method === "HEAD" && r.checksumMode === "ENABLED")).toBe(true);
  });

  it("answers a distinct, documented error for each failure, and records them in diagnostics", async () => {
    const s = await tenantWithStream(app);
    versioned.put("evidence/other.json", "{}");
    const c = await s3Connector(s, { endpoint: versioned.endpoint, bucket: "evidence-bucket", accessKeyId: "AKIAREADONLY", secretAccessKey: "read-only-secret" });

    const outside = await commit(s, c.id, { key: "private/secrets.json" });
    expect(outside.status).toBe(400);
    expect(errorOf(outside)).toMatchObject({ field: "key", reason: "KEY_OUTSIDE_PREFIX" });
    expect(errorOf(await commit(s, c.id, { key: "evidence/../private/x" })).reason).toBe("KEY_OUTSIDE_PREFIX");

    const missing = await commit(s, c.id, { key: "evidence/nothing.json" });
    expect(missing.status).toBe(404);
    expect(errorOf(missing).reason).toBe("OBJECT_NOT_FOUND");

    const wrongVersion = await commit(s, c.id, { key: "evidence/other.json", versionId: "no-such-version" });
    expect(wrongVersion.status).toBe(404);
    expect(errorOf(wrongVersion).reason).toBe("OBJECT_VERSION_NOT_FOUND");

    const badMetadata = await commit(s, c.id, { key: "evidence/other.json", metadata: { "bad key": "x" } });
    expect(badMetadata.status).toBe(400);
    expect(errorOf(badMetadata).field).toBe("metadata");
    expect((await commit(s, c.id, { key: "evidence/other.json", metadata: { big: "x".repeat(1025) } })).status).toBe(400);

    await s.connectors.rotateConnectorSecret({ connectorId: c.id, accessKeyId: "AKIAREADONLY", secretAccessKey: "not-the-secret" });
    const denied = await commit(s, c.id, { key: "evidence/other.json" });
    expect(denied.status).toBe(412);
    expect(errorOf(denied).reason).toBe("OBJECT_STORE_DENIED");
    let diag = (await s.connectors.getConnectorDiagnostics({ connectorId: c.id })).diagnostics!;
    expect(diag.status).toBe(ConnectorStatus.AUTH_FAILED);
    expect(diag.lastFailureReason).toBe("OBJECT_STORE_DENIED");

    const closedPort = await freePort();
    const down = await s3Connector(s, { endpoint: `http://127.0.0.1:${closedPort}`, bucket: "evidence-bucket", accessKeyId: "AKIAREADONLY", secretAccessKey: "unused-secret-key-4472" });
    const started = Date.now();
    const unreachable = await commit(s, down.id, { key: "evidence/other.json" });
    expect(unreachable.status).toBe(503);
    expect(errorOf(unreachable).reason).toBe("OBJECT_STORE_UNAVAILABLE");
    expect(Date.now() - started).toBeLessThan(5_000);
    diag = (await s.connectors.getConnectorDiagnostics({ connectorId: down.id })).diagnostics!;
    expect(diag.lastFailureReason).toBe("OBJECT_STORE_UNAVAILABLE");
    expect(diag.counters!.rejectedCount).toBe(1n);

    // Another tenant's connector, and a connector of another kind.
    expect((await commit(t, c.id, { key: "evidence/other.json" })).status).toBe(404);
    const { connector: hook } = await s.connectors.createConnector({ streamId: s.streamId, name: "hook", kind: ConnectorKind.SIGNED_WEBHOOK });
    const wrongKind = await commit(s, hook!.id, { key: "evidence/other.json" });
    expect(wrongKind.status).toBe(412);
    expect(errorOf(wrongKind).reason).toBe("CONNECTOR_KIND_MISMATCH");
    expect((await post(`${app.url}/v2/tenant/connectors/s3-objects/${c.id}/commit`, {}, "{}")).status).toBe(401);
  });

  it("refuses endpoints that are not public HTTPS at creation", async () => {
    for (const endpoint of ["https://10.0.0.1", "https://169.254.169.254", "http://example.com", "https://[fd00::1]"]) {
      const err = await s3Connector(t, { endpoint, bucket: "evidence-bucket", accessKeyId: "AKIAUNUSED", secretAccessKey: "unused-secret-key-4471" }).catch((e: unknown) => ConnectError.from(e));
      expect(err).toBeInstanceOf(ConnectError);
      expect((err as ConnectError).code).toBe(Code.InvalidArgument);
      expect((err as ConnectError).rawMessage).toMatch(/^s3_object\.endpoint:/);
    }
  });

  it("refuses a loopback endpoint when the development flag is off", async () => {
    const strict = await startConnectorServer({}, { ATTESTO_CONNECTOR_ALLOW_LOOPBACK: "false" });
    try {
      const s = await tenantWithStream(strict);
      const err = await s3Connector(s, { endpoint: versioned.endpoint, bucket: "evidence-bucket", accessKeyId: "AKIAUNUSED", secretAccessKey: "unused-secret-key-4471" }).catch((e: unknown) =>
        ConnectError.from(e),
      );
      expect((err as ConnectError).code).toBe(Code.InvalidArgument);
    } finally {
      await strict.stop();
    }
  });

  it("unversioned bucket on s3rver: receipt keyed by ETag, through the CommitS3Object RPC too", async () => {
    const writer = new S3Client({ region: "us-east-1", endpoint: s3rverEndpoint, forcePathStyle: true, credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } });
    await writer.send(new PutObjectCommand({ Bucket: "flat-bucket", Key: "evidence/report.pdf", Body: "object content never read", ContentType: "application/pdf" }));
    writer.destroy();
    sensitive.add("object content never read");
    const s = await tenantWithStream(app);
    const c = await s3Connector(s, { endpoint: s3rverEndpoint, bucket: "flat-bucket", accessKeyId: "S3RVER", secretAccessKey: "S3RVER", region: "us-east-1" });
    const res = await s.connectors.commitS3Object({ connectorId: c.id, key: "evidence/report.pdf", metadata: { source: "case-file" } });
    expect(res.duplicate).toBe(false);
    expect(res.receipt).toMatchObject({ bucket: "flat-bucket", key: "evidence/report.pdf", versionId: "", size: 25n, contentType: "application/pdf" });
    expect(res.receipt!.etag).toMatch(/^[0-9a-f]{32}$/);
    const again = await commit(s, c.id, { key: "evidence/report.pdf", metadata: { source: "case-file" } });
    expect(again).toMatchObject({ status: 200, json: { duplicate: true, seq_no: Number(res.event!.seqNo) } });
    expect(JSON.stringify(res.event!.payload)).not.toContain("never read");

    // s3rver checks the access key id (it does not verify SigV4 signatures): an unknown one is refused with 403 (the versioned test server verifies SigV4 signatures).
    await s.connectors.rotateConnectorSecret({ connectorId: c.id, accessKeyId: "AKIAUNKNOWN", secretAccessKey: "S3RVER" });
    const denied = await commit(s, c.id, { key: "evidence/report.pdf" });
    expect(errorOf(denied).reason).toBe("OBJECT_STORE_DENIED");
  });
  it("wrote none of the secrets and payloads it used into a log line", () => {
    expect(capturedLogs.length).toBeGreaterThan(0);
    expect(sensitive.size).toBeGreaterThan(1);
    expect(leakedIntoLogs()).toEqual([]);
  });
});
