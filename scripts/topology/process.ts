import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync } from "node:fs";

/**
 * Process plumbing shared by the topology's parts. Two ways to run a part:
 * attached (the reliability tests, which kill and restart nodes and end
 * everything when they close) or detached (`scripts/topology.sh up`: each
 * process in a process group of its own, its output in a log file, so it
 * outlives the command that started it and `down` can end it and its
 * children by group).
 */
export interface RunOptions {
  /** A log file for stdout and stderr; when set the process is detached. */
  log?: string;
  uid?: number;
  gid?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface Started {
  pid: number;
  /** Only for attached processes: the tests wait for its exit. */
  child?: ChildProcess;
}

export function run(cmd: string, args: string[], opts: RunOptions = {}): Started {
  const { log, ...rest } = opts;
  if (!log) {
    const child = spawn(cmd, args, { stdio: "ignore", ...rest });
    return { pid: child.pid!, child };
  }
  const fd = openSync(log, "a");
  try {
    const child = spawn(cmd, args, { stdio: ["ignore", fd, fd], detached: true, ...rest });
    child.unref();
    if (child.pid === undefined) throw new Error(`${cmd} did not start (see ${log})`);
    return { pid: child.pid };
  } finally {
    closeSync(fd);
  }
}

export function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie (exited, not yet reaped by its parent) answers signal 0 but is gone.
  try {
    return !/^State:\s+Z/m.test(execFileSync("cat", [`/proc/${pid}/status`]).toString());
  } catch {
    return false;
  }
}

/** Every descendant of a process (pgrep -P, recursively). */
export function childrenOf(pid: number): number[] {
  try {
    const out = execFileSync("pgrep", ["-P", String(pid)])
      .toString()
      .split("\n")
      .filter(Boolean)
      .map(Number);
    return out.flatMap((c) => [c, ...childrenOf(c)]);
  } catch {
    return [];
  }
}

/** kill -9 of a process, everything under it, and (when it leads one) its process group. */
export function killTree(pid: number | undefined): void {
  if (!pid) return;
  const all = [pid, ...childrenOf(pid)];
  for (const p of all) {
    try {
      process.kill(p, "SIGKILL");
    } catch {
      // already gone
    }
  }
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // not a group leader, or the group is empty
  }
}

/** The server's own (src/infra/redis.ts): a port that was free a moment ago on 127.0.0.1. */
export { freePort } from "../../src/infra/redis.js";

/**
 * Runs a topology's start; when it fails, closes what it had started
 * (keeping a detached one's directory and logs to read) and throws.
 */
export async function startedOrClosed<T extends { close(opts: { keepDir?: boolean }): Promise<void> }>(topology: T, start: () => Promise<void>, keepDir: boolean): Promise<T> {
  try {
    await start();
  } catch (err) {
    await topology.close({ keepDir });
    throw err;
  }
  return topology;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitUntil(what: string, ok: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await ok().catch(() => false)) return;
    await sleep(200);
  }
  throw new Error(`${what}: not within ${ms} ms`);
}

/** Until a pid is gone (a detached process is no child of ours: no exit event to wait for). */
export async function waitGone(pid: number, ms = 10_000): Promise<void> {
  await waitUntil(`pid ${pid} to exit`, async () => !alive(pid), ms);
}
