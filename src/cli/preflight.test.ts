import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { buildProblem, MIN_NODE_MAJOR, nodeVersionProblem } from "../../bin/preflight.js";

const bin = path.resolve(import.meta.dirname, "../../bin/attesto.js");

describe("bin/attesto.js preflight: one line for an old Node or an incomplete copy", () => {
  it("Node < 24 is refused in one line naming the version and what to do; 24 and later pass", () => {
    expect(MIN_NODE_MAJOR).toBe(24);
    const line = nodeVersionProblem("v20.20.2")!;
    expect(line).toContain("Node.js >= 24");
    expect(line).toContain("v20.20.2");
    expect(line).not.toContain("\n");
    expect(nodeVersionProblem("v22.12.0")).toBeDefined();
    expect(nodeVersionProblem("v24.0.0")).toBeUndefined();
    expect(nodeVersionProblem("v25.1.0")).toBeUndefined();
  });

  it("a copy with neither the compiled CLI nor the sources names the file and both ways to install", () => {
    const line = buildProblem("/nonexistent/dist/src/cli/main.js")!;
    expect(line).toMatch(/^attesto: neither the compiled CLI \(\/nonexistent\/dist\/src\/cli\/main\.js\) nor the sources \(src\/\) are here/);
    expect(line).toContain("npm ci --omit=dev");
    expect(buildProblem(bin)).toBeUndefined();
  });

  // The machine's own node where there is one (Node 20 on the development machine and in CI's Debian).
  const system = spawnSync("/usr/bin/node", ["--version"], { encoding: "utf8" });
  const old = system.status === 0 && Number(/^v(\d+)/.exec(system.stdout)![1]) < MIN_NODE_MAJOR;
  if (old) {
    it(`run by ${system.stdout.trim()} (/usr/bin/node) in the project: hands over to the project's Node 24, whose exit and output are its own`, () => {
      const r = spawnSync("/usr/bin/node", [bin, "--version"], { encoding: "utf8" });
      expect(r.stderr).toBe("");
      expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
      expect(r.status).toBe(0);
      const unknown = spawnSync("/usr/bin/node", [bin, "no-such-command"], { encoding: "utf8" });
      expect(unknown.status).not.toBe(0);
      // Unbuilt, the second run transforms every command's sources: seconds on a loaded machine.
    }, 60_000);

    it(`run by ${system.stdout.trim()} without the project's Node (node_modules/node): exit 1 and exactly one line on stderr`, () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), "attesto-preflight-"));
      try {
        mkdirSync(path.join(dir, "bin"));
        for (const f of ["attesto.js", "preflight.js"]) cpSync(path.join(path.dirname(bin), f), path.join(dir, "bin", f));
        writeFileSync(path.join(dir, "package.json"), JSON.stringify({ type: "module" }));
        const r = spawnSync("/usr/bin/node", [path.join(dir, "bin", "attesto.js"), "--version"], { encoding: "utf8" });
        expect(r.status).toBe(1);
        expect(r.stdout).toBe("");
        expect(r.stderr.trimEnd().split("\n")).toEqual([nodeVersionProblem(system.stdout.trim())]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
