import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import net from "node:net";
import path from "node:path";
import { stopWithOwner } from "../infra/owner-watchdog.js";

/** A persistent dev chain's genesis time (2026-01-01T00:00:00Z): the same on every start, see launch. */
const GENESIS_TIMESTAMP = 1_767_225_600;

/** The dev chain's chain id (anvil's default, and Hardhat's before it). */
export const DEV_CHAIN_ID = 31337;

/** How often a persistent dev chain writes its state (besides on stop): what a kill -9 can lose at most. */
const STATE_INTERVAL_S = 1;

/** A local EVM dev chain (anvil) on loopback, and the JSON-RPC calls tests and the embedded default use. */
export interface DevChain {
  url: string;
  chainId: number;
  /** The file the chain keeps its state in across restarts; undefined for a chain that lives in memory only. */
  stateFile?: string;
  /** Calls a JSON-RPC method (evm_mine, evm_snapshot, evm_revert, evm_setAutomine, anvil_setBalance, ...). */
  rpc<T = unknown>(method: string, params?: unknown[]): Promise<T>;
  /** Gives an address 1,000 ETH. */
  fund(address: string): Promise<void>;
  mine(blocks?: number): Promise<void>;
  stop(): Promise<void>;
}

/** The platform package that ships the anvil binary (what `@foundry-rs/anvil`'s own launcher picks). */
const ANVIL_PACKAGES: Record<string, string | undefined> = {
  "linux-x64": "@foundry-rs/anvil-linux-amd64",
  "linux-arm64": "@foundry-rs/anvil-linux-arm64",
  "darwin-x64": "@foundry-rs/anvil-darwin-amd64",
  "darwin-arm64": "@foundry-rs/anvil-darwin-arm64",
  "win32-x64": "@foundry-rs/anvil-win32-amd64",
};

/** The anvil binary when `@foundry-rs/anvil` is installed (a development dependency) for this platform, else undefined. */
export function anvilBinary(): string | undefined {
  const pkg = ANVIL_PACKAGES[`${process.platform}-${process.arch}`];
  if (!pkg) return undefined;
  try {
    const bin = path.join(path.dirname(createRequire(import.meta.url).resolve(`${pkg}/package.json`)), "bin", process.platform === "win32" ? "anvil.exe" : "anvil");
    return existsSync(bin) ? bin : undefined;
  } catch {
    return undefined;
  }
}

async function freePort(wanted = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(wanted, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * An anvil left running on the same state file by a process that died
 * without stopping it would keep writing its (older) state over the new
 * chain's: it is stopped first (SIGTERM, so it writes its state once more).
 * Only a process whose command line names anvil and this state file is
 * touched.
 */
async function stopLeftover(pidFile: string, stateFile: string): Promise<void> {
  let pid: number;
  try {
    pid = Number((await readFile(pidFile, "utf8")).trim());
  } catch {
    return;
  }
  if (!Number.isSafeInteger(pid) || pid <= 0 || !alive(pid)) return;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
  if (!cmdline.includes("anvil") || !cmdline.includes(stateFile)) return;
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + 10_000;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (alive(pid)) process.kill(pid, "SIGKILL");
}

/**
 * Starts anvil on 127.0.0.1 (a random free port unless given) and resolves
 * once it answers. Its `finalized` tag follows the head (no epochs), as on
 * the Hardhat Network this replaced. With `stateFile`, the chain keeps its
 * blocks, transactions and balances in that file: loaded on start, written
 * every second and on stop, so anchor receipts outlive a restart; its URL
 * is kept beside it (`rpc-url`) and its port reused while free. A state
 * file anvil cannot load is moved aside (`.unreadable-<time>`) and a new
 * chain starts; the anchoring module's chain check then re-anchors what the
 * lost chain held.
 */
export async function startDevChain(opts: { port?: number; timeoutMs?: number; stateFile?: string } = {}): Promise<DevChain> {
  const bin = anvilBinary();
  if (!bin) throw new Error("anvil is not installed (npm install @foundry-rs/anvil)");
  const stateFile = opts.stateFile && path.resolve(opts.stateFile);
  const pidFile = stateFile && `${stateFile}.pid`;
  if (stateFile) {
    await mkdir(path.dirname(stateFile), { recursive: true });
    await stopLeftover(pidFile!, stateFile);
  }
  // A persistent chain keeps its port too when it is free, so a verifier's `--rpc` URL outlives a restart.
  const urlFile = stateFile && path.join(path.dirname(stateFile), "rpc-url");
  if (stateFile && opts.port === undefined) {
    const previous = Number(/:(\d+)\s*$/.exec(await readFile(urlFile!, "utf8").catch(() => ""))?.[1]);
    opts = { ...opts, port: await freePort(Number.isInteger(previous) && previous > 0 ? previous : 0).catch(() => freePort()) };
  }
  try {
    const chain = await launch(bin, opts, stateFile, pidFile);
    if (urlFile) await writeFile(urlFile, `${chain.url}\n`);
    return chain;
  } catch (err) {
    // A state file cut short (a crash while it was written) stops anvil at start: keep it aside, start afresh.
    if (!stateFile || !(await stat(stateFile).catch(() => undefined)) || !/state|json|deserial|parse|EOF/i.test((err as Error).message)) throw err;
    await rename(stateFile, `${stateFile}.unreadable-${Date.now()}`);
    const chain = await launch(bin, opts, stateFile, pidFile);
    if (urlFile) await writeFile(urlFile, `${chain.url}\n`);
    return chain;
  }
}

async function launch(bin: string, opts: { port?: number; timeoutMs?: number }, stateFile: string | undefined, pidFile: string | undefined): Promise<DevChain> {
  const port = opts.port ?? (await freePort());
  const args = ["--host", "127.0.0.1", "--port", String(port), "--chain-id", String(DEV_CHAIN_ID), "--slots-in-an-epoch", "0"];
  // A fixed genesis: anvil makes a new genesis block at every start and then loads the saved blocks
  // beside it, and which of two block-0s the reloaded chain answers with follows hash-map order. With
  // the same timestamp both are the same block.
  if (stateFile) args.push("--state", stateFile, "--state-interval", String(STATE_INTERVAL_S), "--timestamp", String(GENESIS_TIMESTAMP));
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const child: ChildProcess = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
  // Watched at once, in the same tick as the spawn, and recorded next, not once it answers: a process
  // killed while its chain starts leaves none that outlives it, and a recorded chain is always a
  // watched one (the watchdog went first: a kill between the record and the watch left one behind).
  if (child.pid !== undefined) stopWithOwner(child.pid, "anvil", "TERM");
  if (pidFile && child.pid !== undefined) await writeFile(pidFile, `${child.pid}\n`);
  let output = "";
  const exited = new Promise<never>((_, reject) => child.once("exit", (code) => reject(new Error(`anvil exited (${code}): ${output.slice(-500)}`))));
  exited.catch(() => {});
  await Promise.race([
    exited,
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`anvil did not start within ${timeoutMs} ms`)), timeoutMs);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes(`Listening on 127.0.0.1:${port}`)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on("data", onData);
      child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    }),
  ]).catch((err) => {
    child.kill("SIGKILL");
    throw err;
  });
  // Keep draining its output (it logs every call) so the pipe never fills.
  child.stdout!.resume();
  child.stderr!.resume();
  // The chain lives no longer than this process, however it ends: this on a normal exit, the watchdog
  // (stopWithOwner) after a kill. SIGTERM: anvil writes its state before it exits.
  const stopOnExit = () => child.kill("SIGTERM");
  process.once("exit", stopOnExit);
  child.once("exit", () => process.removeListener("exit", stopOnExit));
  const chain = attachDevChain(`http://127.0.0.1:${port}`);
  // The fixed genesis time also set the chain's clock back to it: its new blocks carry the real time.
  if (stateFile) await chain.rpc("evm_setTime", [Math.floor(Date.now() / 1000)]);
  return {
    ...chain,
    stateFile,
    async stop() {
      // Already gone (a signal to the whole process group reaches it too): an exit that
      // happened will not be emitted again.
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((resolve) => child.once("exit", resolve));
      if (stateFile) await untilWritten(chain, stateFile);
      child.kill("SIGTERM");
      await gone;
      if (pidFile) await rm(pidFile, { force: true });
    },
  };
}

/**
 * Waits (at most a few periodic writes) until the state file holds the
 * chain's head. anvil writes its state again as it exits, but a periodic
 * write still in flight then (its snapshot taken earlier, slow on a loaded
 * machine) can land after that one and take the newest blocks back out of
 * the file. Once one periodic write holds the head, every later write holds
 * it too (they run one at a time), so the exit cannot lose it.
 */
async function untilWritten(chain: DevChain, stateFile: string): Promise<void> {
  const head = await chain.rpc<string>("eth_blockNumber").then(
    (n) => Number(n),
    () => undefined,
  );
  if (head === undefined) return;
  const deadline = Date.now() + (STATE_INTERVAL_S * 1000 + 500) * 4;
  while (Date.now() < deadline) {
    const written = await readFile(stateFile, "utf8").then(
      (text) => Number((JSON.parse(text) as { best_block_number?: unknown }).best_block_number),
      () => undefined, // not written yet, or caught mid-write
    );
    if (written !== undefined && written >= head) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A dev chain another process started (the primary of `serve --workers N`
 * starts one for all its workers): its JSON-RPC calls; stopping it is left
 * to that process.
 */
export function attachDevChain(url: string): DevChain {
  let id = 0;
  const rpc = async <T>(method: string, params: unknown[] = []): Promise<T> => {
    const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: ++id, method, params }) });
    const body = (await res.json()) as { result?: T; error?: { message: string } };
    if (body.error) throw new Error(`${method}: ${body.error.message}`);
    return body.result as T;
  };
  return {
    url,
    chainId: DEV_CHAIN_ID,
    rpc,
    fund: async (address) => void (await rpc("anvil_setBalance", [address, "0x3635c9adc5dea00000"])),
    mine: async (blocks = 1) => void (await rpc("anvil_mine", [`0x${blocks.toString(16)}`])),
    stop: async () => {},
  };
}
