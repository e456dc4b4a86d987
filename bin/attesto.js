#!/usr/bin/env node
// Runs the compiled CLI (`npm run build` writes dist/), after bin/preflight.js's checks.
import { fileURLToPath } from "node:url";
import { buildProblem, nodeVersionProblem } from "./preflight.js";

const main = new URL("../dist/src/cli/main.js", import.meta.url);
const problem = nodeVersionProblem(process.version) ?? buildProblem(fileURLToPath(main));
if (problem) {
  process.stderr.write(`${problem}\n`);
  process.exit(1);
}
await import(main.href);
