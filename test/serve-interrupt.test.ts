import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { afterAll, describe, expect, inject, it } from "vitest";
import { CLI, ROOT } from "./support/process.js";
import { tempDir } from "./support/server.js";

/** The pids of a process's children (Linux /proc). */
async function childrenOf(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, "utf8").catch(() => "");
  return text.split(" ").filter(Boolean).map(Number);
}

/**
 * Ctrl-C during `serve --workers 2`'s start-up (issue 26, defect 8): a
 * terminal signals the whole process group, so the workers get the SIGINT
 * too, some while they are still loading. The server stops cleanly and says
 * so once, not "worker failed to start … SIGINT".
 */
describe("a Ctrl-C while serve --workers 2 starts", () => {
  const children: ChildProcess[] = [];
  afterAll(() => children.forEach((c) => c.exitCode === null && c.signalCode === null && process.kill(-c.pid!, "SIGKILL")));

  it("stops with one 'stopping' line and exit code 0, and no worker is said to have failed", async () => {
    const env = {
      ...process.env,
      DATABASE_URL: inject("databaseUrl"),
      REDIS_URL: inject("redisUrl"),
      ATTESTO_QUEUE_PREFIX: `${inject("queuePrefix")}_interrupt`,
      ATTESTO_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
      ATTESTO_ADMIN_TOKEN: `adm_${randomBytes(24).toString("base64url")}`,
      ATTESTO_DATA_DIR: await tempDir(),
      ATTESTO_WORKERS: "2",
      LOG_LEVEL: "info",
      ATTESTO_LOG_FORMAT: "json",
    };
    // A process group of its own, which the test signals as a terminal's Ctrl-C does.
    const child = spawn(process.execPath, [...CLI, "--json", "serve", "--port", "0"], { env, cwd: ROOT, detached: true });
    children.push(child);
    let stderr = "";
    let stdout = "";
    child.stderr!.on("data", (d) => (stderr += d));
    child.stdout!.on("data", (d) => (stdout += d));
    const closed = new Promise<number | null>((resolve) => child.once("close", resolve));

    // The moment the primary has forked its workers: they are still loading the server's modules.
    for (const until = Date.now() + 30_000; (await childrenOf(child.pid!)).length === 0;) {
      if (Date.now() > until || child.exitCode !== null) throw new Error(`no worker was forked: ${stderr}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    process.kill(-child.pid!, "SIGINT");

    expect(await closed, stderr).toBe(0);
    const lines = stderr
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { msg: string; signal?: string });
    expect(
      lines.filter((l) => l.msg === "stopping"),
      stderr,
    ).toEqual([expect.objectContaining({ msg: "stopping", signal: "SIGINT" })]);
    expect(stderr).not.toContain("failed to start");
    expect(stderr).not.toContain("stopped uncleanly");
    // It never said it was serving.
    expect(stdout).toBe("");
  }, 60_000);
});
