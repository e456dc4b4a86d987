import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { cruise, type ICruiseResult, type IViolation } from "dependency-cruiser";
import extractDepcruiseOptions from "dependency-cruiser/config-utl/extract-depcruise-options";
import extractTSConfig from "dependency-cruiser/config-utl/extract-ts-config";
import { describe, expect, it } from "vitest";
import { projectRoot } from "../src/paths.js";

/**
 * The never-rules of docs/architecture.md, enforced: every import of src/ is checked against the
 * rules in .dependency-cruiser.cjs. A new import that breaks one fails this test.
 */

const root = projectRoot();

type Finding = { rule: string; import: string };

/** Runs dependency-cruiser with the project's rules over `dirs` (relative to `baseDir`). */
async function findViolations(baseDir: string, dirs: string[]): Promise<Finding[]> {
  const options = await extractDepcruiseOptions(path.join(root, ".dependency-cruiser.cjs"));
  // Paths are reported relative to baseDir, and the rules match those.
  const { output } = await cruise(dirs, { ...options, baseDir }, undefined, {
    tsConfig: extractTSConfig(path.join(baseDir, "tsconfig.json")),
  });
  return (output as ICruiseResult).summary.violations.map((violation: IViolation) => ({
    rule: violation.rule.name,
    import: `${violation.from} → ${violation.to}`,
  }));
}

/** Whether a known entry names this finding; a cycle is reported from whichever of its files the cruise met first. */
describe("architecture: the never-rules of docs/architecture.md", () => {
  it("src/ breaks none of them", async () => {
    const breaks = (await findViolations(root, ["src"])).map((finding) => `${finding.rule}: ${finding.import}`);
    expect(breaks).toEqual([]);
  });

  it("each rule fires on a tree that breaks it", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "attesto-architecture-"));
    const files: Record<string, string> = {
      "src/rpc/handler.ts": "export const handler = 1;\n",
      "src/http/route.ts": 'import { handler } from "../rpc/handler.js";\nexport const route = handler;\n',
      "src/webhooks/module.ts": 'import { Hono } from "hono";\nimport { route } from "../http/route.js";\nexport const hooks = [Hono, route];\n',
      "src/webhooks/outbox.ts": "export const outbox = 1;\n",
      "src/proofstream/module.ts": 'import { outbox } from "../webhooks/outbox.js";\nexport const streams = outbox;\n',
      "src/db/db.ts": 'import { hooks } from "../webhooks/module.js";\nexport const db = hooks;\n',
      "src/config.ts": 'import { db } from "./db/db.js";\nexport const config = db;\n',
      "src/verify/index.ts": 'import { createHash } from "node:crypto";\nimport { config } from "../config.js";\nexport const v = [createHash, config];\n',
      "src/contract/fields.ts": 'import { route } from "../http/route.js";\nexport const fields = route;\n',
      "src/tenancy/a.ts": 'import { b } from "./b.js";\nexport const a = () => b;\n',
      "src/tenancy/b.ts": 'import { a } from "./a.js";\nexport const b = () => a;\n',
      // A stand-in for the hono package: the rule is about the import, not the package's code.
      "node_modules/hono/package.json": '{"name":"hono","type":"module","main":"index.js"}\n',
      "node_modules/hono/index.js": "export class Hono {}\n",
      "package.json": '{"type":"module"}\n',
      "tsconfig.json": '{"compilerOptions":{"module":"NodeNext","moduleResolution":"NodeNext"}}\n',
    };
    try {
      for (const [file, text] of Object.entries(files)) {
        await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
        await writeFile(path.join(dir, file), text);
      }
      const found = (await findViolations(dir, ["src"])).map((f) => `${f.rule}: ${f.import}`).sort();
      expect(found).toEqual(
        [
          "base-imports-only-base: src/config.ts → src/db/db.ts",
          "contract-knows-no-edge: src/contract/fields.ts → src/http/route.ts",
          "domain-knows-no-transport: src/webhooks/module.ts → node_modules/hono/index.js",
          "domain-knows-no-transport: src/webhooks/module.ts → src/http/route.ts",
          "edges-side-by-side: src/http/route.ts → src/rpc/handler.ts",
          "facade-is-the-door: src/proofstream/module.ts → src/webhooks/outbox.ts",
          "infra-knows-no-domain: src/db/db.ts → src/webhooks/module.ts",
          "no-cycles: src/tenancy/a.ts → src/tenancy/b.ts",
          "verify-is-self-contained: src/verify/index.ts → src/config.ts",
          "verify-uses-no-node-builtins: src/verify/index.ts → crypto",
        ].sort(),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
