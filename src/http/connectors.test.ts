import { describe, expect, it } from "vitest";
import type { IngressRequest, IngressResult } from "../connectors/module.js";
import { AppError } from "../errors.js";
import { createLogger } from "../logger.js";
import type { TenantPrincipal } from "../tenancy/types.js";
import { createHttpApp } from "./app.js";
import { mountConnectorRoutes, type ConnectorRouteDeps } from "./connectors.js";
import { Metrics } from "./metrics.js";

const event = (seqNo: number) => ({
  streamId: "ps_1",
  seqNo,
  sourceRef: `ref-${seqNo}`,
  eventType: "push",
  occurredAt: new Date("2026-01-01T00:00:00Z"),
  receivedAt: new Date("2026-01-01T00:00:01Z"),
  payloadSha256: "00",
  payload: {},
  leafHash: Buffer.from("abcd", "hex"),
});

/** Connectors in memory: each ingress answers what its connector id asks for, and records the raw request. */
function memoryConnectors() {
  const seen: Array<{ kind: string; id: string; body: string; signature: string | undefined }> = [];
  const outcome = (id: string): IngressResult => {
    if (id === "ping") return { kind: "ping" };
    if (id === "ignored") return { kind: "ignored", event: "issues" };
    if (id === "missing") throw new AppError("not_found", "connector not found");
    return { kind: "committed", result: { event: event(1), duplicate: id === "replay" } };
  };
  const ingest = (kind: string) => async (id: string, req: IngressRequest) => {
    seen.push({ kind, id, body: req.body.toString("utf8"), signature: req.header("x-signature") });
    return outcome(id);
  };
  const commits: Array<{ tenantId: string; id: string; input: unknown }> = [];
  const connectors: ConnectorRouteDeps["connectors"] = {
    ingestSignedWebhook: ingest("signed_webhook"),
    ingestGitHub: ingest("github"),
    ingestGitLab: ingest("gitlab"),
    commitS3Object: async (tenantId, id, input) => {
      commits.push({ tenantId, id, input });
      const receipt = {
        bucket: "b",
        key: input.key,
        versionId: input.versionId,
        etag: "e",
        size: 3,
        lastModified: new Date("2026-01-02T00:00:00Z"),
        contentType: "text/plain",
        checksumAlgorithm: "",
        checksumValue: "",
      };
      return { result: { event: event(2), duplicate: false }, receipt };
    },
  };
  return { connectors, seen, commits };
}

const authenticator = {
  requireTenant: async (header: string | null | undefined): Promise<TenantPrincipal> => {
    if (header !== "Bearer atk_good") throw new AppError("unauthenticated", "invalid API key");
    return { kind: "tenant", tenantId: "ten_1", apiKeyId: "key_1" };
  },
};

function setup() {
  const memory = memoryConnectors();
  const app = createHttpApp({ logger: createLogger("silent"), metrics: new Metrics(), bodyLimitBytes: 4096, readiness: {} });
  const waits: Array<{ seqNo: number; timeoutMs: number }> = [];
  const proofstreams: ConnectorRouteDeps["proofstreams"] = {
    receipt: async ({ event: e }, timeoutMs = 0) => {
      waits.push({ seqNo: e.seqNo, timeoutMs });
      return timeoutMs === 1 ? { status: "pending", reason: "late" } : { status: "proven", tlogProof: `proof of ${e.seqNo}`, checkpointTreeSize: e.seqNo };
    },
  };
  mountConnectorRoutes(app, { connectors: memory.connectors, authenticator, proofstreams });
  return { app, waits, ...memory };
}

const post = (body: string, headers: Record<string, string> = {}) => ({ method: "POST", body, headers: { "content-type": "application/json", ...headers } });

describe("connector ingress routes", () => {
  it("hands each provider's raw bytes and headers to its ingress, and answers 201 new, 200 replay, 200 ping, 202 ignored", async () => {
    const { app, seen } = setup();
    const raw = '{"b": 1,  "a": 2}';
    const created = await app.request("/v2/connectors/signed-webhooks/con_1/events", post(raw, { "x-signature": "sig" }));
    expect(created.status).toBe(201);
    expect(await created.json()).toEqual({ stream_id: "ps_1", seq_no: 1, leaf_hash: "abcd", leaf_hash_base64: "q80=", duplicate: false });
    expect((await app.request("/v2/connectors/github/replay/events", post(raw))).status).toBe(200);
    const ping = await app.request("/v2/connectors/gitlab/ping/events", post(raw));
    expect([ping.status, await ping.json()]).toEqual([200, { ping: "ok" }]);
    const ignored = await app.request("/v2/connectors/github/ignored/events", post(raw));
    expect([ignored.status, await ignored.json()]).toEqual([202, { ignored: "issues" }]);
    // Byte for byte: signatures are checked over what was sent, not a re-serialization.
    expect(seen[0]).toEqual({ kind: "signed_webhook", id: "con_1", body: raw, signature: "sig" });
    expect(seen.map((s) => s.kind)).toEqual(["signed_webhook", "github", "gitlab", "github"]);
  });

  it("waits for the committed event's proof only when asked, with the asked timeout, and answers it as proof_receipt", async () => {
    const { app, waits } = setup();
    const plain = await app.request("/v2/connectors/signed-webhooks/con_1/events", post("{}"));
    expect(await plain.json()).not.toHaveProperty("proof_receipt");
    const proven = await app.request("/v2/connectors/github/con_1/events?wait_for_proof=true&proof_timeout=1.5s", post("{}"));
    expect(await proven.json()).toMatchObject({ seq_no: 1, proof_receipt: { status: "PROVEN", tlog_proof: "proof of 1", checkpoint_tree_size: 1 } });
    const pending = await app.request("/v2/connectors/gitlab/con_1/events?wait_for_proof=1&proof_timeout=0.001s", post("{}"));
    expect(await pending.json()).toMatchObject({ proof_receipt: { status: "PENDING", pending_reason: "late" } });
    const s3 = await app.request("/v2/tenant/connectors/s3-objects/con_s3/commit?wait_for_proof=true", post('{"key":"k"}', { authorization: "Bearer atk_good" }));
    expect(await s3.json()).toMatchObject({ seq_no: 2, receipt: { key: "k" }, proof_receipt: { status: "PROVEN", tlog_proof: "proof of 2" } });
    expect(waits).toEqual([
      { seqNo: 1, timeoutMs: 1500 },
      { seqNo: 1, timeoutMs: 1 },
      { seqNo: 2, timeoutMs: 0 },
    ]);
  });

  it("refuses a malformed wait_for_proof or proof_timeout before anything is committed", async () => {
    const { app, seen, commits } = setup();
    const bad = await app.request("/v2/connectors/github/con_1/events?wait_for_proof=true&proof_timeout=forever", post("{}"));
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { field: string } }).error.field).toBe("proof_timeout");
    const s3 = await app.request("/v2/tenant/connectors/s3-objects/con_s3/commit?wait_for_proof=maybe", post('{"key":"k"}', { authorization: "Bearer atk_good" }));
    expect(s3.status).toBe(400);
    expect([seen, commits]).toEqual([[], []]);
  });

  it("answers a domain error as the JSON error of the plain routes", async () => {
    const { app } = setup();
    const res = await app.request("/v2/connectors/github/missing/events", post("{}"));
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("not_found");
  });

  it("commits an S3 object for the key's tenant and answers the receipt", async () => {
    const { app, commits } = setup();
    const res = await app.request("/v2/tenant/connectors/s3-objects/con_s3/commit", post('{"key":"a/b.txt","metadata":{"k":"v"}}', { authorization: "Bearer atk_good" }));
    expect(res.status).toBe(201);
    const body = (await res.json()) as { seq_no: number; receipt: Record<string, unknown> };
    expect(body.seq_no).toBe(2);
    expect(body.receipt).toMatchObject({ bucket: "b", key: "a/b.txt", version_id: "", last_modified: "2026-01-02T00:00:00.000Z" });
    expect(commits).toEqual([{ tenantId: "ten_1", id: "con_s3", input: { key: "a/b.txt", versionId: "", metadata: { k: "v" } } }]);
  });

  it("refuses an S3 commit without the tenant's key, or with a body that breaks a rule, naming the field and committing nothing", async () => {
    const { app, commits } = setup();
    expect((await app.request("/v2/tenant/connectors/s3-objects/con_s3/commit", post('{"key":"k"}'))).status).toBe(401);
    const cases: Array<[string, string]> = [
      ["[1]", "body"],
      ["not json", "body"],
      ['{"key":""}', "key"],
      [`{"key":"${"k".repeat(1025)}"}`, "key"],
      ['{"key":"k","versionId":5}', "versionId"],
      ['{"key":"k","metadata":[1]}', "metadata"],
      ['{"key":"k","extra":1}', "extra"],
    ];
    for (const [body, field] of cases) {
      const res = await app.request("/v2/tenant/connectors/s3-objects/con_s3/commit", post(body, { authorization: "Bearer atk_good" }));
      expect(res.status, body).toBe(400);
      expect(((await res.json()) as { error: { field: string } }).error.field, body).toBe(field);
    }
    expect(commits).toEqual([]);
  });
});
