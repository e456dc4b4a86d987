import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { access, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { openEmbeddedPostgres, type EmbeddedPostgres } from "../src/db/embedded-postgres.js";
import { spawnServe, stopProcess } from "./support/process.js";
import { tempDir } from "./support/server.js";

const RUN_AS = "attesto";
const asRoot = process.getuid?.() === 0;

/** One cluster folder for the whole file (starting clusters is the expensive part); the tests stop and restart it. */
describe("embedded PostgreSQL", () => {
  let dir: string;
  const opened: EmbeddedPostgres[] = [];
  const open = async () => {
    const pg = await openEmbeddedPostgres({ dir, runAsUser: RUN_AS });
    opened.push(pg);
    return pg;
  };
  const postmasterFile = () => path.join(dir, "data", "postmaster.pid");
  const withClient = async <T>(url: string, run: (sql: postgres.Sql) => Promise<T>): Promise<T> => {
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      return await run(sql);
    } finally {
      await sql.end({ timeout: 5 });
    }
  };

  beforeAll(async () => {
    dir = path.join(await tempDir("attesto-embedded-"), "postgres");
  });

  afterAll(async () => {
    for (const pg of opened.reverse()) await pg.stop().catch(() => {});
  });

  it("creates a cluster on a loopback port, behind a generated password kept in the folder with mode 0600", async () => {
    const pg = await open();
    expect(pg.owner).toBe(true);
    const passwordFile = path.join(dir, "password");
    expect((await stat(passwordFile)).mode & 0o777).toBe(0o600);
    const password = (await readFile(passwordFile, "utf8")).trim();
    expect(password).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(new URL(pg.url).password).toBe(password);

    const row = await withClient(pg.url, async (sql) => (await sql`SELECT current_user AS "user", host(inet_server_addr()) AS addr, inet_server_port() AS port`)[0]!);
    expect(row).toEqual({ user: "attesto", addr: "127.0.0.1", port: pg.port });

    // The password is required.
    const wrong = new URL(pg.url);
    wrong.password = "not-the-password";
    const err = await withClient(wrong.toString(), (sql) => sql`SELECT 1`).then(
      () => undefined,
      (e: unknown) => e as { code?: string },
    );
    expect(err?.code).toBe("28P01");

    if (asRoot) {
      // PostgreSQL refuses root: the cluster belongs to, and runs as, the unprivileged user.
      const uid = Number(execFileSync("id", ["-u", RUN_AS], { encoding: "utf8" }).trim());
      expect((await stat(path.join(dir, "data"))).uid).toBe(uid);
      const pid = Number((await readFile(postmasterFile(), "utf8")).split("\n")[0]);
      const status = await readFile(`/proc/${pid}/status`, "utf8");
      expect(status).toMatch(new RegExp(`^Uid:\\s+${uid}\\s`, "m"));
    }
  });

  it("keeps the data across a restart", async () => {
    const first = opened.at(-1)!;
    const marker = randomBytes(8).toString("hex");
    await withClient(first.url, async (sql) => {
      await sql`CREATE TABLE IF NOT EXISTS kept (marker text)`;
      await sql`INSERT INTO kept VALUES (${marker})`;
    });
    await first.stop();
    await expect(access(postmasterFile())).rejects.toThrow();

    const second = await open();
    expect(second.owner).toBe(true);
    const rows = await withClient(second.url, (sql) => sql`SELECT marker FROM kept`);
    expect(rows.map((r) => r.marker)).toContain(marker);
  });

  it("a second opener shares the running cluster and leaves stopping it to the owner", async () => {
    const owner = opened.at(-1)!;
    const guest = await open();
    expect(guest.owner).toBe(false);
    expect(guest.port).toBe(owner.port);
    expect(guest.url).toBe(owner.url);
    await guest.stop();
    // Still serving the owner.
    expect(await withClient(owner.url, async (sql) => (await sql`SELECT 1 AS one`)[0]!.one)).toBe(1);
  });

  it("adopts a running cluster whose owner process is gone, so that it gets stopped", async () => {
    const running = opened.at(-1)!;
    // A pid that certainly belonged to a process that has exited.
    const child = spawn("true");
    const deadPid = child.pid!;
    await new Promise((resolve) => child.once("exit", resolve));
    await writeFile(path.join(dir, "owner.pid"), String(deadPid));

    const adopter = await open();
    expect(adopter.owner).toBe(true);
    expect(adopter.port).toBe(running.port);
    expect((await readFile(path.join(dir, "owner.pid"), "utf8")).trim()).toBe(String(process.pid));
    await adopter.stop();
    await expect(access(postmasterFile())).rejects.toThrow();
  });

  it("a server whose database went away still exits within ATTESTO_SHUTDOWN_GRACE_MS of SIGTERM", async () => {
    const pg = await open();
    expect(pg.owner).toBe(true);
    const graceMs = 3_000;
    const { child, info } = await spawnServe({
      ...process.env,
      DATABASE_URL: pg.url,
      REDIS_URL: inject("redisUrl"),
      ATTESTO_QUEUE_PREFIX: `${inject("queuePrefix")}_shutdown`,
      ATTESTO_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
      ATTESTO_DATA_DIR: await tempDir(),
      ATTESTO_SHUTDOWN_GRACE_MS: String(graceMs),
      ATTESTO_DB_POOL: "4",
      LOG_LEVEL: "warn",
    });
    try {
      expect((await fetch(`${info.url}/readyz`)).status).toBe(200);
      await pg.stop();
      // The server has noticed: its readiness reports the database down.
      for (let i = 0; ; i++) {
        // A kept-alive connection the server closed as the request left is retried (ECONNRESET on a loaded
        // machine); a server that died would fail every try, and the exit code below.
        const res = await fetch(`${info.url}/readyz`).catch(() => undefined);
        if (res?.status === 503) break;
        expect(i).toBeLessThan(100);
        if (!res) await new Promise((r) => setTimeout(r, 50));
      }
      const signalledAt = Date.now();
      const code = await stopProcess(child);
      const elapsed = Date.now() - signalledAt;
      // It exited by itself (not killed by a signal): 0, or 1 when a step was left running at the deadline.
      expect([0, 1]).toContain(code);
      expect(elapsed).toBeLessThan(graceMs);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  }, 60_000);
});
