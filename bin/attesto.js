#!/usr/bin/env node
// Runs the CLI after bin/preflight.js's checks: the compiled one (`npm run build` writes dist/), else
// the TypeScript sources through Node's own transform (bin/source-hooks.js), which is what a
// production install (`npm ci --omit=dev`, no compiler) runs. On a Node older than 24 it runs itself
// again on the Node 24 the project depends on (node_modules/node), when that is installed.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { buildProblem, nodeVersionProblem } from "./preflight.js";

const compiled = new URL("../dist/src/cli/main.js", import.meta.url);
const source = new URL("../src/cli/main.ts", import.meta.url);
const projectNode = fileURLToPath(new URL("../node_modules/node/bin/node", import.meta.url));

const tooOld = nodeVersionProblem(process.version);
if (tooOld && existsSync(projectNode) && process.env.ATTESTO_REEXEC !== projectNode) {
  // The operator's signals (a supervisor's SIGTERM to this pid) reach the server; stopping twice is harmless.
  const child = spawn(projectNode, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: "inherit", env: { ...process.env, ATTESTO_REEXEC: projectNode } });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal));
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 128 + ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 }[signal] ?? 0) : 1)));
} else {
  const fromSource = !existsSync(fileURLToPath(compiled)) && existsSync(fileURLToPath(source));
  const problem = tooOld ?? (fromSource ? undefined : buildProblem(fileURLToPath(compiled)));
  if (problem) {
    process.stderr.write(`${problem}\n`);
    process.exit(1);
  }
  if (fromSource) await import("./source-hooks.js");
  await import((fromSource ? source : compiled).href);
}
