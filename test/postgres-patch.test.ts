import { spawn } from "node:child_process";
import path from "node:path";
import { describe, expect, inject, it } from "vitest";
import { ROOT } from "./support/process.js";

/** Runs the reproducer in a process of its own: the bug it guards against kills the process. */
function reproduce(url: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, "test/fixtures/postgres-closed-write.mjs"), url], { cwd: ROOT });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.once("error", reject);
    child.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("postgres.js with patches/postgres+3.4.9.patch", () => {
  it("survives a backend terminated under a transaction: the query settles CONNECTION_CLOSED and the pool serves on", async () => {
    const res = await reproduce(inject("databaseUrl"));
    // Unpatched, this exits 1 with "TypeError: Cannot read properties of null (reading 'write')" at nextWrite.
    expect(res.stderr).not.toContain("reading 'write'");
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({ settled: "CONNECTION_CLOSED", ok: 1 });
  });
});
