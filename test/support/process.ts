import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import readline from "node:readline";

export const ROOT = path.resolve(import.meta.dirname, "../..");
export const CLI = ["--import", "tsx", path.join(ROOT, "src/cli/main.ts")];

export interface ServeInfo {
  url: string;
  role: string;
  database: string;
  workers?: number;
  devTenant?: { tenantId: string; apiKey: string; adminToken: string };
}

/** Starts `attesto --json serve …` as a child process and waits for where it listens. */
export async function spawnServe(env: NodeJS.ProcessEnv, args: string[] = [], opts: { ownProcessGroup?: boolean } = {}): Promise<{ child: ChildProcess; info: ServeInfo; stderr: () => string }> {
  // ownProcessGroup: a process group of its own, which a test can signal as a terminal's Ctrl-C does.
  const child = spawn(process.execPath, [...CLI, "--json", "serve", "--port", "0", ...args], { env, cwd: ROOT, detached: opts.ownProcessGroup ?? false });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  let out = "";
  for await (const line of readline.createInterface({ input: child.stdout! })) {
    out += line;
    try {
      // stderr stays readable: a test names the server's last words when an exit code surprises it.
      return { child, info: JSON.parse(out) as ServeInfo, stderr: () => stderr };
    } catch {
      // the JSON spans several lines
    }
  }
  throw new Error(`serve exited before printing where it listens: ${stderr}`);
}

/** Sends SIGTERM and waits for the exit code. */
export function stopProcess(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  child.kill("SIGTERM");
  return exited;
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI from source as a child process and collects what it printed. */
export function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...CLI, ...args], { env, cwd: ROOT });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.once("error", reject);
    child.once("exit", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/**
 * Runs the CLI on a pseudo-terminal, as a person's shell would (util-linux
 * `script`), so it draws what it draws only on a TTY. Both streams arrive
 * mixed in `out`, as on a terminal.
 */
export function runCliOnTerminal(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  const command = [process.execPath, ...CLI, ...args].map((a) => `'${a}'`).join(" ");
  return new Promise((resolve, reject) => {
    const child = spawn("script", ["-qec", command, "/dev/null"], { env, cwd: ROOT });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.once("error", reject);
    child.once("exit", (code) => resolve({ code: code ?? -1, out }));
  });
}
