import { writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProofstreamService } from "../gen/ts/attesto/v1/proofstream_pb.js";
import { TenantService } from "../gen/ts/attesto/v1/tenant_pb.js";
import { packageVersion } from "../src/paths.js";
import type { Attesto } from "../src/server/app.js";
import { DEV_CREDENTIALS_FILE } from "../src/tenancy/dev-credentials-types.js";
import { runCli, runCliOnTerminal } from "./support/process.js";
import { ADMIN_TOKEN, adminClient, clientFor, newTenant, startTestServer, tempDir } from "./support/server.js";
import { Receiver, waitFor, webhookClient } from "./support/webhooks.js";

/**
 * The CLI against a live server over the RPCs: no database, Redis or key
 * material in its environment, only the URL and a credential, so every
 * command that works here went through the server.
 */
let app: Attesto;
let receiver: Receiver;
let dir: string;

beforeAll(async () => {
  // No periodic checkpoint within the file's run: the tests sign with `stream checkpoint` and expect
  // exactly those (a periodic one between an append and `rotate-key` moves the takeover size).
  app = await startTestServer({ dbPoolSize: 4, checkpointIntervalMs: 3_600_000, webhookAllowLoopback: true });
  receiver = await Receiver.start();
  dir = await tempDir("attesto-cli-remote-");
});
afterAll(async () => {
  await receiver?.close();
  await app?.stop();
});

/** The parent's environment without anything that would let the CLI reach the database or Redis itself. */
function bare(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { DATABASE_URL: _d, REDIS_URL: _r, ATTESTO_ENCRYPTION_KEY: _k, ATTESTO_ADMIN_TOKEN: _a, ATTESTO_API_KEY: _t, ATTESTO_URL: _u, HOST: _h, PORT: _p, ...rest } = process.env;
  return { ...rest, LOG_LEVEL: "warn", ATTESTO_DATA_DIR: dir, ...extra };
}

const run = runCli;

async function json<T>(args: string[], env: NodeJS.ProcessEnv): Promise<T> {
  const res = await run(["--json", ...args], env);
  expect(res.code, res.stderr).toBe(0);
  expect(res.stderr).toBe("");
  return JSON.parse(res.stdout) as T;
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

describe("attesto CLI, remote", () => {
  it("prints its version, and every command and option has a description", async () => {
    const version = await run(["--version"], bare());
    expect(version.stdout.trim()).toBe(packageVersion());
    const top = await run(["--help"], bare());
    const groups = [...top.stdout.split("Commands:")[1]!.matchAll(/^ {2}([a-z-]+)(?: [^\n]*?)?(?: {2,}(\S[^\n]*))?$/gm)];
    expect(groups.length).toBeGreaterThan(10);
    const undescribed: string[] = [];
    for (const [line, name, description] of groups) {
      if (name === "help") continue;
      if (!description) undescribed.push(line);
      const help = await run([name!, "--help"], bare());
      for (const section of ["Options:", "Commands:"]) {
        const text = help.stdout.split(section)[1]?.split(/\n\n/)[0] ?? "";
        for (const entry of text.split("\n").filter((l) => /^ {2}\S/.test(l))) {
          if (!/\S {2,}\S/.test(entry) && !entry.includes("help [command]")) undescribed.push(`${name}: ${entry}`);
        }
      }
    }
    expect(undescribed).toEqual([]);
  }, 240_000);

  it("runs operator commands over AdminService with the token from ATTESTO_ADMIN_TOKEN, and names the variable when it is missing or refused", async () => {
    const env = bare({ ATTESTO_URL: app.url, ATTESTO_ADMIN_TOKEN: ADMIN_TOKEN });
    const tenant = await json<{ id: string; name: string; active: boolean }>(["tenant", "create", "remote tenant"], env);
    expect(tenant).toMatchObject({ name: "remote tenant", active: true });
    // The server has it: the command went through the RPC, not a database of its own.
    expect((await adminClient(app.url).getTenant({ tenantId: tenant.id })).tenant!.name).toBe("remote tenant");

    const created = await json<{ id: string; secret: string }>(["apikey", "create", tenant.id, "--name", "remote"], env);
    const issued = await json<{ id: string; secret: string }>(["apikey", "issue", tenant.id], env);
    const who = await clientFor(TenantService, app.url, created.secret).getCurrentTenant({});
    expect(who.tenant!.id).toBe(tenant.id);
    const keys = await json<Array<{ id: string; secret?: string }>>(["apikey", "list", tenant.id], env);
    expect(keys.map((k) => k.id).sort()).toEqual([created.id, issued.id].sort());
    expect(keys.every((k) => k.secret === undefined)).toBe(true);
    expect((await json<{ revokedAt: string }>(["apikey", "revoke", issued.id], env)).revokedAt).toBeTruthy();
    expect((await json<unknown[]>(["apikey", "list", tenant.id], env)).length).toBe(1);

    const missing = await run(["tenant", "list"], bare({ ATTESTO_URL: app.url }));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("set ATTESTO_ADMIN_TOKEN");
    const wrongToken = "wrong-operator-token-5521";
    const refused = await run(["tenant", "list"], bare({ ATTESTO_URL: app.url, ATTESTO_ADMIN_TOKEN: wrongToken }));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("refused the credential from ATTESTO_ADMIN_TOKEN");
    expect(refused.stderr).not.toContain(wrongToken);
    // A tenant key is not an operator token.
    const asTenant = await run(["tenant", "list"], bare({ ATTESTO_URL: app.url, ATTESTO_ADMIN_TOKEN: created.secret }));
    expect(asTenant.code).toBe(1);
    expect(asTenant.stderr).not.toContain(created.secret);
  }, 240_000);

  it("creates a stream, appends one event and a JSONL file (idempotently), checkpoints and verifies a proof", async () => {
    const tenant = await newTenant(app.url);
    const env = bare({ ATTESTO_URL: app.url, ATTESTO_API_KEY: tenant.key });
    const stream = await json<{ id: string; verifierKey: string; treeSize: string }>(["stream", "create", "cli remote"], env);
    expect(stream.id).toMatch(/^ps_|^str_|^[a-z]+_/);
    const one = await json<{ event: { seqNo: string }; duplicate: boolean }>(["stream", "append", stream.id, "--type", "order.paid", "--ref", "order-0", "--payload", '{"amount":5}'], env);
    expect(one).toMatchObject({ event: { seqNo: "1" }, duplicate: false });
    // Run again without --occurred-at, it sends another "now": the refusal names the field, the stored time and how to replay (issue 26, defect 5).
    const again = ["stream", "append", stream.id, "--type", "order.paid", "--ref", "order-0", "--payload", '{"amount":5}'];
    const rerun = await run(again, env);
    expect(rerun.code).toBe(1);
    expect(rerun.stderr).toContain('source_ref "order-0" was already committed with another occurred_at (stored ');
    const stored = /replay it with --occurred-at (\S+)\)/.exec(rerun.stderr)?.[1];
    expect(stored, rerun.stderr).toBeDefined();
    expect(await json([...again, "--occurred-at", stored!], env)).toMatchObject({ event: { seqNo: "1" }, duplicate: true });

    const file = path.join(dir, "events.jsonl");
    const lines = Array.from({ length: 60 }, (_, i) =>
      JSON.stringify(
        i % 2
          ? { source_ref: `order-${i + 1}`, event_type: "order.paid", occurred_at: "2026-01-01T00:00:00Z", payload: { i } }
          : { sourceRef: `order-${i + 1}`, eventType: "order.paid", occurredAt: "2026-01-01T00:00:01Z", payload: { i } },
      ),
    );
    await writeFile(file, lines.join("\n") + "\n\n");
    // --json: a summary on stdout and nothing on stderr (no progress bar).
    expect(await json(["stream", "append", stream.id, "--file", file], env)).toEqual({ appended: 60, duplicates: 0, last_seq_no: 61 });
    expect(await json(["stream", "append", stream.id, "--file", file, "--concurrency", "4"], env)).toEqual({ appended: 0, duplicates: 60, last_seq_no: 61 });
    const ps = clientFor(ProofstreamService, app.url, tenant.key);
    expect((await ps.getStream({ streamId: stream.id })).stream!.treeSize).toBe(61n);

    // A bad line is named, and nothing of the file is sent.
    await writeFile(path.join(dir, "bad.jsonl"), `${lines[0]}\n{"source_ref":"x","event_type":"order.paid","payload":{}}\n`);
    const bad = await run(["stream", "append", stream.id, "--file", path.join(dir, "bad.jsonl")], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("bad.jsonl:2: occurred_at is required");
    expect((await ps.getStream({ streamId: stream.id })).stream!.treeSize).toBe(61n);

    const listed = await json<Array<{ id: string; treeSize: string }>>(["stream", "list"], env);
    expect(listed).toEqual([expect.objectContaining({ id: stream.id, treeSize: "61" })]);
    const checkpoint = await json<{ checkpoint: { treeSize: string; note: string }; created: boolean }>(["stream", "checkpoint", stream.id], env);
    expect(checkpoint.checkpoint.treeSize).toBe("61");

    const proofFile = path.join(dir, "p.tlog-proof");
    const proof = await run(["stream", "proof", stream.id, "7", "--out", proofFile], env);
    expect(proof.code, proof.stderr).toBe(0);
    expect(proof.stdout).toContain("VALID: event 7");
    // Pinned to another stream's key, the same proof fails.
    const other = await ps.createStream({ name: "other" });
    const wrong = await run(["--json", "stream", "proof", stream.id, "7", "--key", other.stream!.verifierKey], env);
    expect(wrong.code).toBe(1);
    expect(JSON.parse(wrong.stdout)).toMatchObject({ valid: false });
  }, 240_000);

  it("rotates a stream's key; stream get lists the history; a later bundle verifies with the original key", async () => {
    const tenant = await newTenant(app.url);
    const env = bare({ ATTESTO_URL: app.url, ATTESTO_API_KEY: tenant.key });
    const ps = clientFor(ProofstreamService, app.url, tenant.key);
    const { stream } = await ps.createStream({ name: "cli rotation" });
    for (const ref of ["r-1", "r-2"]) await json(["stream", "append", stream!.id, "--type", "t.e", "--ref", ref], env);
    await json(["stream", "checkpoint", stream!.id], env);
    await json(["stream", "append", stream!.id, "--type", "t.e", "--ref", "r-3"], env);
    const rotated = await json<{ verifierKeys: string[]; takesOverAfter: string; rotationStatement: string; handoverCheckpoint: { treeSize: string } }>(["stream", "rotate-key", stream!.id], env);
    expect(rotated).toMatchObject({ takesOverAfter: "2", handoverCheckpoint: { treeSize: "3" } });
    expect(rotated.rotationStatement).toContain("\nattesto key-rotation v1\n2\n");
    const shown = await run(["stream", "get", stream!.id], env);
    expect(shown.stdout).toContain(`verifier key: ${rotated.verifierKeys[0]}`);
    expect(shown.stdout).toMatch(new RegExp(`key history:\\n  0\\ted25519\\tabove 0\\tretired\\t.*\\n  1\\ted25519\\tabove 2\\tcurrent\\t${rotated.verifierKeys[0]!.replace(/[+/]/g, "\\$&")}`));
    const out = path.join(dir, "rotated-bundle.json");
    const created = await run(["bundle", "create", stream!.id, "1", "3", "--wait", "--out", out], env);
    expect(created.code, created.stderr).toBe(0);
    const verified = await run(["verify", out, "--key", stream!.verifierKey], env);
    expect(verified.code, verified.stdout).toBe(0);
    expect(verified.stdout).toMatch(/✔ key_rotation: pass — 1 rotation statement leads from the pinned key/);
    expect(verified.stdout).toContain("VALID");
  }, 120_000);

  it("draws a progress bar for a bulk append on a terminal", async () => {
    const tenant = await newTenant(app.url);
    const { stream } = await clientFor(ProofstreamService, app.url, tenant.key).createStream({ name: "bar" });
    const file = path.join(dir, "bar.jsonl");
    await writeFile(file, Array.from({ length: 25 }, (_, i) => JSON.stringify({ source_ref: `b-${i}`, event_type: "t.e", occurred_at: "2026-01-01T00:00:00Z", payload: {} })).join("\n"));
    const res = await runCliOnTerminal(["stream", "append", stream!.id, "--file", file], bare({ ATTESTO_URL: app.url, ATTESTO_API_KEY: tenant.key }));
    expect(res.code, res.out).toBe(0);
    expect(res.out).toMatch(/\[█{30}\] 100% 25\/25 events/);
    expect(res.out).toContain(`appended 25 events to ${stream!.id}`);
  }, 120_000);

  it("manages webhooks: create, list, test, deliveries, redeliver", async () => {
    const tenant = await newTenant(app.url);
    const env = bare({ ATTESTO_URL: app.url, ATTESTO_API_KEY: tenant.key });
    const created = await json<{ subscription: { id: string; url: string }; secret: string }>(
      ["webhook", "create", receiver.url("/cli"), "--events", "proofstream.checkpointed", "--name", "cli hook"],
      env,
    );
    expect(created.secret).toMatch(/^whsec_/);
    const sub = created.subscription.id;
    expect((await json<Array<{ id: string }>>(["webhook", "list"], env)).map((s) => s.id)).toEqual([sub]);

    const test = await json<{ id: string; test: boolean }>(["webhook", "test", sub], env);
    expect(test.test).toBe(true);
    await waitFor(() => receiver.of(test.id).length === 1, "the test delivery to arrive");
    const delivered = await waitFor(
      async () => {
        const list = await json<Array<{ id: string; status: string; attemptCount: number }>>(["webhook", "deliveries", "--subscription", sub], env);
        return list.find((d) => d.id === test.id && d.status === "DELIVERY_STATUS_SUCCEEDED");
      },
      "the delivery to be recorded as succeeded",
      60_000,
      500,
    );
    expect(delivered.attemptCount).toBe(1);

    const again = await json<{ id: string }>(["webhook", "redeliver", test.id], env);
    expect(again.id).toBe(test.id);
    await waitFor(() => receiver.of(test.id).length === 2, "the redelivery to arrive");
    const human = await run(["webhook", "deliveries", "--subscription", sub, "--limit", "5"], env);
    expect(human.stdout).toContain(test.id);
  }, 240_000);

  it("turns ordered delivery on at create and off and on again, with its bound", async () => {
    const tenant = await newTenant(app.url);
    const env = bare({ ATTESTO_URL: app.url, ATTESTO_API_KEY: tenant.key });
    const created = await json<{ subscription: { id: string; ordered: boolean; orderingBoundSeconds: number } }>(
      ["webhook", "create", receiver.url("/cli-ordered"), "--events", "proofstream.checkpointed", "--ordered", "--ordering-bound", "30"],
      env,
    );
    expect([created.subscription.ordered, created.subscription.orderingBoundSeconds]).toEqual([true, 30]);
    const off = await json<{ ordered?: boolean }>(["webhook", "ordering", created.subscription.id, "off"], env);
    expect(off.ordered ?? false).toBe(false);
    const on = await run(["webhook", "ordering", created.subscription.id, "on", "--bound", "90"], env);
    expect(on.stdout).toContain("ordered delivery on (bound 90 s)");
    const bad = await run(["webhook", "ordering", created.subscription.id, "maybe"], env);
    expect([bad.code, bad.stderr]).toEqual([1, expect.stringContaining("on or off")]);
  }, 240_000);

  it("re-enables a subscription its endpoint's 410 disabled, recovers its failed delivery once, and lists the event types", async () => {
    const tenant = await newTenant(app.url);
    const env = bare({ ATTESTO_URL: app.url, ATTESTO_API_KEY: tenant.key });
    const since = new Date(Date.now() - 1_000).toISOString();
    let gone = true;
    const respond = receiver.respond;
    receiver.respond = (req, i) => (req.url.startsWith("/cli-gone") && gone ? { status: 410 } : respond(req, i));
    try {
      const created = await json<{ subscription: { id: string } }>(["webhook", "create", receiver.url("/cli-gone"), "--events", "proofstream.checkpointed"], env);
      const sub = created.subscription.id;
      const test = await json<{ id: string }>(["webhook", "test", sub], env);
      // 410 Gone: the delivery fails for good and the subscription is disabled.
      const hooks = webhookClient(app, tenant.key);
      await waitFor(async () => !(await hooks.getSubscription({ subscriptionId: sub })).subscription!.enabled, "the subscription to be disabled", 60_000, 200);
      const refused = await run(["webhook", "recover", sub, "--since", since], env);
      expect([refused.code, refused.stderr]).toEqual([1, expect.stringContaining("enable it first")]);
      const badTime = await run(["webhook", "recover", sub, "--since", "yesterday"], env);
      expect([badTime.code, badTime.stderr]).toEqual([1, expect.stringContaining("--since must be an RFC 3339 time")]);

      gone = false;
      const enabled = await json<{ enabled?: boolean }>(["webhook", "enable", sub], env);
      expect(enabled.enabled).toBe(true);
      // Re-enabling re-sends nothing by itself; recover does, as a new attempt of the same delivery.
      expect(receiver.of(test.id)).toHaveLength(1);
      const recovered = await json<{ recoveredCount: number; deliveryIds: string[] }>(["webhook", "recover", sub, "--since", since], env);
      expect([recovered.recoveredCount, recovered.deliveryIds]).toEqual([1, [test.id]]);
      await waitFor(() => receiver.of(test.id).length === 2, "the recovered delivery to arrive");
      const again = await run(["webhook", "recover", sub, "--since", since], env);
      expect(again.stdout).toContain("recovering 0 failed deliveries");

      const types = await json<Array<{ name: string; dataSchema: { $id: string } }>>(["webhook", "event-types"], env);
      expect(types.map((t) => t.name)).toEqual(expect.arrayContaining(["proofstream.checkpointed", "subscription.disabled"]));
      for (const t of types) expect(t.dataSchema.$id).toBe(`https://attesto.eu/schemas/events/${t.name}.schema.json`);
    } finally {
      receiver.respond = respond;
    }
  }, 240_000);

  it("creates and lists connectors for the key's tenant, and refuses another tenant's id", async () => {
    const tenant = await newTenant(app.url);
    const env = bare({ ATTESTO_URL: app.url, ATTESTO_API_KEY: tenant.key });
    const { stream } = await clientFor(ProofstreamService, app.url, tenant.key).createStream({ name: "connectors" });
    const c = await json<{ id: string; ingressUrl: string; secret: string }>(["connector", "create", tenant.tenantId, "--stream", stream!.id, "--kind", "signed_webhook"], env);
    expect(c.secret).toBeTruthy();
    expect(c.ingressUrl).toContain(c.id);
    expect((await json<Array<{ id: string }>>(["connector", "list", tenant.tenantId], env)).map((x) => x.id)).toEqual([c.id]);
    const other = await newTenant(app.url);
    const refused = await run(["connector", "list", other.tenantId], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`belongs to tenant ${tenant.tenantId}, not ${other.tenantId}`);
    expect((await json<{ revokedAt: string }>(["connector", "revoke", c.id], env)).revokedAt).toBeTruthy();
  }, 240_000);

  it("finds the server at the address serve listens on, uses the embedded default's development credentials on loopback, and says when no server answers", async () => {
    const tenant = await newTenant(app.url);
    const { hostname, port } = new URL(app.url);
    const devDir = await tempDir("attesto-dev-creds-");
    await writeFile(path.join(devDir, DEV_CREDENTIALS_FILE), JSON.stringify({ tenantId: tenant.tenantId, apiKey: tenant.key, adminToken: ADMIN_TOKEN }));
    const env = bare({ HOST: hostname, PORT: port, ATTESTO_DATA_DIR: devDir });
    const found = await run(["stream", "create", "found"], env);
    expect(found.code, found.stderr).toBe(0);
    expect(found.stderr).toBe("");
    const streams = await json<Array<{ name: string }>>(["stream", "list"], env);
    expect(streams.map((s) => s.name)).toEqual(["found"]);
    // Operator commands on the found server say where they run (on stderr, so stdout stays the answer).
    const tenants = await run(["tenant", "get", tenant.tenantId], env);
    expect(tenants.code, tenants.stderr).toBe(0);
    expect(tenants.stderr).toContain(`on the server at ${app.url}`);

    const nowhere = bare({ PORT: String(await closedPort()) });
    const none = await run(["stream", "list"], nowhere);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no Attesto server answers at http:\/\/127\.0\.0\.1:\d+: start one/);
    // Named with ATTESTO_URL (or --url) and nothing listening: the URL and the cause, not "[unknown] fetch failed".
    const gone = `http://127.0.0.1:${await closedPort()}`;
    for (const args of [
      ["stream", "list"],
      ["proof", "str_01ARZ3NDEKTSV4RRFFQ69G5FAV", "1"],
    ]) {
      const refused = await run(args, bare({ ATTESTO_URL: gone, ATTESTO_API_KEY: tenant.key }));
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`no server answers at ${gone} (ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:${new URL(gone).port}): start one`);
      expect(refused.stderr).not.toContain("fetch failed");
    }
    const both = await run(["--local", "--url", app.url, "tenant", "list"], nowhere);
    expect(both.stderr).toContain("--local and --url exclude each other");
  }, 240_000);
  it("appends one event with --wait-for-proof and writes its receipt, which `attesto verify` accepts offline", async () => {
    const tenant = await newTenant(app.url);
    const env = bare({ ATTESTO_URL: app.url, ATTESTO_API_KEY: tenant.key });
    const stream = await json<{ id: string; verifierKey: string }>(["stream", "create", "cli receipts"], env);
    const out = path.join(dir, "receipt.tlog-proof");
    const appended = await run(["stream", "append", stream.id, "--type", "order.paid", "--ref", "r-1", "--wait-for-proof", "--proof-out", out], env);
    expect(appended.code, appended.stderr).toBe(0);
    expect(appended.stdout).toMatch(/appended event 1 to .*\nproof against the checkpoint of size 1 written to /);
    const verified = await run(["verify", out, "--key", stream.verifierKey], bare());
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/: event 1, checkpoint size 1\n[^]*\nVALID\n/);
    const asJson = await json<{ proof_receipt: { status: string; tlogProof: string } }>(["stream", "append", stream.id, "--type", "order.paid", "--ref", "r-2", "--wait-for-proof"], env);
    expect(asJson.proof_receipt.status).toBe("PROOF_RECEIPT_STATUS_PROVEN");
    expect(asJson.proof_receipt.tlogProof).toMatch(/^c2sp\.org\/tlog-proof@v1\n/);
    const bulk = await run(["stream", "append", stream.id, "--file", out, "--wait-for-proof"], env);
    expect(bulk.stderr).toContain("--wait-for-proof applies to one event");
  }, 120_000);
});
