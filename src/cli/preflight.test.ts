import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { buildProblem, MIN_NODE_MAJOR, nodeVersionProblem } from "../../bin/preflight.js";

const bin = path.resolve(import.meta.dirname, "../../bin/attesto.js");

describe("bin/attesto.js preflight: one line for an old Node or an unbuilt checkout", () => {
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

  it("a missing compiled CLI names the file and `npm run build`", () => {
    expect(buildProblem("/nonexistent/dist/src/cli/main.js")).toMatch(/^attesto: the compiled CLI \(\/nonexistent\/dist\/src\/cli\/main\.js\) is missing: run `npm run build` first/);
    expect(buildProblem(bin)).toBeUndefined();
  });

  // The machine's own node where there is one (Node 20 on the development machine and in CI's Debian).
  const system = spawnSync("/usr/bin/node", ["--version"], { encoding: "utf8" });
  const old = system.status === 0 && Number(/^v(\d+)/.exec(system.stdout)![1]) < MIN_NODE_MAJOR;
  if (old) {
    it(`run by ${system.stdout.trim()} (/usr/bin/node): exit 1 and exactly one line on stderr`, () => {
      const r = spawnSync("/usr/bin/node", [bin, "--version"], { encoding: "utf8" });
      expect(r.status).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr.trimEnd().split("\n")).toEqual([nodeVersionProblem(system.stdout.trim())]);
    });
  }
});
