import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { packageVersion } from "../paths.js";

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "../..");
const main = path.join(root, "src/cli/main.ts");
/** A module hook that names on stderr every module of src/ the process loads. */
const LOAD_LOG = `data:text/javascript,${encodeURIComponent(
  'import { registerHooks } from "node:module"; registerHooks({ load(url, context, next) { if (url.includes("/src/")) process.stderr.write(`loaded ${url}\\n`); return next(url, context); } });',
)}`;

async function loadedBy(args: string[]): Promise<{ stdout: string; loaded: string[] }> {
  const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", "--import", LOAD_LOG, main, ...args], { cwd: root });
  const loaded = [...stderr.matchAll(/^loaded (\S+)$/gm)].map((m) => path.relative(root, fileURLToPath(m[1]!)));
  return { stdout, loaded: loaded.sort() };
}

describe("the attesto command's start-up", () => {
  it("--version loads commander and the version alone, no command group (issue 26, defect 5: it took 2.4 s of CPU loading them all)", async () => {
    const { stdout, loaded } = await loadedBy(["--version"]);
    expect(stdout.trim()).toBe(packageVersion());
    expect(loaded).toEqual(["src/cli/invoked-command.ts", "src/cli/main.ts", "src/paths.ts"]);
    // The hook sees what a command line that runs a command loads: verify's own command, not the server's
    // groups nor the context they share (RPC clients, config, logger: 400 ms of a new process's start).
    const verify = await loadedBy(["verify", "--help"]);
    expect(verify.loaded).toEqual(["src/cli/commands/verify.ts", "src/cli/invoked-command.ts", "src/cli/main.ts", "src/cli/output.ts", "src/paths.ts", "src/verify/report-text.ts"]);
  }, 60_000);
});
