import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { access, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { runCli, spawnServe } from "./support/process.js";
import { tempDir } from "./support/server.js";

function baseEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { DATABASE_URL: _d, REDIS_URL: _r, ATTESTO_ENCRYPTION_KEY: _k, ATTESTO_ADMIN_TOKEN: _a, ...rest } = process.env;
  return { ...rest, LOG_LEVEL: "warn", ...extra };
}

async function jsonOut<T>(args: string[], env: NodeJS.ProcessEnv): Promise<T> {
  const res = await runCli(["--json", ...args], env);
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout) as T;
}

describe("attesto CLI on Postgres", () => {
  const env = baseEnv({ DATABASE_URL: inject("databaseUrl"), ATTESTO_ENCRYPTION_KEY: randomBytes(32).toString("base64") });
  // Local mode named, so that a server answering on this machine's default address cannot take these commands.
  const json = <T>(args: string[], e: NodeJS.ProcessEnv) => jsonOut<T>(["--local", ...args], e);
  const run = (args: string[], e: NodeJS.ProcessEnv) => runCli(args[0] === "serve" ? args : ["--local", ...args], e);

  // Eleven CLI processes in a row: on a loaded two-core machine (the whole suite runs beside it) they
  // can take more than the default 30 s between them.
  it("manages tenants and keys with --json output", async () => {
    expect(await json(["migrate"], env)).toEqual({ migrated: true, database: "postgres" });
    const tenant = await json<{ id: string; name: string; active: boolean }>(["tenant", "create", "cli tenant"], env);
    expect(tenant).toMatchObject({ name: "cli tenant", active: true });
    expect(tenant.id).toMatch(/^ten_/);

    const key = await json<{ id: string; secret: string; prefix: string }>(["apikey", "issue", tenant.id, "--name", "ci"], env);
    expect(key.secret.startsWith(key.prefix)).toBe(true);
    const keys = await json<Array<{ id: string; secret?: string }>>(["apikey", "list", tenant.id], env);
    expect(keys.map((k) => k.id)).toEqual([key.id]);
    expect(keys[0]!.secret).toBeUndefined();

    const revoked = await json<{ revokedAt: string }>(["apikey", "revoke", key.id], env);
    expect(revoked.revokedAt).toBeTruthy();
    expect(await json<unknown[]>(["apikey", "list", tenant.id], env)).toEqual([]);
    expect(await json<unknown[]>(["apikey", "list", tenant.id, "--all"], env)).toHaveLength(1);

    expect((await json<Array<{ id: string }>>(["tenant", "list"], env)).map((t) => t.id)).toContain(tenant.id);
    await json(["tenant", "deactivate", tenant.id], env);
    expect((await json<Array<{ id: string }>>(["tenant", "list"], env)).map((t) => t.id)).not.toContain(tenant.id);
    expect((await json<Array<{ id: string }>>(["tenant", "list", "--all"], env)).map((t) => t.id)).toContain(tenant.id);
  }, 240_000);

  it("fails with a clear one-line error and a non-zero exit", async () => {
    const res = await run(["--json", "tenant", "deactivate", "ten_missing"], env);
    expect(res.code).toBe(1);
    expect(JSON.parse(res.stderr)).toEqual({ error: "tenant not found" });
    const human = await run(["apikey", "issue", "ten_missing"], env);
    expect(human.stderr.trim()).toBe("attesto: tenant not found");
    // Two CLI processes: like the test above, more than 30 s on a loaded two-core machine.
  }, 120_000);

  it("refuses to run on a real database without an encryption key", async () => {
    const res = await run(["serve", "--port", "0"], baseEnv({ DATABASE_URL: inject("databaseUrl") }));
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("ATTESTO_ENCRYPTION_KEY is required");
  });
});

describe("attesto serve on the embedded defaults", () => {
  const json = jsonOut;
  const children: ChildProcess[] = [];
  afterAll(() => children.forEach((c) => c.exitCode === null && c.kill("SIGKILL")));

  async function serve(dataDir: string) {
    // One process: this test is about the embedded PostgreSQL's life cycle; serve --workers has its own
    // test (serve-workers.test.ts). Two loaded full-suite runs saw a two-worker serve exit 1 on a SIGTERM
    // a few seconds after it started, with no log line saying why (see the primary's "worker stopped uncleanly").
    const served = await spawnServe(baseEnv({ ATTESTO_DATA_DIR: dataDir, ATTESTO_WORKERS: "1" }));
    children.push(served.child);
    return { child: served.child, stderr: served.stderr, info: { ...served.info, devTenant: served.info.devTenant! } };
  }

  it("serves on the embedded PostgreSQL, shares it with CLI commands, keeps the data across restarts, and stops it on SIGTERM", async () => {
    const dataDir = await tempDir();
    const env = baseEnv({ ATTESTO_DATA_DIR: dataDir });
    const { child, info, stderr } = await serve(dataDir);
    expect(info.database).toBe("embedded-postgres");
    const res = await fetch(`${info.url}/attesto.v1.TenantService/GetCurrentTenant`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${info.devTenant.apiKey}` },
      body: "{}",
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { tenant: { id: string } }).tenant.id).toBe(info.devTenant.tenantId);

    // The password is generated, kept in the data folder, readable by its owner only.
    const passwordFile = path.join(dataDir, "postgres", "password");
    expect((await stat(passwordFile)).mode & 0o777).toBe(0o600);
    expect((await readFile(passwordFile, "utf8")).trim()).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const postmaster = path.join(dataDir, "postgres", "data", "postmaster.pid");
    const port = Number((await readFile(postmaster, "utf8")).split("\n")[3]);
    expect(port).toBeGreaterThan(0);

    // A CLI command on the same folder uses the server's running PostgreSQL and leaves it running.
    const created = await json<{ id: string }>(["tenant", "create", "while serving"], env);
    expect(Number((await readFile(postmaster, "utf8")).split("\n")[3])).toBe(port);
    const tenants = await fetch(`${info.url}/attesto.admin.v1.AdminService/ListTenants`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${info.devTenant.adminToken}` },
      body: "{}",
    });
    expect(tenants.status).toBe(200);
    expect(((await tenants.json()) as { tenants: Array<{ id: string }> }).tenants.map((t) => t.id)).toContain(created.id);

    // "close", not "exit": the last lines it wrote to stderr have arrived by then.
    const exit = new Promise<number | null>((r) => child.once("close", r));
    child.kill("SIGTERM");
    expect(await exit, stderr()).toBe(0);
    // The server stopped the PostgreSQL it started.
    await expect(access(postmaster)).rejects.toThrow();

    const again = await serve(dataDir);
    expect(again.info.devTenant).toEqual(info.devTenant);
    const stopped = new Promise<number | null>((r) => again.child.once("close", r));
    again.child.kill("SIGTERM");
    expect(await stopped, again.stderr()).toBe(0);

    // With no server, the CLI starts the PostgreSQL itself, sees both tenants, and stops it again.
    const listed = await json<Array<{ id: string }>>(["tenant", "list"], env);
    expect(listed.map((t) => t.id).sort()).toEqual([info.devTenant.tenantId, created.id].sort());
    await expect(access(postmaster)).rejects.toThrow();
  }, 120_000);

  it("stops the embedded PostgreSQL when a Ctrl-C reaches the whole process group, workers and dev chain included", async () => {
    // A terminal's Ctrl-C signals every process of the foreground group at once: the primary, its
    // workers and the Hardhat dev chain (the embedded PostgreSQL runs in a session of its own). The
    // primary used to wait forever on the already dead chain and leave the PostgreSQL running.
    const dataDir = await tempDir();
    const { child, stderr } = await spawnServe(baseEnv({ ATTESTO_DATA_DIR: dataDir, ATTESTO_WORKERS: "2" }), [], { ownProcessGroup: true });
    children.push(child);
    const postmaster = path.join(dataDir, "postgres", "data", "postmaster.pid");
    const postgresPid = Number((await readFile(postmaster, "utf8")).split("\n")[0]);
    expect(postgresPid).toBeGreaterThan(0);
    const closed = new Promise<number | null>((r) => child.once("close", r));
    process.kill(-child.pid!, "SIGINT");
    await closed;
    await expect(access(postmaster), stderr()).rejects.toThrow();
    // Its postmaster.pid goes in the last moments of its shutdown: the process itself follows.
    const alive = () => {
      try {
        process.kill(postgresPid, 0);
        return true;
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 100 && alive(); i++) await new Promise((r) => setTimeout(r, 50));
    expect(alive()).toBe(false);
  }, 120_000);

  it("stops the embedded PostgreSQL and the dev chain when the terminal closes (SIGHUP to the group), and when serve is killed outright (the watchdogs)", async () => {
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
      } catch {
        return false;
      }
      // A killed process whose parent is gone waits as a zombie until init reaps it, which can take a
      // while on a loaded machine: it is dead all the same.
      try {
        return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
      } catch {
        return false;
      }
    };
    const gone = async (pid: number) => {
      for (let i = 0; i < 200 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
      return !alive(pid);
    };
    for (const how of ["SIGHUP to the process group", "SIGKILL to serve alone"] as const) {
      const dataDir = await tempDir();
      const { child, stderr } = await spawnServe(baseEnv({ ATTESTO_DATA_DIR: dataDir, ATTESTO_WORKERS: "1" }), [], { ownProcessGroup: true });
      children.push(child);
      const postmaster = path.join(dataDir, "postgres", "data", "postmaster.pid");
      const postgresPid = Number((await readFile(postmaster, "utf8")).split("\n")[0]);
      expect(postgresPid).toBeGreaterThan(0);
      // The dev chain starts beside the serving server; its pid is recorded as it is spawned.
      const chainPidFile = path.join(dataDir, "devchain", "state.json.pid");
      let chainPid = 0;
      for (let i = 0; i < 600 && !(chainPid > 0); i++) {
        chainPid = Number((await readFile(chainPidFile, "utf8").catch(() => "")).trim());
        if (!(chainPid > 0)) await new Promise((r) => setTimeout(r, 50));
      }
      expect(chainPid, `${how}: ${stderr()}`).toBeGreaterThan(0);
      const closed = new Promise<number | null>((r) => child.once("close", r));
      if (how === "SIGHUP to the process group") process.kill(-child.pid!, "SIGHUP");
      else process.kill(child.pid!, "SIGKILL");
      await closed;
      expect(await gone(postgresPid), `${how}: ${stderr()}`).toBe(true);
      expect(await gone(chainPid), `${how}: the dev chain (${chainPid}) outlived serve`).toBe(true);
    }
  }, 180_000);
});
