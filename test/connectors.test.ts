import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { ConnectorKind, ConnectorStatus, GitLabConfig_TokenMode } from "../gen/ts/attesto/v1/connector_pb.js";
import { connectors as connectorsTable } from "../src/connectors/schema.js";
import type { Attesto } from "../src/server/app.js";
import { eq } from "drizzle-orm";
import { post, seedBody, signedHeaders, signedWebhookConnector, startConnectorServer, tenantWithStream, type TenantWithStream } from "./support/connectors.js";
import { capturedLogs, leakedIntoLogs, sensitive } from "./support/connectors.js";
import { runCli } from "./support/process.js";
import { waitFor } from "./support/webhooks.js";

let app: Attesto;
let other: Attesto;
let t: TenantWithStream;
const encryptionKey = Buffer.alloc(32, 7).toString("base64");

beforeAll(async () => {
  // Two instances on one database; their connector caches are long, so only the Redis broadcast can evict.
  app = await startConnectorServer({ encryptionKey, connectorCacheMs: 600_000 });
  other = await startConnectorServer({ encryptionKey, connectorCacheMs: 600_000 });
  t = await tenantWithStream(app);
});
afterAll(async () => {
  await app?.stop();
  await other?.stop();
});

const rpcCode = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    return ConnectError.from(err).code;
  }
  return undefined;
};

const ingress = (base: string, id: string) => `${base}/v2/connectors/signed-webhooks/${id}/events`;

describe("connector management", () => {
  it("creates each kind, shows the secret once and keeps it sealed at rest", async () => {
    const hmac = await t.connectors.createConnector({ streamId: t.streamId, name: "hmac", kind: ConnectorKind.SIGNED_WEBHOOK });
    expect(hmac.secret).toMatch(/^[0-9a-f]{64}$/);
    expect(hmac.connector!.ingressUrl).toBe(`${app.url}/v2/connectors/signed-webhooks/${hmac.connector!.id}/events`);

    const gh = await t.connectors.createConnector({
      streamId: t.streamId,
      name: "gh",
      kind: ConnectorKind.GITHUB,
      config: { case: "github", value: { events: ["push"] } },
    });
    expect(gh.connector!.config).toEqual({ case: "github", value: expect.objectContaining({ events: ["push"] }) });

    const gl = await t.connectors.createConnector({ streamId: t.streamId, name: "gl", kind: ConnectorKind.GITLAB });
    expect(gl.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(gl.connector!.config.case).toBe("gitlab");
    expect(gl.connector!.config.value).toMatchObject({ tokenMode: GitLabConfig_TokenMode.SIGNING_TOKEN });

    const read = await t.connectors.getConnector({ connectorId: hmac.connector!.id });
    expect(JSON.stringify(read, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v))).not.toContain(hmac.secret);
    const [row] = await app.database.db.select().from(connectorsTable).where(eq(connectorsTable.id, hmac.connector!.id));
    expect(row!.secretEnc).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(row!.secretEnc!).includes(Buffer.from(hmac.secret))).toBe(false);
    expect(Buffer.from(row!.secretEnc!).includes(Buffer.from(hmac.secret, "hex"))).toBe(false);
  });

  it("refuses another tenant's stream, configs of the wrong kind, and answers NOT_FOUND across tenants", async () => {
    const b = await tenantWithStream(app);
    expect(await rpcCode(t.connectors.createConnector({ streamId: b.streamId, name: "x", kind: ConnectorKind.SIGNED_WEBHOOK }))).toBe(Code.NotFound);
    const err = await t.connectors
      .createConnector({ streamId: t.streamId, name: "x", kind: ConnectorKind.SIGNED_WEBHOOK, config: { case: "gitlab", value: {} } })
      .catch((e: unknown) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
    expect((err as ConnectError).rawMessage).toMatch(/^gitlab:/);
    expect(await rpcCode(t.connectors.createConnector({ streamId: t.streamId, name: "x", kind: ConnectorKind.S3_OBJECT }))).toBe(Code.InvalidArgument);
    const mine = await signedWebhookConnector(t);
    expect(await rpcCode(b.connectors.getConnector({ connectorId: mine.id }))).toBe(Code.NotFound);
    expect(await rpcCode(b.connectors.revokeConnector({ connectorId: mine.id }))).toBe(Code.NotFound);
  });

  it("retries a create with the same request_id to the first answer, secret included", async () => {
    const req = { streamId: t.streamId, name: "retry", kind: ConnectorKind.SIGNED_WEBHOOK, requestId: `req-${Date.now()}` };
    const first = await t.connectors.createConnector(req);
    const again = await t.connectors.createConnector(req);
    expect(again.connector!.id).toBe(first.connector!.id);
    expect(again.secret).toBe(first.secret);
    // The same id for another request, or once the secret it showed was rotated, answers REQUEST_ID_REUSED.
    const reused = await t.connectors.createConnector({ ...req, name: "other" }).catch((e: unknown) => ConnectError.from(e));
    expect(reused).toMatchObject({ code: Code.AlreadyExists });
    await t.connectors.rotateConnectorSecret({ connectorId: first.connector!.id });
    const rotated = await t.connectors.createConnector(req).catch((e: unknown) => ConnectError.from(e));
    expect(rotated).toMatchObject({ code: Code.AlreadyExists });
    expect((rotated as ConnectError).rawMessage).toContain("can no longer be shown");
  });

  it("lists newest first with flat pagination; revoked ones only with include_revoked", async () => {
    const s = await tenantWithStream(app);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await signedWebhookConnector(s)).id);
    await s.connectors.revokeConnector({ connectorId: ids[0]! });
    const page1 = await s.connectors.listConnectors({ pageSize: 1 });
    expect(page1.connectors.map((c) => c.id)).toEqual([ids[2]]);
    const page2 = await s.connectors.listConnectors({ pageSize: 5, pageToken: page1.nextPageToken });
    expect(page2.connectors.map((c) => c.id)).toEqual([ids[1]]);
    expect(page2.nextPageToken).toBe("");
    const all = await s.connectors.listConnectors({ includeRevoked: true, streamId: s.streamId });
    expect(all.connectors.map((c) => c.id)).toEqual([...ids].reverse());
  });

  it("rotation keeps the old secret valid for the overlap, and zero overlap ends it at once", async () => {
    const c = await signedWebhookConnector(t);
    const { secret: second, connector } = await t.connectors.rotateConnectorSecret({ connectorId: c.id });
    expect(second).not.toBe(c.secret);
    // Default overlap: 24 h.
    const overlapEnd = Number(connector!.previousSecretExpiresAt!.seconds) * 1000;
    expect(overlapEnd - Date.now()).toBeGreaterThan(23.9 * 3600_000);
    const first = seedBody();
    expect((await post(ingress(app.url, c.id), signedHeaders(c.secret, first), first)).status).toBe(201);
    const body = seedBody();
    expect((await post(ingress(app.url, c.id), signedHeaders(second, body), body)).status).toBe(201);

    const { secret: third } = await t.connectors.rotateConnectorSecret({ connectorId: c.id, overlap: { seconds: 0n } });
    const stale = seedBody();
    expect((await post(ingress(app.url, c.id), signedHeaders(second, stale), stale)).status).toBe(401);
    expect((await post(ingress(other.url, c.id), signedHeaders(second, stale), stale)).status).toBe(401);
    expect((await post(ingress(app.url, c.id), signedHeaders(third, stale), stale)).status).toBe(201);
  });

  it("revokes at once on every instance; ingress then answers the unknown connector's 404 byte for byte", async () => {
    const c = await signedWebhookConnector(t);
    // Both instances load (and cache) the live connector.
    for (const base of [app.url, other.url]) {
      const body = seedBody();
      expect((await post(ingress(base, c.id), signedHeaders(c.secret, body), body)).status).toBe(201);
    }
    const { connector } = await t.connectors.revokeConnector({ connectorId: c.id });
    expect(connector!.revokedAt).toBeDefined();
    const u = seedBody("u");
    const unknown = await post(ingress(other.url, "con_00000000000000000000000000"), signedHeaders(c.secret, u), u);
    expect(unknown.status).toBe(404);
    const revoked = await waitFor(async () => {
      const res = await post(ingress(other.url, c.id), signedHeaders(c.secret, u), u);
      return res.status === 404 ? res : undefined;
    }, "the other instance to refuse the revoked connector");
    expect(revoked.text).toBe(unknown.text);
    expect((await post(ingress(app.url, c.id), signedHeaders(c.secret, u), u)).text).toBe(unknown.text);
    expect(await rpcCode(t.connectors.rotateConnectorSecret({ connectorId: c.id }))).toBe(Code.FailedPrecondition);
    // Revoking again returns it unchanged.
    const again = await t.connectors.revokeConnector({ connectorId: c.id });
    expect(again.connector!.revokedAt).toEqual(connector!.revokedAt);
    const diag = await t.connectors.getConnectorDiagnostics({ connectorId: c.id });
    expect(diag.diagnostics!.status).toBe(ConnectorStatus.REVOKED);
  });

  it("the CLI creates, rotates and revokes; its revocation reaches running instances", async () => {
    const env = {
      ...process.env,
      DATABASE_URL: inject("databaseUrl"),
      REDIS_URL: inject("redisUrl"),
      ATTESTO_ENCRYPTION_KEY: encryptionKey,
      LOG_LEVEL: "silent",
    };
    const cli = async (args: string[]) => {
      const res = await runCli(["--local", "--json", ...args], env);
      return { code: res.code, out: res.stdout, err: res.stderr };
    };
    const created = await cli(["connector", "create", t.tenantId, "--stream", t.streamId, "--kind", "signed_webhook", "--name", "from cli"]);
    expect(created.code, created.err).toBe(0);
    const c = JSON.parse(created.out) as { id: string; secret: string };
    const rotated = await cli(["connector", "rotate", c.id, "--overlap", "0"]);
    const { secret } = JSON.parse(rotated.out) as { secret: string };
    const body = seedBody();
    expect((await post(ingress(app.url, c.id), signedHeaders(secret, body), body)).status).toBe(201);
    expect((await cli(["connector", "revoke", c.id])).code).toBe(0);
    const later = seedBody();
    await waitFor(async () => (await post(ingress(app.url, c.id), signedHeaders(secret, later), later)).status === 404, "the CLI revocation to reach the server");
    const diag = await cli(["connector", "diagnostics", c.id]);
    expect(JSON.parse(diag.out)).toMatchObject({ connectorId: c.id, status: "revoked", counters: { accepted: 1 } });
  }, 240_000);
  it("wrote none of the secrets and payloads it used into a log line", () => {
    expect(capturedLogs.length).toBeGreaterThan(0);
    expect(sensitive.size).toBeGreaterThan(1);
    expect(leakedIntoLogs()).toEqual([]);
  });
});
