import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import type { Row } from "./support.js";

/**
 * The reliability run's shared files: the table each check adds its rows to,
 * the secrets the suite used and the output it saw (logs, error answers).
 * At the end the secrets check scans that output for every secret, and the
 * table is printed.
 */
export default function setup(project: TestProject) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "attesto-reliability-"));
  const table = path.join(dir, "table.jsonl");
  const secrets = path.join(dir, "secrets.jsonl");
  const outputDir = mkdtempSync(path.join(dir, "output-"));
  writeFileSync(table, "");
  writeFileSync(secrets, "");
  project.provide("reliabilityTable", table);
  project.provide("reliabilitySecrets", secrets);
  project.provide("reliabilityOutputDir", outputDir);
  return () => {
    const rows: Row[] = readFileSync(table, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    rows.push(scanForSecrets(secrets, outputDir));
    printTable(rows);
    if (rows.some((r) => !r.ok)) process.exitCode = 1;
  };
}

function scanForSecrets(secretsFile: string, outputDir: string): Row {
  const secrets = new Map<string, string>();
  for (const line of readFileSync(secretsFile, "utf8").split("\n").filter(Boolean)) {
    const { kind, value } = JSON.parse(line) as { kind: string; value: string };
    if (value.length >= 12) secrets.set(value, kind);
  }
  let bytes = 0;
  let lines = 0;
  const found: string[] = [];
  for (const file of readdirSync(outputDir)) {
    const text = readFileSync(path.join(outputDir, file), "utf8");
    bytes += text.length;
    lines += text.split("\n").length;
    for (const [value, kind] of secrets) if (text.includes(value)) found.push(`${kind} in ${file}`);
  }
  return {
    section: "secrets",
    check: "every log line and error answer scanned for every key, key hash, token, master key, signing secret and payload marker used",
    measured: `${found.length} found in ${lines} lines (${(bytes / 1e6).toFixed(1)} MB), ${secrets.size} secrets${found.length ? `: ${[...new Set(found)].slice(0, 5).join("; ")}` : ""}`,
    ok: found.length === 0 && secrets.size > 0 && lines > 0,
  };
}

function printTable(rows: Row[]) {
  const header = ["section", "check", "measured", "result"];
  const cells = rows.map((r) => [r.section, r.check, r.measured, r.ok ? "ok" : "FAILED"]);
  const widths = header.map((h, i) => Math.min(i === 1 ? 70 : 90, Math.max(h.length, ...cells.map((c) => c[i]!.length))));
  const fmt = (c: string[]) => "| " + c.map((v, i) => v.padEnd(widths[i]!)).join(" | ") + " |";
  const out = [fmt(header), "|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|", ...cells.map(fmt)].join("\n");
  process.stdout.write(`\nReliability suite${process.env.ATTESTO_RELIABILITY_LONG === "1" ? " (--long)" : ""}\n${out}\n`);
}

declare module "vitest" {
  export interface ProvidedContext {
    reliabilityTable: string;
    reliabilitySecrets: string;
    reliabilityOutputDir: string;
  }
}
