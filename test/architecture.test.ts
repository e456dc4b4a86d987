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

/**
 * KNOWN_VIOLATIONS: the imports of today's tree that still break a rule, each group with the reason and
 * the work that removes it (issue 21, items 1-4). Nothing may be added here; an entry whose import is
 * gone fails the test too ("fixed: remove it"), so the list shrinks to empty as those branches merge.
 */
const KNOWN_VIOLATIONS: { rule: string; reason: string; imports: string[] }[] = [
  {
    rule: "facade-is-the-door",
    reason: "the edges classify requests with ratelimit/classes.ts, which ratelimit/module.ts does not re-export",
    imports: ["src/http/ratelimit.ts → src/ratelimit/classes.ts", "src/rpc/ratelimit.ts → src/ratelimit/classes.ts"],
  },
  {
    rule: "facade-is-the-door",
    reason: "modules read the tenants table's active check from tenancy's file, not from Tenancy (item 2)",
    imports: ["src/webhooks/subscriptions.ts → src/tenancy/tenants.ts", "src/store/credentials.ts → src/tenancy/tenants.ts", "src/proofstream/streams.ts → src/tenancy/tenants.ts"],
  },
  {
    rule: "facade-is-the-door",
    reason: "types a facade takes or returns (records, views, the event emitter, the Authenticator) are declared in " + "internal files: re-export them from the module's module.ts or a *-types.ts",
    imports: [
      "src/proofstream/module.ts → src/webhooks/outbox.ts",
      "src/proofstream/forks.ts → src/webhooks/outbox.ts",
      "src/proofstream/checkpoints.ts → src/webhooks/outbox.ts",
      "src/proofstream/bundles.ts → src/webhooks/outbox.ts",
      "src/anchoring/tracker.ts → src/webhooks/outbox.ts",
      "src/anchoring/module.ts → src/webhooks/outbox.ts",
      "src/rpc/proofstream-service.ts → src/proofstream/leaf.ts",
      "src/rpc/proofstream-service.ts → src/proofstream/streams.ts",
      "src/rpc/proofstream-service.ts → src/proofstream/forks.ts",
      "src/rpc/proofstream-service.ts → src/proofstream/checkpoints.ts",
      "src/rpc/proofstream-service.ts → src/proofstream/append.ts",
      "src/server/app.ts → src/proofstream/bundles.ts",
      "src/rpc/routes.ts → src/proofstream/bundles.ts",
      "src/rpc/bundle-handlers.ts → src/proofstream/bundles.ts",
      "src/http/verify.ts → src/proofstream/bundles.ts",
      "src/rpc/webhook-service.ts → src/webhooks/subscriptions.ts",
      "src/rpc/webhook-service.ts → src/webhooks/deliveries.ts",
      "src/http/webhooks.ts → src/webhooks/subscriptions.ts",
      "src/http/webhooks.ts → src/webhooks/deliveries.ts",
      "src/rpc/anchor-service.ts → src/anchoring/reads.ts",
      "src/rpc/interceptors.ts → src/tenancy/authenticator.ts",
      "src/http/webhooks.ts → src/tenancy/authenticator.ts",
      "src/http/verify.ts → src/tenancy/authenticator.ts",
      "src/http/tiles.ts → src/tenancy/authenticator.ts",
      "src/http/store.ts → src/tenancy/authenticator.ts",
      "src/http/ratelimit.ts → src/tenancy/authenticator.ts",
      "src/http/queue-board.ts → src/tenancy/authenticator.ts",
    ],
  },
  {
    rule: "facade-is-the-door",
    reason: "contract rules call domain functions from internal files (the S3 metadata check, the secret overlap limit)",
    imports: ["src/contract/request-rules.ts → src/webhooks/subscriptions.ts", "src/contract/request-rules.ts → src/connectors/s3.ts"],
  },
  {
    rule: "facade-is-the-door",
    reason: "the dev bootstrap (dev credentials, the Hardhat dev chain) is called from its file by serve and the CLI",
    imports: [
      "src/server/app.ts → src/tenancy/dev-bootstrap.ts",
      "src/server/cluster.ts → src/tenancy/dev-bootstrap.ts",
      "src/cli/target.ts → src/tenancy/dev-bootstrap.ts",
      "src/server/cluster.ts → src/anchoring/devchain.ts",
    ],
  },
];

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
function names(rule: string, entry: string, finding: Finding): boolean {
  if (finding.rule !== rule) return false;
  const [from, to] = entry.split(" → ");
  return finding.import === entry || (rule === "no-cycles" && finding.import === `${to} → ${from}`);
}

describe("architecture: the never-rules of docs/architecture.md", () => {
  it("src/ breaks no rule beyond the known violations, and every known violation still exists", async () => {
    const findings = await findViolations(root, ["src"]);
    const unknown = findings
      .filter((finding) => !KNOWN_VIOLATIONS.some((known) => known.imports.some((entry) => names(known.rule, entry, finding))))
      .map((finding) => `${finding.rule}: ${finding.import}`);
    const fixed = KNOWN_VIOLATIONS.flatMap((known) => known.imports.filter((entry) => !findings.some((finding) => names(known.rule, entry, finding))).map((entry) => `${known.rule}: ${entry}`));
    // breaks: imports that break a never-rule (docs/architecture.md); fixed: remove these from KNOWN_VIOLATIONS.
    expect({ breaks: unknown, fixed }).toEqual({ breaks: [], fixed: [] });
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
