// npm run check:image: the container image's final stage, assembled and run
// without a Docker engine. It reads the Dockerfile (scripts/dockerfile.ts):
// the build stage's commands after `COPY . .` run as written on a copy of the
// tracked files (its `npm ci` replaced by a hard-linked copy of this
// checkout's node_modules), the final stage's `COPY --from` lines assemble the
// image's WORKDIR, and its CMD is started with its ENV, a fresh database and
// its own queue prefix, as a user that cannot write there (as `USER` would).
// Then: /readyz 200, a tenant and API key (operator RPCs), a stream, an
// append and a signed checkpoint; then an ATTESTO_ROLE=worker server next to
// an ATTESTO_ROLE=api one, the worker signing the api's next append. Then the
// other production install: the tracked files, `npm ci --omit=dev` (a pruned
// hard-linked copy) and `node bin/attesto.js serve` from source with the Node on
// the PATH, checked the same way. Prints a table; exits 1 on the first failure.
// Everything it made is removed.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { freePort } from "../src/infra/redis.js";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import postgres from "postgres";
import { openNote, parseCheckpoint, parseVerifierKey } from "../src/verify/index.js";
import { buildCommands, copyTarget, finalStage, parseDockerfile } from "./dockerfile.js";

const run = promisify(execFile);
const repo = path.resolve(import.meta.dirname, "..");
const adminDatabaseUrl = process.env.ATTESTO_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const redisUrl = process.env.ATTESTO_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
/** Development tools that must stay out of a production install (`npm ci --omit=dev`, the image). */
const DEV_ONLY_TOOLS = [
  "@foundry-rs/anvil",
  "redoc",
  "playwright-core",
  "vitest",
  "tsx",
  "@bufbuild/buf",
  "drizzle-kit",
  "eslint",
  "prettier",
  "autocannon",
  "s3rver",
  "pino-pretty",
  "dependency-cruiser",
];
/**
 * Production dependencies a source install needs and the image does not: the image runs the
 * compiled dist/ (its verify page already bundled) on the base image's Node 24, so the Dockerfile
 * removes the project's own Node and the bundler after the prune.
 */
const SOURCE_INSTALL_ONLY = ["node", "esbuild"];
/** The unprivileged user the server runs as when this check runs as root (the image's `USER node` is not root). */
const NOBODY = 65_534;

/** Ctrl-C or a CI timeout ends the step under way, so that the cleanup below still runs. */
const interrupted = new Promise<never>((_, reject) => {
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => reject(new Error(`interrupted (${signal})`)));
});
interrupted.catch(() => {});

const rows: Array<{ step: string; ok: boolean; seconds: number; detail: string }> = [];
async function step<T>(name: string, body: () => Promise<{ value: T; detail: string }>): Promise<T> {
  const started = performance.now();
  try {
    const { value, detail } = await Promise.race([body(), interrupted]);
    rows.push({ step: name, ok: true, seconds: (performance.now() - started) / 1000, detail });
    return value;
  } catch (err) {
    rows.push({ step: name, ok: false, seconds: (performance.now() - started) / 1000, detail: (err as Error).message.split("\n")[0]! });
    throw err;
  }
}

function printTable(): void {
  const width = Math.max(...rows.map((r) => r.step.length));
  console.log(`\n${"step".padEnd(width)}  result  seconds  detail`);
  for (const r of rows) console.log(`${r.step.padEnd(width)}  ${(r.ok ? "ok" : "FAILED").padEnd(6)}  ${r.seconds.toFixed(1).padStart(7)}  ${r.detail}`);
}

/** A `serve` of the assembled image, with the last lines it wrote kept for a failure's report. */
class Server {
  readonly tail: string[] = [];
  readonly exited: Promise<number | null>;
  constructor(
    readonly label: string,
    readonly child: ChildProcess,
    readonly url: string,
  ) {
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n").filter(Boolean)) {
        this.tail.push(line.length > 400 ? `${line.slice(0, 400)}…` : line);
        if (this.tail.length > 30) this.tail.shift();
      }
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    this.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 : null))));
  }
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
  /** Fails with the server's own last line when it ended. */
  assertRunning(): void {
    if (!this.running) throw new Error(`${this.label} exited (code ${this.child.exitCode ?? this.child.signalCode}): ${this.tail.at(-1) ?? "no output"}`);
  }
  async readyz(): Promise<number> {
    return fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(3_000) }).then(
      (r) => r.status,
      () => 0,
    );
  }
  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.assertRunning();
      if ((await this.readyz()) === 200) return;
      if (Date.now() > deadline) throw new Error(`${this.label}: /readyz did not answer 200 within ${timeoutMs / 1000} s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  /** SIGTERM, and the exit code within the grace period (SIGKILL after it). */
  async stop(graceMs: number): Promise<number | null> {
    if (!this.running) return this.exited;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

/** A Connect unary call with JSON; the answer's body, or an error naming the method and status. */
async function rpc<T>(base: string, method: string, body: unknown, token: string): Promise<T> {
  const res = await fetch(`${base}/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${method}: HTTP ${res.status} ${text.slice(0, 200)}`);
  return JSON.parse(text) as T;
}

async function get(url: string, token?: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, text: await res.text() };
}

interface Checkpoint {
  treeSize?: string;
  note: string;
}

/** Polls GetCheckpoint until the signed checkpoint covers `size` events (the periodic signer is a job); verifies its note. */
async function signedCheckpoint(base: string, apiKey: string, streamId: string, verifierKey: string, size: number, servers: Server[]): Promise<Checkpoint> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    for (const s of servers) s.assertRunning();
    const { checkpoint } = await rpc<{ checkpoint?: Checkpoint }>(base, "attesto.v1.ProofstreamService/GetCheckpoint", { streamId }, apiKey).catch(() => ({ checkpoint: undefined }));
    if (checkpoint && Number(checkpoint.treeSize ?? 0) >= size) {
      const opened = openNote(checkpoint.note, [parseVerifierKey(verifierKey)]);
      const body = parseCheckpoint(opened.text);
      if (body.size !== size) throw new Error(`the checkpoint's note covers ${body.size} events, not ${size}`);
      return checkpoint;
    }
    if (Date.now() > deadline) throw new Error(`no signed checkpoint of ${size} events within 30 s (a job no process ran)`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * The tracked files of this checkout (no dist/: nothing built) and its node_modules, hard-linked (no
 * copy of 1 GB), except the one file npm rewrites in place (its hidden lockfile), so that a prune in
 * the copy cannot reach the checkout. Across file systems (a tmpfs /tmp) hard links fail: then it is
 * a real copy, slower. What `npm ci` gives, without the network.
 */
async function copyCheckout(dir: string): Promise<{ tracked: number; linked: boolean }> {
  const { stdout } = await run("git", ["ls-files", "-z"], { cwd: repo, maxBuffer: 64 << 20 });
  const tracked = stdout.split("\0").filter((f) => f && existsSync(path.join(repo, f)));
  for (const f of tracked) cpSync(path.join(repo, f), path.join(dir, f), { recursive: false });
  const linked = await run("cp", ["-al", path.join(repo, "node_modules"), path.join(dir, "node_modules")]).then(
    () => true,
    async () => {
      rmSync(path.join(dir, "node_modules"), { recursive: true, force: true });
      await run("cp", ["-a", path.join(repo, "node_modules"), path.join(dir, "node_modules")]);
      return false;
    },
  );
  const hiddenLock = path.join(dir, "node_modules", ".package-lock.json");
  if (existsSync(hiddenLock)) {
    rmSync(hiddenLock);
    cpSync(path.join(repo, "node_modules", ".package-lock.json"), hiddenLock);
  }
  return { tracked: tracked.length, linked };
}

async function main(): Promise<void> {
  const temp = mkdtempSync(path.join(os.tmpdir(), "attesto-image-"));
  const servers: Server[] = [];
  const databaseName = `attesto_image_${process.pid}_${Date.now()}`;
  const queuePrefix = `attesto-image-${randomBytes(4).toString("hex")}`;
  const admin = postgres(adminDatabaseUrl, { max: 1, onnotice: () => {} });
  let databaseMade = false;
  let failed = false;
  const asRoot = process.getuid?.() === 0;
  try {
    const stages = parseDockerfile(readFileSync(path.join(repo, "Dockerfile"), "utf8"));
    const final = finalStage(stages);
    const build = buildCommands(stages, final.buildStage);
    const [exe, ...args] = final.cmd;
    if (exe !== "node") throw new Error(`the check starts CMD with node only, not ${final.cmd.join(" ")}`);

    const buildDir = path.join(temp, "build");
    await step("build stage", async () => {
      const { tracked, linked } = await copyCheckout(buildDir);
      for (const command of build.commands) {
        await run("sh", ["-c", command], { cwd: buildDir, maxBuffer: 64 << 20 }).catch((err: Error & { stderr?: string }) => {
          throw new Error(`RUN ${command} failed: ${(err.stderr ?? err.message).trim().split("\n").slice(-3).join(" | ")}`);
        });
      }
      return { value: undefined, detail: `${tracked} tracked files, node_modules ${linked ? "hard-linked" : "copied"}; RUN ${build.commands.join("; RUN ")}` };
    });

    const image = path.join(temp, "image");
    await step("final stage", async () => {
      mkdirSync(image, { recursive: true });
      for (const c of final.copies) {
        const from = path.join(buildDir, c.source);
        if (!existsSync(from)) throw new Error(`Dockerfile line ${c.line}: ${c.source} does not exist after the build stage`);
        const directory = statSync(from).isDirectory();
        const to = path.join(image, copyTarget(c, directory));
        if (directory) {
          mkdirSync(to, { recursive: true });
          await run("cp", ["-al", `${from}/.`, to]);
        } else {
          mkdirSync(path.dirname(to), { recursive: true });
          await run("cp", ["-l", from, to]);
        }
      }
      // The image's WORKDIR belongs to root and the server runs as `USER`: it may read, not write there.
      if (asRoot) chmodSync(temp, 0o755);
      else await run("find", [image, "-type", "d", "-exec", "chmod", "a-w", "{}", "+"]);
      // The image is a production install (`npm prune --omit=dev`): no development tool may be in it.
      const present = [...DEV_ONLY_TOOLS, ...SOURCE_INSTALL_ONLY].filter((name) => existsSync(path.join(image, "node_modules", name)));
      if (present.length) throw new Error(`packages the image must not carry are in its node_modules: ${present.join(", ")} (a production dependency pulls them in?)`);
      const { stdout } = await run("du", ["-sm", path.join(image, "node_modules")]);
      return {
        value: undefined,
        detail: `${final.copies.length} COPY --from=${final.buildStage}; node_modules ${stdout.split("\t")[0]} MB, none of ${DEV_ONLY_TOOLS.length} development tools nor ${SOURCE_INSTALL_ONLY.join(", ")}; runs as ${asRoot ? `uid ${NOBODY}` : "this user, WORKDIR read-only"}`,
      };
    });

    await admin.unsafe(`CREATE DATABASE ${databaseName}`);
    databaseMade = true;
    const databaseUrl = new URL(adminDatabaseUrl);
    databaseUrl.pathname = `/${databaseName}`;
    const home = path.join(temp, "home");
    mkdirSync(home);
    if (asRoot) chownSync(home, NOBODY, NOBODY);
    const adminToken = randomBytes(24).toString("hex");
    const encryptionKey = randomBytes(32).toString("base64");
    const start = async (label: string, extra: Record<string, string>, how = { cwd: image, command: process.execPath, args, asUser: asRoot }) => {
      const port = await freePort();
      const env: Record<string, string> = {
        PATH: "/usr/local/bin:/usr/bin:/bin",
        HOME: home,
        NODE_ENV: "production",
        ...final.env,
        HOST: "127.0.0.1",
        PORT: String(port),
        DATABASE_URL: databaseUrl.toString(),
        REDIS_URL: redisUrl,
        ATTESTO_ENCRYPTION_KEY: encryptionKey,
        ATTESTO_ADMIN_TOKEN: adminToken,
        ATTESTO_QUEUE_PREFIX: queuePrefix,
        PUBLIC_BASE_URL: "http://attesto.image-check.invalid",
        // Each server forks a worker per core; a small pool keeps several of them within PostgreSQL's connections.
        ATTESTO_DB_POOL: "4",
        ...extra,
      };
      const child = spawn(how.command, how.args, { cwd: how.cwd, env, stdio: ["ignore", "pipe", "pipe"], ...(how.asUser ? { uid: NOBODY, gid: NOBODY } : {}) });
      const server = new Server(label, child, `http://127.0.0.1:${port}`);
      servers.push(server);
      return server;
    };

    const all = await step("serve (role all)", async () => {
      const s = await start("serve", {});
      await s.waitReady(90_000);
      return { value: s, detail: `${final.cmd.join(" ")}: /readyz 200 on ${s.url}` };
    });

    const { apiKey, streamId, verifierKey } = await step("tenant, key, stream", async () => {
      const { tenant } = await rpc<{ tenant: { id: string } }>(all.url, "attesto.admin.v1.AdminService/CreateTenant", { name: "image check" }, adminToken);
      const { secret } = await rpc<{ secret: string }>(all.url, "attesto.admin.v1.AdminService/CreateApiKey", { tenantId: tenant.id, name: "image check" }, adminToken);
      const { stream } = await rpc<{ stream: { id: string; verifierKey: string } }>(all.url, "attesto.v1.ProofstreamService/CreateStream", { name: "image-check" }, secret);
      return { value: { apiKey: secret, streamId: stream.id, verifierKey: stream.verifierKey }, detail: `${tenant.id}, ${stream.id}` };
    });

    await step("append, signed checkpoint", async () => {
      await rpc(all.url, "attesto.v1.ProofstreamService/AppendEvent", { streamId, sourceRef: "image-1", eventType: "image.checked", occurredAt: new Date().toISOString(), payload: { n: 1 } }, apiKey);
      await signedCheckpoint(all.url, apiKey, streamId, verifierKey, 1, [all]);
      return { value: undefined, detail: "GetCheckpoint: tree size 1, note verified with the stream's key" };
    });

    await step("files served", async () => {
      const checks = [`${all.url}/verify/verify.js`, `${all.url}/docs/operator.md`, `${all.url}/docs`, `${all.url}/docs/api/redoc.standalone.js`];
      for (const url of checks) {
        const { status, text } = await get(url);
        if (status !== 200) throw new Error(`GET ${url.slice(all.url.length)}: HTTP ${status}`);
        if (url.endsWith("/docs") && !text.includes("/docs/operator.md")) throw new Error("GET /docs lists no pages");
        // Redoc's bundle is a devDependency: the image has only the copy `npm run build` made.
        if (url.endsWith(".standalone.js") && text.length < 500_000) throw new Error("GET /docs/api/redoc.standalone.js is not Redoc's bundle");
      }
      return { value: undefined, detail: "/verify/verify.js, /docs, /docs/operator.md, /docs/api/redoc.standalone.js: 200" };
    });

    await step("stop (SIGTERM)", async () => {
      const code = await all.stop(20_000);
      if (code !== 0) throw new Error(`serve exited with ${code}: ${all.tail.at(-1) ?? ""}`);
      return { value: undefined, detail: "exit 0" };
    });

    const [worker, api] = await step("serve (role worker + role api)", async () => {
      const w = await start("worker", { ATTESTO_ROLE: "worker" });
      const a = await start("api", { ATTESTO_ROLE: "api" });
      await Promise.all([w.waitReady(90_000), a.waitReady(90_000)]);
      return { value: [w, a] as const, detail: `/readyz 200 on both` };
    });

    await step("worker signs the api's append", async () => {
      await rpc(api.url, "attesto.v1.ProofstreamService/AppendEvent", { streamId, sourceRef: "image-2", eventType: "image.checked", occurredAt: new Date().toISOString(), payload: { n: 2 } }, apiKey);
      await signedCheckpoint(api.url, apiKey, streamId, verifierKey, 2, [worker, api]);
      const status = await worker.readyz();
      worker.assertRunning();
      if (status !== 200) throw new Error(`the worker's /readyz answers ${status} after its job`);
      return { value: undefined, detail: "tree size 2 signed; the worker's /readyz still 200" };
    });

    await step("stop both (SIGTERM)", async () => {
      const codes = await Promise.all([worker.stop(20_000), api.stop(20_000)]);
      if (codes.some((c) => c !== 0)) throw new Error(`exit codes ${codes.join(", ")}`);
      return { value: undefined, detail: "exit 0, 0" };
    });

    // The other production install: a clone, `npm ci --omit=dev` (nothing built, no compiler) and
    // `node bin/attesto.js serve` with whatever Node is on the PATH (an older one hands over to the
    // project's Node 24), which runs the TypeScript sources through Node's own transform.
    const sourceDir = path.join(temp, "source");
    await step("source install (npm ci --omit=dev)", async () => {
      const { tracked, linked } = await copyCheckout(sourceDir);
      await run("npm", ["prune", "--omit=dev", "--no-audit", "--no-fund"], { cwd: sourceDir, maxBuffer: 64 << 20 });
      if (existsSync(path.join(sourceDir, "dist"))) throw new Error("the source install has a dist/: it is meant to run unbuilt");
      const present = DEV_ONLY_TOOLS.filter((name) => existsSync(path.join(sourceDir, "node_modules", name)));
      if (present.length) throw new Error(`development-only packages in a production install: ${present.join(", ")}`);
      const { stdout } = await run("du", ["-sm", path.join(sourceDir, "node_modules")]);
      return { value: undefined, detail: `${tracked} tracked files, node_modules ${linked ? "hard-linked" : "copied"} and pruned: ${stdout.split("\t")[0]} MB, no dist/` };
    });

    const fromSource = await step("serve from source (node bin/attesto.js serve)", async () => {
      const pathNode = await run("sh", ["-c", "command -v node"], { env: { PATH: "/usr/local/bin:/usr/bin:/bin" } }).then(
        (r) => r.stdout.trim(),
        () => "",
      );
      const command = pathNode || process.execPath;
      const { stdout: version } = await run(command, ["--version"]);
      const s = await start("source", {}, { cwd: sourceDir, command, args: ["bin/attesto.js", "serve"], asUser: false });
      await s.waitReady(90_000);
      return { value: s, detail: `${command} (${version.trim()}): /readyz 200 on ${s.url}` };
    });

    await step("source: tenant, append, checkpoint, pages", async () => {
      const { tenant } = await rpc<{ tenant: { id: string } }>(fromSource.url, "attesto.admin.v1.AdminService/CreateTenant", { name: "source check" }, adminToken);
      const { secret } = await rpc<{ secret: string }>(fromSource.url, "attesto.admin.v1.AdminService/CreateApiKey", { tenantId: tenant.id, name: "source check" }, adminToken);
      const { stream } = await rpc<{ stream: { id: string; verifierKey: string } }>(fromSource.url, "attesto.v1.ProofstreamService/CreateStream", { name: "source-check" }, secret);
      await rpc(
        fromSource.url,
        "attesto.v1.ProofstreamService/AppendEvent",
        { streamId: stream.id, sourceRef: "source-1", eventType: "source.checked", occurredAt: new Date().toISOString(), payload: { n: 1 } },
        secret,
      );
      await signedCheckpoint(fromSource.url, secret, stream.id, stream.verifierKey, 1, [fromSource]);
      // Public verification runs on worker threads, which load the sources through the same hooks (no tsx here).
      const { tlogProof } = await rpc<{ tlogProof: string }>(fromSource.url, "attesto.v1.ProofstreamService/GetInclusionProof", { streamId: stream.id, seqNo: "1" }, secret);
      const verified = await fetch(`${fromSource.url}/v2/verify?verifier_key=${encodeURIComponent(stream.verifierKey)}`, { method: "POST", body: tlogProof, signal: AbortSignal.timeout(20_000) });
      const report = (await verified.json()) as { valid?: boolean };
      if (verified.status !== 200 || report.valid !== true) throw new Error(`POST /v2/verify of the event's tlog-proof: HTTP ${verified.status} ${JSON.stringify(report).slice(0, 300)}`);
      // The verify page is bundled from source by esbuild (a production dependency for this); the API reference viewer is not installed.
      const page = await get(`${fromSource.url}/verify/verify.js`);
      if (page.status !== 200 || page.text.length < 10_000) throw new Error(`GET /verify/verify.js: HTTP ${page.status}, ${page.text.length} bytes`);
      const reference = await get(`${fromSource.url}/docs/api`);
      if (reference.status !== 200 || !reference.text.includes("/openapi.json")) throw new Error(`GET /docs/api: HTTP ${reference.status}`);
      return { value: undefined, detail: `tree size 1 signed and verified; POST /v2/verify valid (verifier thread); /verify/verify.js ${page.text.length} bytes; /docs/api links /openapi.json` };
    });

    await step("source: stop (SIGTERM)", async () => {
      const code = await fromSource.stop(20_000);
      if (code !== 0) throw new Error(`serve exited with ${code}: ${fromSource.tail.at(-1) ?? ""}`);
      return { value: undefined, detail: "exit 0" };
    });
  } catch (err) {
    failed = true;
    printTable();
    console.error(`\nimage check FAILED: ${(err as Error).message}`);
    for (const s of servers.filter((x) => x.tail.length > 0)) console.error(`\nlast lines of ${s.label}:\n  ${s.tail.slice(-12).join("\n  ")}`);
  } finally {
    for (const s of servers) await s.stop(5_000);
    if (databaseMade) await admin.unsafe(`DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`).catch((e: Error) => console.error(`dropping ${databaseName}: ${e.message}`));
    await admin.end();
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${queuePrefix}*`, "COUNT", 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== "0");
    redis.disconnect();
    if (!asRoot) await run("find", [temp, "-type", "d", "-exec", "chmod", "u+w", "{}", "+"]).catch(() => {});
    rmSync(temp, { recursive: true, force: true });
  }
  if (failed) process.exit(1);
  printTable();
  console.log("\nimage check passed");
}

await main();
