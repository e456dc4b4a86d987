import { randomUUID } from "node:crypto";
import { sign } from "@octokit/webhooks-methods";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConnectorKind, ConnectorStatus, GitLabConfig_TokenMode } from "../gen/ts/attesto/v1/connector_pb.js";
import type { Attesto } from "../src/server/app.js";
import { post, startConnectorServer, tenantWithStream, type TenantWithStream } from "./support/connectors.js";
import { capturedLogs, leakedIntoLogs, sensitive } from "./support/connectors.js";

let app: Attesto;
let t: TenantWithStream;

beforeAll(async () => {
  app = await startConnectorServer();
  t = await tenantWithStream(app);
});
afterAll(async () => {
  await app?.stop();
});

/** A GitHub push delivery body, with fields that must never be committed. */
const githubPush = JSON.stringify({
  ref: "refs/heads/main",
  before: "sha-before",
  after: "sha-after",
  repository: { full_name: "owner/repository", pushed_at: 1780000000, private: true },
  pusher: { name: "octocat", email: "octocat@example.com" },
  head_commit: { message: "raw provider detail" },
});

sensitive.add("octocat@example.com").add("raw provider detail").add("dev@example.com");

const treeSize = async (s: TenantWithStream) => (await s.ps.getStream({ streamId: s.streamId })).stream!.treeSize;

describe("GitHub connector", () => {
  it("verifies X-Hub-Signature-256, answers ping without committing, commits a push's normalized metadata once per delivery", async () => {
    const s = await tenantWithStream(app);
    const { connector, secret } = await s.connectors.createConnector({ streamId: s.streamId, name: "gh", kind: ConnectorKind.GITHUB });
    const url = `${app.url}/v2/connectors/github/${connector!.id}/events`;
    const headers = async (event: string, body: string, delivery = randomUUID()) => ({
      "content-type": "application/json",
      "x-github-event": event,
      "x-github-delivery": delivery,
      "x-hub-signature-256": await sign(secret, body),
    });

    const ping = JSON.stringify({ zen: "Keep it logically awesome.", hook_id: 1 });
    expect(await post(url, await headers("ping", ping), ping)).toMatchObject({ status: 200, json: { ping: "ok" } });
    expect(await treeSize(s)).toBe(0n);

    const delivery = randomUUID();
    const first = await post(url, await headers("push", githubPush, delivery), githubPush);
    expect(first.status).toBe(201);
    const redelivered = await post(url, await headers("push", githubPush, delivery), githubPush);
    expect(redelivered.status).toBe(200);
    expect(redelivered.json).toMatchObject({ seq_no: 1, duplicate: true });
    const { event } = await s.ps.getEvent({ streamId: s.streamId, event: { case: "seqNo", value: 1n } });
    // X-GitHub-Delivery is not signed: it is neither committed nor what the event is known by.
    expect(event!.payload).toEqual({
      provider: "github",
      event: "push",
      repository: "owner/repository",
      ref: "refs/heads/main",
      before: "sha-before",
      after: "sha-after",
    });
    expect(event!.sourceRef).toMatch(/^github:push:[0-9a-f]{64}$/);
    expect(event!.eventType).toBe("github.push");

    const issues = JSON.stringify({ action: "opened" });
    expect(await post(url, await headers("issues", issues), issues)).toMatchObject({ status: 202, json: { ignored: "issues" } });
    expect(await treeSize(s)).toBe(1n);

    const bad = await post(url, { ...(await headers("push", githubPush)), "x-hub-signature-256": await sign("wrong", githubPush) }, githubPush);
    expect(bad.status).toBe(401);
    const notJson = "{";
    const rejected = await post(url, await headers("push", notJson), notJson);
    expect(rejected.status).toBe(400);
    expect((rejected.json!.error as { field: string }).field).toBe("body");

    const diag = (await s.connectors.getConnectorDiagnostics({ connectorId: connector!.id })).diagnostics!;
    expect(diag.counters).toMatchObject({ acceptedCount: 1n, duplicateCount: 1n, pingCount: 1n, ignoredCount: 1n, authFailureCount: 1n, rejectedCount: 1n });
    expect(diag.lastFailureReason).toBe("BODY_INVALID");
    // A bad signature is anyone's to send: counted, never the status.
    expect(diag.status).toBe(ConnectorStatus.HEALTHY);
  });

  it("a replayed push with a fresh X-GitHub-Delivery is a duplicate, not new evidence (GitHub signs no delivery id and no time)", async () => {
    const s = await tenantWithStream(app);
    const { connector, secret } = await s.connectors.createConnector({ streamId: s.streamId, name: "gh replays", kind: ConnectorKind.GITHUB });
    const url = `${app.url}/v2/connectors/github/${connector!.id}/events`;
    const signature = await sign(secret, githubPush);
    const answers = [];
    for (let i = 0; i < 5; i++) {
      answers.push(await post(url, { "content-type": "application/json", "x-github-event": "push", "x-github-delivery": randomUUID(), "x-hub-signature-256": signature }, githubPush));
    }
    expect(answers.map((a) => a.status)).toEqual([201, 200, 200, 200, 200]);
    expect(answers.slice(1).every((a) => a.json!.duplicate === true && a.json!.seq_no === 1)).toBe(true);
    expect(await treeSize(s)).toBe(1n);

    // Another push of the same ref (a new push time) is new evidence.
    const next = JSON.stringify({ ...JSON.parse(githubPush), before: "sha-after", after: "sha-next", repository: { full_name: "owner/repository", pushed_at: 1780000100 } });
    expect((await post(url, { "x-github-event": "push", "x-github-delivery": randomUUID(), "x-hub-signature-256": await sign(secret, next) }, next)).status).toBe(201);
    expect(await treeSize(s)).toBe(2n);
    // A push time no timestamp can hold is a 400 naming it, not a failed request.
    const far = JSON.stringify({ ...JSON.parse(githubPush), repository: { full_name: "owner/repository", pushed_at: Number.MAX_SAFE_INTEGER } });
    const refused = await post(url, { "x-github-event": "push", "x-hub-signature-256": await sign(secret, far) }, far);
    expect(refused.status).toBe(400);
    expect((refused.json!.error as { field: string }).field).toBe("repository.pushed_at");

    // After a rotation without overlap, a push signed with the replaced secret is refused and flags the connector.
    await s.connectors.rotateConnectorSecret({ connectorId: connector!.id, overlap: { seconds: 0n } });
    expect((await post(url, { "x-github-event": "push", "x-hub-signature-256": signature }, githubPush)).status).toBe(401);
    const diag = (await s.connectors.getConnectorDiagnostics({ connectorId: connector!.id })).diagnostics!;
    expect(diag.status).toBe(ConnectorStatus.AUTH_FAILED);
    expect(diag.lastFailureReason).toBe("SECRET_RETIRED");
  });

  it("ignores events outside the connector's allow-list", async () => {
    const { connector, secret } = await t.connectors.createConnector({
      streamId: t.streamId,
      name: "gh issues only",
      kind: ConnectorKind.GITHUB,
      config: { case: "github", value: { events: ["issues"] } },
    });
    const res = await post(
      `${app.url}/v2/connectors/github/${connector!.id}/events`,
      { "x-github-event": "push", "x-github-delivery": randomUUID(), "x-hub-signature-256": await sign(secret, githubPush) },
      githubPush,
    );
    expect(res).toMatchObject({ status: 202, json: { ignored: "push" } });
  });
});

const gitlabPush = (commits: Array<{ id: string; timestamp: string }> = [{ id: "sha-after", timestamp: "2026-06-07T12:00:00Z" }]) =>
  JSON.stringify({
    object_kind: "push",
    ref: "refs/heads/main",
    before: "sha-before",
    after: "sha-after",
    project: { path_with_namespace: "group/project", id: 42 },
    user_email: "dev@example.com",
    commits,
  });

/** A delivery as GitLab's signing token makes it, signed by the standardwebhooks library. */
function signedGitLab(secret: string, body: string, id = `msg_${randomUUID()}`, at = new Date()) {
  return {
    "content-type": "application/json",
    "x-gitlab-event": "Push Hook",
    "webhook-id": id,
    "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
    "webhook-signature": new Webhook(secret).sign(id, at, body),
  };
}

describe("GitLab connector", () => {
  it("signing-token mode: Standard Webhooks deliveries commit the seed's metadata; redeliveries are duplicates", async () => {
    const s = await tenantWithStream(app);
    const { connector, secret } = await s.connectors.createConnector({ streamId: s.streamId, name: "gl", kind: ConnectorKind.GITLAB });
    const url = `${app.url}/v2/connectors/gitlab/${connector!.id}/events`;
    const body = gitlabPush();
    const headers = signedGitLab(secret, body);
    expect((await post(url, headers, body)).status).toBe(201);
    expect((await post(url, headers, body)).status).toBe(200);
    const { event } = await s.ps.getEvent({ streamId: s.streamId, event: { case: "seqNo", value: 1n } });
    expect(event!.payload).toEqual({
      provider: "gitlab",
      event: "push",
      project_path: "group/project",
      ref: "refs/heads/main",
      before: "sha-before",
      after: "sha-after",
      delivery_id: headers["webhook-id"],
    });

    // GitLab's retry: the same webhook-id (its Idempotency-Key's value), signed again with a new timestamp.
    const deletion = gitlabPush([]);
    const webhookId = `msg_${randomUUID()}`;
    expect((await post(url, { ...signedGitLab(secret, deletion, webhookId), "idempotency-key": webhookId }, deletion)).status).toBe(201);
    const retry = await post(url, { ...signedGitLab(secret, deletion, webhookId, new Date(Date.now() + 2_000)), "idempotency-key": webhookId }, deletion);
    expect(retry.status).toBe(200);
    expect(retry.json!.duplicate).toBe(true);

    const stale = signedGitLab(secret, body, undefined, new Date(Date.now() - 301_000));
    expect((await post(url, stale, body)).status).toBe(401);
    expect((await post(url, signedGitLab("whsec_" + Buffer.alloc(32).toString("base64"), body), body)).status).toBe(401);
    expect((await post(url, { "x-gitlab-token": secret }, body)).status).toBe(401);

    const mr = JSON.stringify({ object_kind: "merge_request" });
    expect(await post(url, signedGitLab(secret, mr), mr)).toMatchObject({ status: 202, json: { ignored: "merge_request" } });
  });

  it("legacy-token mode accepts X-Gitlab-Token until rotated; rotation moves it to signing tokens", async () => {
    const s = await tenantWithStream(app);
    const created = await s.connectors.createConnector({
      streamId: s.streamId,
      name: "gl legacy",
      kind: ConnectorKind.GITLAB,
      config: { case: "gitlab", value: { tokenMode: GitLabConfig_TokenMode.LEGACY_TOKEN } },
    });
    const id = created.connector!.id;
    const url = `${app.url}/v2/connectors/gitlab/${id}/events`;
    const body = gitlabPush();
    expect((await post(url, { "x-gitlab-token": created.secret, "idempotency-key": randomUUID() }, body)).status).toBe(201);
    // The token signs nothing: the push is known by its content, so the same push under a new Idempotency-Key is a duplicate.
    const replay = await post(url, { "x-gitlab-token": created.secret, "idempotency-key": randomUUID() }, body);
    expect(replay).toMatchObject({ status: 200, json: { duplicate: true, seq_no: 1 } });
    const { event } = await s.ps.getEvent({ streamId: s.streamId, event: { case: "seqNo", value: 1n } });
    expect(event!.payload).toEqual({ provider: "gitlab", event: "push", project_path: "group/project", ref: "refs/heads/main", before: "sha-before", after: "sha-after" });
    expect((await post(url, { "x-gitlab-token": created.secret + "x", "idempotency-key": randomUUID() }, body)).status).toBe(401);

    const rotated = await s.connectors.rotateConnectorSecret({ connectorId: id });
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.connector!.config.value).toMatchObject({ tokenMode: GitLabConfig_TokenMode.SIGNING_TOKEN });
    expect((await post(url, { "x-gitlab-token": created.secret, "idempotency-key": randomUUID() }, body)).status).toBe(401);
    // GitLab still sends the legacy token the rotation retired: the tenant must act, so the status says so.
    const diag = (await s.connectors.getConnectorDiagnostics({ connectorId: id })).diagnostics!;
    expect(diag.status).toBe(ConnectorStatus.AUTH_FAILED);
    expect(diag.lastFailureReason).toBe("SECRET_RETIRED");
    // Signed now: keyed on the webhook-id, so the same push under a new delivery is a new event.
    expect((await post(url, signedGitLab(rotated.secret, body), body)).status).toBe(201);
  });

  it("signing-token mode: a replay within the timestamp window with a new Idempotency-Key is a duplicate (keyed on the signed webhook-id)", async () => {
    const s = await tenantWithStream(app);
    const { connector, secret } = await s.connectors.createConnector({ streamId: s.streamId, name: "gl replays", kind: ConnectorKind.GITLAB });
    const url = `${app.url}/v2/connectors/gitlab/${connector!.id}/events`;
    const body = gitlabPush();
    const signed = signedGitLab(secret, body);
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await post(url, { ...signed, "idempotency-key": randomUUID() }, body));
    expect(answers.map((a) => a.status)).toEqual([201, 200, 200]);
    expect(answers.slice(1).every((a) => a.json!.duplicate === true)).toBe(true);
    expect(await treeSize(s)).toBe(1n);
    // Without a webhook-id the signature cannot verify: nothing to key on, nothing committed.
    const { "webhook-id": _id, ...unkeyed } = signed;
    expect((await post(url, unkeyed, body)).status).toBe(401);
    expect(await treeSize(s)).toBe(1n);
  });

  it("wrote none of the secrets and payloads it used into a log line", () => {
    expect(capturedLogs.length).toBeGreaterThan(0);
    expect(sensitive.size).toBeGreaterThan(1);
    expect(leakedIntoLogs()).toEqual([]);
  });
});
