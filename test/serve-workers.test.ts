import { randomBytes } from "node:crypto";
import http from "node:http";
import { afterAll, describe, expect, inject, it } from "vitest";
import { spawn } from "node:child_process";
import net from "node:net";
import { CLI, ROOT, spawnServe, stopProcess } from "./support/process.js";
import { tempDir } from "./support/server.js";
import type { ChildProcess } from "node:child_process";

/** GET on a connection of its own (the primary hands connections to the workers in turn), given up after 3 s. */
function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false, headers: { connection: "close" }, timeout: 3_000 }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode!, body }));
      })
      .on("timeout", function (this: http.ClientRequest) {
        this.destroy(new Error("no answer within 3 s"));
      })
      .on("error", reject);
  });
}

/** A Connect unary call in JSON on a connection of its own. */
function call(url: string, method: string, token: string, body: unknown): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/${method}`, { method: "POST", agent: false, headers: { connection: "close", "content-type": "application/json", authorization: `Bearer ${token}` } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
    });
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

/** The pid of the worker that answered /metrics (attesto_process_info). */
async function answeringPid(url: string): Promise<number> {
  const { status, body } = await get(`${url}/metrics`);
  expect(status).toBe(200);
  const m = /^attesto_process_info\{pid="(\d+)",worker="(\d+)"\} 1$/m.exec(body);
  expect(m, "attesto_process_info in /metrics").not.toBeNull();
  expect(Number(m![2])).toBeGreaterThan(0);
  return Number(m![1]);
}

/** Pids seen over `n` requests, each on a connection of its own. */
async function pidsOver(url: string, n: number): Promise<Set<number>> {
  const pids = new Set<number>();
  for (let i = 0; i < n; i++) pids.add(await answeringPid(url));
  return pids;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("serve --workers 2", () => {
  const children: ChildProcess[] = [];
  afterAll(() => children.forEach((c) => c.exitCode === null && c.kill("SIGKILL")));

  it("answers from two worker processes, replaces one killed with SIGKILL while requests go on, shares key revocations, and stops within the grace period", async () => {
    const adminToken = `adm_${randomBytes(24).toString("base64url")}`;
    const graceMs = 6_000;
    const { child, info } = await spawnServe(
      {
        ...process.env,
        DATABASE_URL: inject("databaseUrl"),
        REDIS_URL: inject("redisUrl"),
        ATTESTO_QUEUE_PREFIX: `${inject("queuePrefix")}_workers`,
        ATTESTO_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
        ATTESTO_ADMIN_TOKEN: adminToken,
        ATTESTO_DATA_DIR: await tempDir(),
        ATTESTO_SHUTDOWN_GRACE_MS: String(graceMs),
        ATTESTO_ANCHOR_DEV_CHAIN: "false",
        ATTESTO_DB_POOL: "4",
        LOG_LEVEL: "warn",
      },
      ["--workers", "2"],
    );
    children.push(child);
    expect(info.workers).toBe(2);

    // Two processes answer, neither of them the primary.
    const pids = await pidsOver(info.url, 8);
    expect(pids.size).toBe(2);
    expect(pids.has(child.pid!)).toBe(false);

    // A key revoked through one worker is refused by every worker at once, although each had it cached.
    const tenant = await call(info.url, "attesto.admin.v1.AdminService/CreateTenant", adminToken, { name: "workers" });
    expect(tenant.status).toBe(200);
    const key = await call(info.url, "attesto.admin.v1.AdminService/CreateApiKey", adminToken, { tenantId: tenant.body.tenant.id, name: "k" });
    expect(key.status).toBe(200);
    for (let i = 0; i < 6; i++) expect((await call(info.url, "attesto.v1.TenantService/GetCurrentTenant", key.body.secret, {})).status).toBe(200);
    const revoked = await call(info.url, "attesto.admin.v1.AdminService/RevokeApiKey", adminToken, { apiKeyId: key.body.apiKey.id });
    expect(revoked.status).toBe(200);
    // The eviction travels by Redis pub/sub: the other worker drops the key a moment after the revocation answered.
    const revokedAt = Date.now();
    while ((await call(info.url, "attesto.v1.TenantService/GetCurrentTenant", key.body.secret, {})).status !== 401) {
      expect(Date.now() - revokedAt, "the revocation reaches the other worker").toBeLessThan(2_000);
    }
    // Then no worker takes it (well within ATTESTO_API_KEY_CACHE_MS, which would otherwise keep it for 5 s).
    for (let i = 0; i < 6; i++) expect((await call(info.url, "attesto.v1.TenantService/GetCurrentTenant", key.body.secret, {})).status).toBe(401);
    expect(Date.now() - revokedAt).toBeLessThan(5_000);

    // SIGKILL one worker: requests keep being answered (by the other) and a replacement takes its place.
    const [victim, survivor] = [...pids];
    process.kill(victim!, "SIGKILL");
    let answered = 0;
    const lost: string[] = [];
    const now = new Set<number>();
    for (let i = 0; ; i++) {
      // A connection the primary was handing to the killed worker at that moment is lost with it.
      const pid = await answeringPid(info.url).catch((err: Error) => void lost.push(err.message));
      if (pid !== undefined) {
        answered++;
        now.add(pid);
        expect(pid).not.toBe(victim);
      }
      if (now.size === 2) break;
      expect(i, "a replacement worker answers").toBeLessThan(600);
    }
    // (Node's cluster hands a connection to a worker that died a moment ago and never closes it: at most that one.)
    expect(lost.length).toBeLessThanOrEqual(1);
    expect(now.has(survivor!)).toBe(true);
    expect(answered).toBeGreaterThanOrEqual(2);
    const replacement = [...now].find((p) => p !== survivor)!;
    expect(alive(victim!)).toBe(false);

    // SIGTERM: the primary and every worker are gone within the grace period, with exit code 0.
    const signalledAt = Date.now();
    const code = await stopProcess(child);
    expect(Date.now() - signalledAt).toBeLessThan(graceMs);
    expect(code).toBe(0);
    expect(alive(survivor!)).toBe(false);
    expect(alive(replacement)).toBe(false);
  }, 180_000);

  it("exits non-zero, saying why, when its workers cannot start (the port is taken)", async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const child = spawn(process.execPath, [...CLI, "serve", "--workers", "2", "--port", String(port)], {
        cwd: ROOT,
        env: {
          ...process.env,
          DATABASE_URL: inject("databaseUrl"),
          REDIS_URL: inject("redisUrl"),
          ATTESTO_QUEUE_PREFIX: `${inject("queuePrefix")}_workers_fail`,
          ATTESTO_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
          ATTESTO_DATA_DIR: await tempDir(),
          ATTESTO_ANCHOR_DEV_CHAIN: "false",
          ATTESTO_DB_POOL: "2",
          LOG_LEVEL: "error",
        },
      });
      children.push(child);
      let stderr = "";
      child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
      let stdout = "";
      child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
      expect(code).toBe(1);
      expect(stderr).toMatch(/attesto: (listen|bind) EADDRINUSE/);
      expect(stdout).not.toContain("listening");
    } finally {
      taken.close();
    }
  }, 120_000);
});
