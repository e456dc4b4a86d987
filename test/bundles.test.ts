import { createHash } from "node:crypto";
import http from "node:http";
import { Code, ConnectError } from "@connectrpc/connect";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BundleStatus, ProofstreamService } from "../gen/ts/attesto/v1/proofstream_pb.js";
import { VerifierService } from "../gen/ts/attesto/v1/verifier_pb.js";
import type { Attesto } from "../src/server/app.js";
import type { BundleDocument } from "../src/verify/bundle.js";
import { verifyDocument } from "../src/verify/document.js";
import { TAMPERS } from "./support/bundles.js";
import { appendRequest } from "./support/proofstream.js";
import { ADMIN_TOKEN, clientFor, newTenant } from "./support/server.js";
import { isolatedStore, Receiver, startWebhookServer, waitFor, webhookClient, type Store } from "./support/webhooks.js";

let store: Store;
let app: Attesto;
let receiver: Receiver;

beforeAll(async () => {
  store = await isolatedStore("bundles");
  // Small pages and chunks, so that a few hundred events exercise paging and chunking.
  app = await startWebhookServer(store, { checkpointIntervalMs: 60_000, bundlePageSize: 100, bundleChunkBytes: 4096, verifyMaxBytes: 512 * 1024, dbPoolSize: 4 });
  receiver = await Receiver.start();
});
afterAll(async () => {
  await app?.stop();
  await receiver?.close();
  await store?.drop();
});

async function streamWith(key: string, count: number) {
  const ps = clientFor(ProofstreamService, app.url, key);
  const { stream } = await ps.createStream({ name: `bundled ${count}` });
  for (let at = 0; at < count; at += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, count - at) }, (_, i) => ps.appendEvent(appendRequest(stream!.id, `e-${at + i}`, { n: at + i, text: `payload ${at + i}`, list: [1, 2.5, "x"] }))),
    );
  }
  return { ps, stream: stream! };
}

async function ready(ps: ReturnType<typeof clientFor<typeof ProofstreamService>>, bundleId: string) {
  return waitFor(
    async () => {
      const { bundle } = await ps.getBundle({ bundleId });
      if (bundle!.status === BundleStatus.FAILED) throw new Error(`bundle failed: ${bundle!.failureReason}`);
      return bundle!.status === BundleStatus.READY ? bundle! : undefined;
    },
    `bundle ${bundleId} to be ready`,
    60_000,
  );
}

describe("verifier bundles", () => {
  let shared: { key: string; bundle: BundleDocument; verifierKey: string; text: string; tlogProof: string };

  it("builds a range in pages into chunked rows, serves and downloads it, and fires proofstream.bundle_ready as the seed shows", async () => {
    const tenant = await newTenant(app.url);
    await webhookClient(app, tenant.key).createSubscription({ name: "bundles", url: receiver.url(), eventTypes: ["proofstream.bundle_ready"] });
    const { ps, stream } = await streamWith(tenant.key, 530);

    const { bundle: pending } = await ps.createBundle({ streamId: stream.id, fromSeqNo: 7n, toSeqNo: 523n, includePayloads: true });
    expect(pending!.status).toBe(BundleStatus.PENDING);
    expect(pending!.id).toMatch(/^bundle_/);
    expect(pending!.verificationUrl).toBe(`${app.url}/verify?bundle=${pending!.id}`);
    const bundle = await ready(ps, pending!.id);
    expect(bundle).toMatchObject({ fromSeqNo: 7n, toSeqNo: 523n, eventsDone: 517n, checkpointSize: 530n, includePayloads: true, downloadUrl: `${app.url}/bundles/${bundle.id}/download` });
    expect(bundle.completedAt).toBeDefined();

    // The build is a BullMQ job whose progress the queue board shows.
    const job = await app.jobs.queue("bundles").getJob(bundle.id);
    expect(job?.progress).toBe(100);
    const board = await fetch(`${app.url}/admin/queues/api/queues?activeQueue=bundles&status=completed`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(board.status).toBe(200);
    const queues = ((await board.json()) as { queues: Array<{ name: string; jobs: Array<{ id: string; progress: number }> }> }).queues;
    expect(queues.find((q) => q.name === "bundles")?.jobs.find((j) => j.id === bundle.id)?.progress).toBe(100);

    const doc = JSON.parse(bundle.bundleJson) as BundleDocument;
    expect(doc).toMatchObject({
      format: "attesto.bundle.v1",
      stream_id: stream.id,
      origin: stream.origin,
      verifier_key: stream.verifierKey,
      from_seq_no: 7,
      to_seq_no: 523,
      payloads_included: true,
      anchors: [],
    });
    expect(doc.entries).toHaveLength(517);
    expect(doc.entries[0]).toMatchObject({ seq_no: 7, source_ref: "e-6", event_type: "source.observation", payload: { n: 6, text: "payload 6", list: [1, 2.5, "x"] } });
    expect(doc.range_proof.hashes.length).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(530)));
    const report = verifyDocument(bundle.bundleJson, { pinnedKey: stream.verifierKey });
    expect(report.checks.map((c) => [c.name, c.status])).toEqual([
      ["format", "pass"],
      ["signature", "pass"],
      ["leaves", "pass"],
      ["range_proof", "pass"],
      ["anchors", "skipped"],
    ]);
    expect(report.valid).toBe(true);

    // Stored as chunked rows, written as the pages (100 events each, over the 4 KiB chunk size) stream in.
    const sql = postgres(store.databaseUrl, { max: 1, onnotice: () => {} });
    const [chunks] = await sql<{ n: string; total: string }[]>`SELECT count(*) AS n, sum(length(data)) AS total FROM bundle_chunks WHERE bundle_id = ${bundle.id}`;
    await sql.end();
    expect(Number(chunks!.n)).toBeGreaterThanOrEqual(6);
    expect(Number(chunks!.total)).toBe(Number(bundle.sizeBytes));

    const download = await fetch(bundle.downloadUrl, { headers: { Authorization: `Bearer ${tenant.key}` } });
    expect(download.status).toBe(200);
    expect(download.headers.get("content-disposition")).toContain(`${bundle.id}.json`);
    expect(await download.text()).toBe(bundle.bundleJson);
    expect((await fetch(bundle.downloadUrl)).status).toBe(401);
    const other = await newTenant(app.url);
    expect((await fetch(bundle.downloadUrl, { headers: { Authorization: `Bearer ${other.key}` } })).status).toBe(404);
    await expect(clientFor(ProofstreamService, app.url, other.key).getBundle({ bundleId: bundle.id })).rejects.toMatchObject({ code: Code.NotFound });

    const delivered = await waitFor(() => receiver.received.find((r) => r.headers["x-attesto-event"] === "proofstream.bundle_ready"), "a proofstream.bundle_ready delivery");
    const body = JSON.parse(delivered.body.toString("utf8")) as { event: string; tenant_id: string; data: unknown };
    expect(body.event).toBe("proofstream.bundle_ready");
    expect(body.tenant_id).toBe(tenant.tenantId);
    expect(body.data).toStrictEqual({
      stream_id: stream.id,
      bundle_id: bundle.id,
      from_seq_no: 7,
      to_seq_no: 523,
      verification_url: `${app.url}/verify?bundle=${bundle.id}`,
      verification_url_shared: false,
    });

    const { tlogProof } = await ps.getInclusionProof({ streamId: stream.id, leaf: { case: "seqNo", value: 42n } });
    shared = { key: tenant.key, bundle: doc, verifierKey: stream.verifierKey, text: bundle.bundleJson, tlogProof };
  }, 120_000);

  it("withholds payloads and adds per-entry tlog-proofs when asked", async () => {
    const tenant = await newTenant(app.url);
    const { ps, stream } = await streamWith(tenant.key, 60);
    await ps.createCheckpoint({ streamId: stream.id });
    const { bundle: pending } = await ps.createBundle({ streamId: stream.id, fromSeqNo: 1n, toSeqNo: 60n, includeInclusionProofs: true });
    const bundle = await ready(ps, pending!.id);
    const doc = JSON.parse(bundle.bundleJson) as BundleDocument;
    expect(doc.payloads_included).toBe(false);
    expect(doc.entries.every((e) => !("payload" in e) && e.tlog_proof?.startsWith("c2sp.org/tlog-proof@v1\n"))).toBe(true);
    const report = verifyDocument(bundle.bundleJson, { pinnedKey: stream.verifierKey });
    expect(report.checks.map((c) => [c.name, c.status])).toEqual([
      ["format", "pass"],
      ["signature", "pass"],
      ["leaves", "pass"],
      ["range_proof", "pass"],
      ["inclusion_proofs", "pass"],
      ["anchors", "skipped"],
    ]);
    expect(report.checks.find((c) => c.name === "leaves")!.detail).toMatch(/not checkable/);
  }, 60_000);

  it("refuses bad ranges with the field named, and nothing is written", async () => {
    const tenant = await newTenant(app.url);
    const { ps, stream } = await streamWith(tenant.key, 5);
    const err = (p: Promise<unknown>) =>
      p.then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
    const inverted = await err(ps.createBundle({ streamId: stream.id, fromSeqNo: 4n, toSeqNo: 2n }));
    expect(inverted).toMatchObject({ code: Code.InvalidArgument });
    expect(inverted!.rawMessage).toMatch(/^to_seq_no/);
    expect(await err(ps.createBundle({ streamId: stream.id, fromSeqNo: 0n, toSeqNo: 2n }))).toMatchObject({ code: Code.InvalidArgument });
    expect(await err(ps.createBundle({ streamId: stream.id, fromSeqNo: 1n, toSeqNo: 6n }))).toMatchObject({ code: Code.FailedPrecondition });
    expect(await err(ps.createBundle({ streamId: "str_01J0000000000000000000000Z", fromSeqNo: 1n, toSeqNo: 1n }))).toMatchObject({ code: Code.NotFound });
    expect(await err(ps.getBundle({ bundleId: "bundle_01J0000000000000000000000Z" }))).toMatchObject({ code: Code.NotFound });
    expect(await err(ps.createBundle({ streamId: stream.id, fromSeqNo: 1n, toSeqNo: 2n ** 60n }))).toMatchObject({ code: Code.InvalidArgument });
    const sql = postgres(store.databaseUrl, { max: 1, onnotice: () => {} });
    const [row] = await sql<{ n: string }[]>`SELECT count(*) AS n FROM bundles WHERE stream_id = ${stream.id}`;
    await sql.end();
    expect(Number(row!.n)).toBe(0);
    expect((await fetch(`${app.url}/bundles/not-a-bundle/download`, { headers: { Authorization: `Bearer ${tenant.key}` } })).status).toBe(400);
  });

  describe("VerifierService.VerifyBundle and POST /v2/verify (public)", () => {
    const post = (body: string, key?: string) =>
      fetch(`${app.url}/v2/verify${key ? `?verifier_key=${encodeURIComponent(key)}` : ""}`, { method: "POST", body, headers: { "Content-Type": "application/json" } });
    const failing = (checks: Array<{ name: string; status: string }>) => checks.filter((c) => c.status === "fail").map((c) => c.name);

    it("verify a real bundle and a tlog-proof with the pinned key, without any API key", async () => {
      const verifier = clientFor(VerifierService, app.url);
      const rpc = await verifier.verifyBundle({ bundleJson: shared.text, verifierKey: shared.verifierKey });
      expect(rpc).toMatchObject({ valid: true, kind: "bundle", streamId: shared.bundle.stream_id, fromSeqNo: 7n, toSeqNo: 523n, checkpointSize: 530n, entries: 517n, anchors: 0n });
      expect(rpc.checks.map((c) => [c.name, c.status, c.ok])).toEqual([
        ["format", "pass", true],
        ["signature", "pass", true],
        ["leaves", "pass", true],
        ["range_proof", "pass", true],
        ["anchors", "skipped", true],
      ]);
      const unpinned = await verifier.verifyBundle({ bundleJson: shared.text });
      expect(unpinned.valid).toBe(false);
      expect(unpinned.checks.find((c) => c.name === "signature")).toMatchObject({ status: "unpinned", ok: false });
      const proof = await verifier.verifyBundle({ tlogProof: shared.tlogProof, verifierKey: shared.verifierKey });
      expect(proof).toMatchObject({ valid: true, kind: "tlog-proof", fromSeqNo: 42n, toSeqNo: 42n });

      const res = await post(shared.text, shared.verifierKey);
      expect(res.status).toBe(200);
      const report = (await res.json()) as { valid: boolean; checks: Array<{ name: string; status: string; ok: boolean }> };
      expect(report.valid).toBe(true);
      expect(report.checks.map((c) => c.name)).toEqual(["format", "signature", "leaves", "range_proof", "anchors"]);
      const tlog = (await (await post(shared.tlogProof, shared.verifierKey)).json()) as { valid: boolean; kind: string };
      expect(tlog).toMatchObject({ valid: true, kind: "tlog-proof" });
    });

    for (const name of ["changed payload", "dropped entry", "checkpoint signed by another key", "range proof hash altered"]) {
      it(`${name}: fails exactly ${TAMPERS.find((t) => t.name === name)!.fails} over RPC and HTTP`, async () => {
        const tamper = TAMPERS.find((t) => t.name === name)!;
        const text = JSON.stringify(tamper.apply(shared.bundle, undefined as never));
        const rpc = await clientFor(VerifierService, app.url).verifyBundle({ bundleJson: text, verifierKey: shared.verifierKey });
        expect(rpc.valid).toBe(false);
        expect(failing(rpc.checks)).toEqual([tamper.fails]);
        const http = (await (await post(text, shared.verifierKey)).json()) as { valid: boolean; checks: Array<{ name: string; status: string }> };
        expect(http.valid).toBe(false);
        expect(failing(http.checks)).toEqual([tamper.fails]);
      });
    }

    it("answers hostile input with 4xx naming the field, and garbage with a failed format check", async () => {
      const empty = await post("");
      expect(empty.status).toBe(400);
      expect(((await empty.json()) as { error: { field: string } }).error.field).toBe("body");

      const garbage = (await (await post("{not json")).json()) as { valid: boolean; checks: Array<{ name: string; status: string }> };
      expect(garbage.valid).toBe(false);
      expect(garbage.checks[0]).toMatchObject({ name: "format", status: "fail" });
      expect((await post(shared.tlogProof, "x".repeat(2000))).status).toBe(400);
      await expect(clientFor(VerifierService, app.url).verifyBundle({})).rejects.toMatchObject({ code: Code.InvalidArgument });
      await expect(clientFor(VerifierService, app.url).verifyBundle({ tlogProof: "hello" })).rejects.toMatchObject({ code: Code.InvalidArgument });
    });

    it("refuses a document over ATTESTO_VERIFY_MAX_BYTES with 413", async () => {
      // The server answers 413 before reading the body and closes: read the answer with node:http, which sees it.
      const big = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(`${app.url}/v2/verify`, { method: "POST", agent: false, headers: { "Content-Type": "application/json", "Content-Length": String(600 * 1024) } }, (res) => {
          let body = "";
          res.on("data", (d) => (body += d));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on("error", (e: NodeJS.ErrnoException) => (e.code === "EPIPE" || e.code === "ECONNRESET" ? undefined : reject(e)));
        req.end("x".repeat(600 * 1024));
      });
      expect(big.status).toBe(413);
      expect(JSON.parse(big.body)).toMatchObject({ error: { code: "payload_too_large", field: "body" } });
    });
  });
});

describe("bundle share links (issue 26, defect 6)", () => {
  const shared = (token: string | undefined, init: Record<string, string> = {}) =>
    fetch(`${app.url}/v1/shared-bundle`, { headers: { ...(token === undefined ? {} : { "X-Attesto-Share-Token": token }), ...init } });
  const sql = () => postgres(store.databaseUrl, { max: 1, onnotice: () => {} });

  it("CreateBundle with share: the answer's link and proofstream.bundle_ready's verification_url fetch the bundle with no key, until revoked", async () => {
    const tenant = await newTenant(app.url);
    await webhookClient(app, tenant.key).createSubscription({ name: "shared", url: receiver.url(), eventTypes: ["proofstream.bundle_ready"] });
    const { ps, stream } = await streamWith(tenant.key, 40);
    const created = await ps.createBundle({ streamId: stream.id, fromSeqNo: 3n, toSeqNo: 30n, includePayloads: true, share: true, shareTtl: { seconds: 3600n, nanos: 0 } });
    const link = created.shareLink!;
    expect(link.bundleId).toBe(created.bundle!.id);
    expect(link.token).toMatch(/^ats_[A-Za-z0-9_-]{43}$/);
    expect(link.url).toBe(`${app.url}/verify#share=${link.token}`);
    const expiresIn = Number(link.expiresAt!.seconds) * 1000 - Date.now();
    expect(expiresIn).toBeGreaterThan(3_500_000);
    expect(expiresIn).toBeLessThanOrEqual(3_600_000);
    // The plain page link stays what it was: it needs the tenant's key.
    expect(created.bundle!.verificationUrl).toBe(`${app.url}/verify?bundle=${created.bundle!.id}`);
    const bundle = await ready(ps, created.bundle!.id);

    const delivered = await waitFor(
      () => receiver.received.find((r) => r.headers["x-attesto-event"] === "proofstream.bundle_ready" && r.body.toString("utf8").includes(bundle.id)),
      "the shared bundle's proofstream.bundle_ready",
    );
    const data = (JSON.parse(delivered.body.toString("utf8")) as { data: Record<string, unknown> }).data;
    expect(data).toStrictEqual({
      stream_id: stream.id,
      bundle_id: bundle.id,
      from_seq_no: 3,
      to_seq_no: 30,
      verification_url: link.url,
      verification_url_shared: true,
      share_link_id: link.id,
      share_expires_at: new Date(Number(link.expiresAt!.seconds) * 1000 + Math.floor(link.expiresAt!.nanos / 1e6)).toISOString(),
    });

    // The page's fetch: no Authorization, the token (from the URL's fragment) in a header.
    const token = new URL(data.verification_url as string).hash.replace(/^#share=/, "");
    const res = await shared(token);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await res.text()).toBe(bundle.bundleJson);

    const { shareLink: revoked } = await ps.revokeBundleShareLink({ shareLinkId: link.id });
    expect(revoked!.revokedAt).toBeDefined();
    expect(revoked!.token).toBe("");
    // Idempotent: the first revocation time stays.
    expect((await ps.revokeBundleShareLink({ shareLinkId: link.id })).shareLink!.revokedAt).toEqual(revoked!.revokedAt);
    const gone = await shared(token);
    expect(gone.status).toBe(404);
    expect(await gone.json()).toEqual({ error: { code: "not_found", message: "share link not found, expired or revoked", reason: "RESOURCE_NOT_FOUND" } });
  }, 120_000);

  it("expired, revoked and unknown tokens answer the same 404; malformed or missing ones 400 naming the header; no token is stored or queued in clear", async () => {
    const tenant = await newTenant(app.url);
    const { ps, stream } = await streamWith(tenant.key, 5);
    const created = await ps.createBundle({ streamId: stream.id, fromSeqNo: 1n, toSeqNo: 5n, share: true });
    const bundle = await ready(ps, created.bundle!.id);
    const { shareLink: second } = await ps.createBundleShareLink({ bundleId: bundle.id });
    const week = Number(second!.expiresAt!.seconds) * 1000 - Date.now();
    expect(week).toBeGreaterThan(7 * 86_400_000 - 60_000);
    expect(week).toBeLessThanOrEqual(7 * 86_400_000);
    expect((await shared(second!.token)).status).toBe(200);

    const db = sql();
    try {
      // Only SHA-256 hashes: no column of any link row holds a token.
      const rows = await db<{ row: string; hash: Buffer }[]>`SELECT row_to_json(l)::text AS row, token_sha256 AS hash FROM bundle_share_links l WHERE bundle_id = ${bundle.id} ORDER BY created_at`;
      expect(rows).toHaveLength(2);
      for (const r of rows) expect(r.row).not.toMatch(/ats_/);
      expect(rows.map((r) => r.hash.toString("hex"))).toContain(createHash("sha256").update(second!.token).digest("hex"));
      // The build job carries the CreateBundle link's token sealed, never in clear.
      const job = await app.jobs.queue("bundles").getJob(bundle.id);
      expect(JSON.stringify(job!.data)).not.toContain(created.shareLink!.token);
      await db`UPDATE bundle_share_links SET expires_at = now() - interval '1 second' WHERE id = ${second!.id}`;
    } finally {
      await db.end();
    }
    await ps.revokeBundleShareLink({ shareLinkId: created.shareLink!.id });
    const answers = await Promise.all(
      [second!.token, created.shareLink!.token, `ats_${"A".repeat(43)}`].map(async (t) => {
        const r = await shared(t);
        return `${r.status} ${await r.text()}`;
      }),
    );
    expect(new Set(answers).size).toBe(1);
    expect(answers[0]).toMatch(/^404 /);

    for (const [token, headers] of [
      [undefined, {}],
      ["not-a-token", {}],
      [`ats_${"A".repeat(42)}!`, {}],
      [`ats_${"A".repeat(4000)}`, {}],
    ] as const) {
      const res = await shared(token, headers);
      expect(res.status, String(token).slice(0, 20)).toBe(400);
      expect((await res.json()).error).toMatchObject({ code: "invalid_argument", field: "x-attesto-share-token" });
    }
    // A key does not change the answer: the route is the token's alone.
    expect((await shared(undefined, { authorization: `Bearer ${tenant.key}` })).status).toBe(400);
  }, 120_000);

  it("a link's lifetime is bounded, on RPC and REST; REST creates and revokes; another tenant's bundles and links read as not found", async () => {
    const tenant = await newTenant(app.url);
    const { ps, stream } = await streamWith(tenant.key, 3);
    const { bundle } = await ps.createBundle({ streamId: stream.id, fromSeqNo: 1n, toSeqNo: 3n });
    const fail = (p: Promise<unknown>) =>
      p.then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
    for (const ttl of [
      { seconds: 0n, nanos: 0 },
      { seconds: -5n, nanos: 0 },
      { seconds: 31n * 86_400n, nanos: 0 },
    ]) {
      const err = await fail(ps.createBundleShareLink({ bundleId: bundle!.id, ttl }));
      expect(err?.code, String(ttl.seconds)).toBe(Code.InvalidArgument);
      expect(err?.rawMessage).toMatch(/^ttl: /);
    }
    const withoutShare = await fail(ps.createBundle({ streamId: stream.id, fromSeqNo: 1n, toSeqNo: 3n, shareTtl: { seconds: 60n, nanos: 0 } }));
    expect(withoutShare?.rawMessage).toMatch(/^share_ttl: applies only with share/);

    const rest = (method: string, path: string, key: string, body?: unknown) =>
      fetch(`${app.url}${path}`, { method, headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
    for (const body of [{ ttlSeconds: 0 }, { ttlSeconds: 2_592_001 }, { ttlSeconds: "60" }, { ttl: 60 }]) {
      const res = await rest("POST", `/v1/bundles/${bundle!.id}/share-links`, tenant.key, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect((await res.json()).error.field, JSON.stringify(body)).toBe(Object.keys(body)[0] === "ttl" ? "ttl" : "ttlSeconds");
    }
    const made = await rest("POST", `/v1/bundles/${bundle!.id}/share-links`, tenant.key, { ttlSeconds: 600, requestId: "share-1" });
    expect(made.status).toBe(201);
    const link = (await made.json()) as { id: string; url: string; token: string; revokedAt: string | null };
    expect(link.url).toBe(`${app.url}/verify#share=${link.token}`);
    // A retry with the same request id answers the first link, token included.
    const again = (await (await rest("POST", `/v1/bundles/${bundle!.id}/share-links`, tenant.key, { ttlSeconds: 600, requestId: "share-1" })).json()) as { id: string; token: string };
    expect(again).toMatchObject({ id: link.id, token: link.token });

    const other = await newTenant(app.url);
    const otherPs = clientFor(ProofstreamService, app.url, other.key);
    expect((await fail(otherPs.createBundleShareLink({ bundleId: bundle!.id })))?.code).toBe(Code.NotFound);
    expect((await fail(otherPs.revokeBundleShareLink({ shareLinkId: link.id })))?.code).toBe(Code.NotFound);
    expect((await rest("POST", `/v1/bundles/${bundle!.id}/share-links`, other.key)).status).toBe(404);
    expect((await rest("DELETE", `/v1/bundles/${bundle!.id}/share-links/${link.id}`, other.key)).status).toBe(404);
    // Named under another bundle of its own tenant, the link is not found either.
    expect((await rest("DELETE", `/v1/bundles/bundle_01ARZ3NDEKTSV4RRFFQ69G5FAV/share-links/${link.id}`, tenant.key)).status).toBe(404);

    const revoked = await rest("DELETE", `/v1/bundles/${bundle!.id}/share-links/${link.id}`, tenant.key);
    expect(revoked.status).toBe(200);
    expect(await revoked.json()).toMatchObject({ id: link.id, url: null, token: null, revokedAt: expect.any(String) });
    expect((await shared(link.token)).status).toBe(404);
  }, 120_000);
});
