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
export async function spawnServe(env: NodeJS.ProcessEnv, args: string[] = []): Promise<{ child: ChildProcess; info: ServeInfo }> {
  const child = spawn(process.execPath, [...CLI, "--json", "serve", "--port", "0", ...args], { env, cwd: ROOT });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  let out = "";
  for await (const line of readline.createInterface({ input: child.stdout! })) {
    out += line;
    try {
      return { child, info: JSON.parse(out) as ServeInfo };
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
