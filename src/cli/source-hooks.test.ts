import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const hooks = path.resolve(import.meta.dirname, "../../bin/source-hooks.js");
const dir = mkdtempSync(path.join(os.tmpdir(), "attesto-source-hooks-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const write = (file: string, text: string) => {
  mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
  writeFileSync(path.join(dir, file), text);
};
const run = (entry: string) => spawnSync(process.execPath, ["--import", hooks, path.join(dir, entry)], { encoding: "utf8", cwd: dir });

describe("bin/source-hooks.js: the sources run unbuilt on Node 24's own transform", () => {
  write("package.json", JSON.stringify({ type: "module" }));
  // What tsc takes and type stripping alone does not: an enum (generated protobuf code has them), a
  // parameter property, and NodeNext's `.js` specifiers naming `.ts` files.
  write("src/kind.ts", "export enum Kind { A = 1, B = 2 }\nexport class Box { constructor(readonly value: number) {} }\n");
  write(
    "src/main.ts",
    'import { Box, Kind } from "./kind.js";\nimport type { Stats } from "node:fs";\nconst s: Stats | undefined = undefined;\nconsole.log(Kind.B, Kind[1], new Box(7).value, s === undefined);\n',
  );

  it("runs TypeScript with enums, parameter properties and .js specifiers, and says nothing about it", () => {
    const r = run("src/main.ts");
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe("2 A 7 true");
    expect(r.status).toBe(0);
  });

  it("a .js file that exists is imported as it is, not replaced by a .ts of the same name", () => {
    write("src/both.js", 'export const from = "js";\n');
    write("src/both.ts", 'export const from: string = "ts";\n');
    write("src/pick.ts", 'import { from } from "./both.js";\nconsole.log(from);\n');
    expect(run("src/pick.ts").stdout.trim()).toBe("js");
  });

  it("a type error is not its business (tsc's is), a syntax error fails with the file named", () => {
    write("src/typed.ts", "const n: number = 1;\nconsole.log(n + 1);\n");
    expect(run("src/typed.ts").stdout.trim()).toBe("2");
    write("src/broken.ts", "export const = ;\n");
    const r = run("src/broken.ts");
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("broken.ts");
  });
});
