import { spawn } from "node:child_process";

/**
 * A child process of ours never outlives this process, whatever order a
 * closed terminal's processes die in (SIGHUP to the group, SIGKILL, a
 * crash), none of which runs an `exit` handler: a watchdog in a session of
 * its own (so the terminal's hangup does not reach it) polls this process's
 * pid each second and, once it is gone, sends the child `signal`, only while
 * that pid still names `command` (a pid reused since is left alone). A clean
 * stop leaves the watchdog nothing to do: it exits with its owner.
 */
export function stopWithOwner(childPid: number, command: string, signal: "INT" | "TERM"): void {
  if (process.platform === "win32") return;
  const script = [
    `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done`,
    `if grep -q ${command} /proc/${childPid}/cmdline 2>/dev/null || ps -p ${childPid} -o comm= 2>/dev/null | grep -q ${command}; then kill -${signal} ${childPid} 2>/dev/null; fi`,
  ].join("\n");
  const watchdog = spawn("/bin/sh", ["-c", script], { detached: true, stdio: "ignore" });
  watchdog.on("error", () => {});
  watchdog.unref();
}
