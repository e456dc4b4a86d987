import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { CONFIG_VARIABLES } from "../src/config.js";
import { projectRoot } from "../src/paths.js";

const read = (file: string) => readFile(path.join(projectRoot(), file), "utf8");

describe("the documentation", () => {
  it("documents every configuration variable in docs/configuration.md", async () => {
    const reference = await read("docs/configuration.md");
    // A row names a variable in full, or a family by its suffixes (`ATTESTO_X_MS`, `_Y_MS`).
    const named = new Set<string>();
    for (const row of reference.split("\n").filter((line) => line.startsWith("| `"))) {
      const cell = row.split("|")[1]!;
      const names = [...cell.matchAll(/`([A-Z0-9_]+)`/g)].map((m) => m[1]!);
      const full = names.find((n) => !n.startsWith("_"));
      for (const n of names) {
        if (!n.startsWith("_")) named.add(n);
        // `_SUFFIX` after a full name: the full name's leading segments followed by the suffix.
        else if (full) full.split("_").forEach((_, k, parts) => named.add(parts.slice(0, k + 1).join("_") + n));
      }
    }
    expect(CONFIG_VARIABLES.filter((v) => !named.has(v))).toEqual([]);
    expect(CONFIG_VARIABLES.length).toBeGreaterThan(60);
  });

  it("links only to files inside the repository that exist, and the pages it names exist", async () => {
    const root = projectRoot();
    const pages = ["README.md", ...(await readdir(path.join(root, "docs"))).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];
    const files = new Set(pages);
    for (const page of pages) {
      const text = await read(page);
      for (const [, target] of text.matchAll(/\]\(([^)\s#]+)[^)]*\)/g)) {
        if (/^https?:/.test(target!)) continue;
        const resolved = path.resolve(root, path.dirname(page), target!);
        expect(resolved.startsWith(root + path.sep), `${page} links outside the repository: ${target}`).toBe(true);
        await expect(readFile(resolved), `${page} links to ${target}`).resolves.toBeDefined();
      }
      for (const [, target] of text.matchAll(/`(docs\/[a-z0-9-]+\.md)`/g)) expect(files.has(target!), `${page} names ${target}`).toBe(true);
    }
    for (const audience of ["docs/tenant-developer.md", "docs/operator.md", "docs/verifier.md", "docs/configuration.md", "docs/architecture.md"]) expect(files.has(audience), audience).toBe(true);
  });
});
