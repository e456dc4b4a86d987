import { execFile } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { copyFile, mkdir } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { ProofstreamService } from "../gen/ts/attesto/v1/proofstream_pb.js";
import { loadConfig } from "../src/config.js";
import { ed25519FromSeed, ed25519RawPublic } from "../src/crypto/note-signing.js";
import { createLogger } from "../src/logger.js";
import { formatCheckpoint, signNote } from "../src/proofstream/note.js";
import { startAttesto, type Attesto } from "../src/server/app.js";
import { openNote, parseVerifierKey, verifierKeyString } from "../src/verify/note.js";
import { witnessPrivateKeyString } from "../src/witness/protocol.js";
import { witnessForkEvidence } from "../src/witness/schema.js";
import { appendRequest, stolenSigner } from "./support/proofstream.js";
import { adminClient, clientFor, newTenant, tempDir, testEnv } from "./support/server.js";

const run = promisify(execFile);
const GOPATH_DEBIAN = "/usr/share/gocode";

/** A loopback proxy in front of a witness that keeps every add-checkpoint body it forwards: what the client sent, for the independent checker. */
class RecordingProxy {
  readonly bodies: string[] = [];
  target = "";
  readonly server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      if (req.url?.endsWith("/add-checkpoint")) this.bodies.push(body);
      fetch(`${this.target}${req.url}`, { method: req.method, body: req.method === "POST" ? body : undefined })
        .then(async (answer) => {
          res.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "text/plain" });
          res.end(await answer.text());
        })
        .catch(() => {
          res.writeHead(502);
          res.end();
        });
    });
  });
  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
}

function witnessKey(name: string) {
  const seed = Buffer.from(generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }).d!, "base64url");
  const pub = ed25519RawPublic(ed25519FromSeed(seed));
  return { name, privateKey: witnessPrivateKeyString(name, seed, pub), vkey: verifierKeyString(name, pub, 0x04) };
}

async function until<T>(what: string, read: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let a: Attesto;
let b: Attesto;
const proxyToA = new RecordingProxy();
const proxyToB = new RecordingProxy();
const keyA = witnessKey("witness-a.attesto.test/w");
const keyB = witnessKey("witness-b.attesto.test/w");
let peerDb: { admin: postgres.Sql; name: string };
let checker: string;

beforeAll(async () => {
  // The Go checker, built in GOPATH mode as the other interop test does.
  const gopath = await tempDir("attesto-go-witness-");
  const pkg = path.join(gopath, "src", "witnesscheck");
  await mkdir(pkg, { recursive: true });
  await copyFile(path.join(import.meta.dirname, "go", "witness.go"), path.join(pkg, "main.go"));
  checker = path.join(gopath, "witnesscheck");
  const building = run("go", ["build", "-o", checker, "witnesscheck"], {
    env: { ...process.env, GO111MODULE: "off", GOPATH: `${gopath}:${GOPATH_DEBIAN}`, GOCACHE: path.join(gopath, "cache"), GOFLAGS: "" },
  });

  // Two deployments: their own databases and queue prefixes, each the other's witness.
  const url = new URL(inject("databaseUrl"));
  peerDb = { admin: postgres(url.toString(), { max: 1, onnotice: () => {} }), name: `${url.pathname.slice(1)}_peer` };
  await peerDb.admin.unsafe(`CREATE DATABASE ${peerDb.name}`);
  const peerUrl = new URL(url);
  peerUrl.pathname = `/${peerDb.name}`;
  const [urlA, urlB] = [await proxyToA.listen(), await proxyToB.listen()];
  const start = async (env: Record<string, string>) => startAttesto(loadConfig(await testEnv(env), { port: 0 }), createLogger(process.env.TEST_LOG_LEVEL ?? "silent"));
  a = await start({
    ATTESTO_WITNESS_KEY: keyA.privateKey,
    ATTESTO_WITNESSES: JSON.stringify([{ name: keyB.name, key: keyB.vkey, url: `${urlB}/witness` }]),
    ATTESTO_CHECKPOINT_INTERVAL_MS: "3600000",
  });
  b = await start({
    DATABASE_URL: peerUrl.toString(),
    ATTESTO_QUEUE_PREFIX: `${inject("queuePrefix")}-peer`,
    ATTESTO_WITNESS_KEY: keyB.privateKey,
    ATTESTO_WITNESSES: JSON.stringify([{ key: keyA.vkey, url: `${urlA}/witness` }]),
    ATTESTO_CHECKPOINT_INTERVAL_MS: "3600000",
  });
  proxyToA.target = a.url;
  proxyToB.target = b.url;
  await building.catch((err: { stderr?: string }) => {
    throw new Error(`cannot build the Go checker (apt install golang-go golang-golang-x-mod-dev): ${err.stderr ?? err}`);
  });
}, 180_000);

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  proxyToA.server.close();
  proxyToB.server.close();
  if (peerDb) {
    await peerDb.admin.unsafe(`DROP DATABASE IF EXISTS ${peerDb.name} WITH (FORCE)`);
    await peerDb.admin.end();
  }
});

async function goCheck(input: unknown): Promise<{ requests: number; consistencyProofs: number; cosignatures: number }> {
  const child = execFile(checker, [], { timeout: 60_000 });
  const out = new Promise<string>((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    child.on("exit", (code) => (code === 0 ? resolve(stdout) : reject(new Error(stderr || `exit ${code}`))));
  });
  child.stdin!.end(JSON.stringify(input));
  return JSON.parse(await out) as { requests: number; consistencyProofs: number; cosignatures: number };
}

describe("two Attesto deployments witness each other (C2SP tlog-witness)", () => {
  it("each cosigns the other's checkpoints; an independent checker verifies cosignatures and the consistency proofs sent", async () => {
    await adminClient(b.url)
      .addWitnessedLog({ verifierKey: "" })
      .catch((err: Error) => expect(err.message).toMatch(/verifier_key/));
    // The operators trust each other's stream keys once the streams exist: created first, trusted, then grown.
    const tenantA = await newTenant(a.url);
    const clientA = clientFor(ProofstreamService, a.url, tenantA.key);
    const tenantB = await newTenant(b.url);
    const clientB = clientFor(ProofstreamService, b.url, tenantB.key);
    const { stream: sa } = await clientA.createStream({ name: "a" });
    const { stream: sb } = await clientB.createStream({ name: "b", mlDsa44: true });
    await adminClient(b.url).addWitnessedLog({ verifierKey: sa!.verifierKey });
    await adminClient(a.url).addWitnessedLog({ verifierKey: sb!.verifierKey });

    const grow = async (client: typeof clientA, streamId: string, sizes: number[]) => {
      const notes: string[] = [];
      let appended = 0;
      for (const size of sizes) {
        await Promise.all(Array.from({ length: size - appended }, (_, i) => client.appendEvent(appendRequest(streamId, `w-${appended + i}`))));
        appended = size;
        await client.createCheckpoint({ streamId });
        const cp = await until(`${streamId} at ${size} witnessed`, async () => {
          const { checkpoint } = await client.getCheckpoint({ streamId });
          return checkpoint!.treeSize === BigInt(size) && checkpoint!.witnessed ? checkpoint : undefined;
        });
        expect(cp.cosignatures).toBe(1);
        notes.push(cp.note);
      }
      return notes;
    };
    const [notesA, notesB] = await Promise.all([grow(clientA, sa!.id, [3, 260, 700]), grow(clientB, sb!.id, [1, 2, 513])]);

    // The served checkpoint carries the cosignature after the log's own lines, on every read path.
    const [lastA] = notesA.slice(-1);
    expect(openNote(lastA!, [parseVerifierKey(keyB.vkey)]).verifiedBy).toHaveLength(1);
    expect(openNote(lastA!, [parseVerifierKey(sa!.verifierKey)]).verifiedBy).toHaveLength(1);
    const tile = await fetch(`${a.url}/proofstreams/${sa!.id}/checkpoint`, { headers: { Authorization: `Bearer ${tenantA.key}` } });
    expect(await tile.text()).toBe(lastA);
    const tlogProof = await (await fetch(`${a.url}/proofstreams/${sa!.id}/proof/5`, { headers: { Authorization: `Bearer ${tenantA.key}` } })).text();
    expect(tlogProof.endsWith(lastA!)).toBe(true);
    // B's stream signs with Ed25519 and ML-DSA-44; A's witness checked the Ed25519 line it trusts.
    const lastB = notesB.at(-1)!;
    expect(openNote(lastB, [parseVerifierKey(sb!.mlDsa44VerifierKey)]).verifiedBy).toHaveLength(1);
    expect(openNote(lastB, [parseVerifierKey(keyA.vkey)]).verifiedBy).toHaveLength(1);

    // What each witness holds, by the operator API.
    const { logs } = await adminClient(b.url).listWitnessedLogs({});
    expect(logs.find((l) => l.origin === sa!.origin)?.treeSize).toBe(700n);

    // The independent checker: every request body each client sent, and each cosigned note.
    const fromA = proxyToB.bodies.filter((body) => body.includes(`\n\n${sa!.origin}\n`));
    const fromB = proxyToA.bodies.filter((body) => body.includes(`\n\n${sb!.origin}\n`));
    expect(fromA.length).toBeGreaterThanOrEqual(3);
    const checkedA = await goCheck({ cosigners: [{ name: keyB.name, vkey: keyB.vkey }], requests: fromA, notes: notesA });
    expect(checkedA).toEqual({ requests: fromA.length, consistencyProofs: 2, cosignatures: 3 });
    const checkedB = await goCheck({ cosigners: [{ name: keyA.name, vkey: keyA.vkey }], requests: fromB, notes: notesB });
    expect(checkedB.consistencyProofs).toBe(2);

    // A tampered cosignature is refused: one byte of the signature flipped.
    const line = lastA!.split("\n").find((l) => l.startsWith(`— ${keyB.name} `))!;
    const blob = Buffer.from(line.split(" ")[2]!, "base64");
    blob[blob.length - 1]! ^= 1;
    const tampered = lastA!.replace(line, `— ${keyB.name} ${blob.toString("base64")}`);
    await expect(goCheck({ cosigners: [{ name: keyB.name, vkey: keyB.vkey }], requests: [], notes: [tampered] })).rejects.toThrow(/does not verify/);
  }, 180_000);

  it("answers add-checkpoint with the spec's status codes, and a fork (same size, other root) is refused and kept as evidence", async () => {
    // A stream of B's that B's own witness trusts (B's client sends it to A, which does not: those 404s go on in the background).
    const tenant = await newTenant(b.url);
    const client = clientFor(ProofstreamService, b.url, tenant.key);
    const { stream } = await client.createStream({ name: "fed by hand" });
    await Promise.all([0, 1, 2, 3].map((i) => client.appendEvent(appendRequest(stream!.id, `h-${i}`))));
    const logNote = (await client.createCheckpoint({ streamId: stream!.id })).checkpoint!.note;
    await adminClient(b.url).addWitnessedLog({ verifierKey: stream!.verifierKey });
    const post = (body: string) => fetch(`${b.url}/witness/add-checkpoint`, { method: "POST", body });
    const first = await post(`old 0\n\n${logNote}`);
    expect(first.status).toBe(200);
    expect(openNote(`${logNote.slice(0, logNote.lastIndexOf("\n\n") + 1)}\n${await first.text()}`, [parseVerifierKey(keyB.vkey)]).verifiedBy).toHaveLength(1);

    const stale = await post(`old 0\n\n${logNote}`);
    expect(stale.status).toBe(409);
    expect(stale.headers.get("content-type")).toBe("text/x.tlog.size");
    expect(await stale.text()).toBe("4\n");

    expect((await post("old 0\n")).status).toBe(400);
    const unknown = signNote(formatCheckpoint({ origin: "elsewhere.example/log", size: 1, root: Buffer.alloc(32) }), {
      name: "elsewhere.example/log",
      keyId: 1,
      privateKey: ed25519FromSeed(randomBytes(32)),
    });
    expect((await post(`old 0\n\n${unknown}`)).status).toBe(404);
    const otherKey = ed25519FromSeed(randomBytes(32));
    const wrongKey = signNote(formatCheckpoint({ origin: stream!.origin, size: 5, root: Buffer.alloc(32, 1) }), { name: stream!.origin, keyId: 7, privateKey: otherKey });
    expect((await post(`old 4\n\n${wrongKey}`)).status).toBe(403);

    // The log's own key, stolen: a checkpoint of the size B cosigned with another root, and a bigger one whose proof fails.
    const signer = await stolenSigner(b.database.db, b.keyring, stream!.id, stream!.origin);
    const forked = signNote(formatCheckpoint({ origin: stream!.origin, size: 4, root: Buffer.alloc(32, 9) }), signer);
    const refused = await post(`old 4\n\n${forked}`);
    expect(refused.status).toBe(409);
    expect(refused.headers.get("content-type")).not.toBe("text/x.tlog.size");
    const bigger = signNote(formatCheckpoint({ origin: stream!.origin, size: 9, root: Buffer.alloc(32, 3) }), signer);
    expect((await post(`old 4\n${Buffer.alloc(32, 5).toString("base64")}\n\n${bigger}`)).status).toBe(422);
    const evidence = await b.database.db.select().from(witnessForkEvidence);
    const kinds = evidence.filter((e) => e.origin === stream!.origin).map((e) => e.kind);
    expect(kinds.sort()).toEqual(["inconsistent", "same_size_different_root"]);
    // The size did not move: the honest next checkpoint still starts from 4.
    expect((await adminClient(b.url).listWitnessedLogs({})).logs.find((l) => l.origin === stream!.origin)?.treeSize).toBe(4n);
  }, 120_000);

  it("answers hostile add-checkpoint bodies below 500 and changes nothing", async () => {
    const before = (await adminClient(b.url).listWitnessedLogs({})).logs;
    const huge = `old 0\n\n${"x".repeat(200_000)}`;
    const bodies = [
      "",
      "\n\n",
      "old -1\n\n",
      "old 99999999999999999999\n\nx\n\n— a AAAAAAA=\n",
      `old 0\n${"A".repeat(44)}\n\n`,
      "old 0\n\n\u0000\n1\nAAAA\n\n— \u0000 AAAAAAA=\n",
      huge,
      "old 0\n\no\n1\n" + "A".repeat(43) + "=\n\n" + "— o AAAAAQAAAAA=\n".repeat(101),
    ];
    for (const body of bodies) {
      const res = await fetch(`${b.url}/witness/add-checkpoint`, { method: "POST", body });
      expect(res.status, JSON.stringify(body.slice(0, 60))).toBeGreaterThanOrEqual(400);
      expect(res.status, JSON.stringify(body.slice(0, 60))).toBeLessThan(500);
    }
    expect((await adminClient(b.url).listWitnessedLogs({})).logs).toEqual(before);
    // The operator RPC names the field it refuses.
    const refused = await adminClient(b.url)
      .addWitnessedLog({ verifierKey: keyA.vkey })
      .then(
        () => undefined,
        (err: Error) => err.message,
      );
    expect(refused).toMatch(/verifier_key: a log key is an Ed25519/);
  });
});
