import { spawn, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import net from "node:net";
import path from "node:path";
import { projectRoot } from "../paths.js";

/** Hardhat Network's chain id (devchain/hardhat.config.cjs). */
export const DEV_CHAIN_ID = 31337;

/** A local EVM dev chain (Hardhat Network) on loopback, and the JSON-RPC calls tests and the embedded default use. */
export interface DevChain {
  url: string;
  chainId: number;
  /** Calls a JSON-RPC method (evm_mine, evm_snapshot, evm_revert, evm_setAutomine, hardhat_setBalance, ...). */
  rpc<T = unknown>(method: string, params?: unknown[]): Promise<T>;
  /** Gives an address 1,000 ETH. */
  fund(address: string): Promise<void>;
  mine(blocks?: number): Promise<void>;
  stop(): Promise<void>;
}

/** The Hardhat CLI when the package is installed (a development dependency), else undefined. */
export function hardhatCli(): string | undefined {
  try {
    return path.join(path.dirname(createRequire(import.meta.url).resolve("hardhat/package.json")), "internal/cli/cli.js");
  } catch {
    return undefined;
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Starts `hardhat node` on 127.0.0.1 (a random free port unless given) and resolves once it answers. */
export async function startDevChain(opts: { port?: number; timeoutMs?: number } = {}): Promise<DevChain> {
  const cli = hardhatCli();
  if (!cli) throw new Error("hardhat is not installed");
  const port = opts.port ?? (await freePort());
  const child: ChildProcess = spawn(process.execPath, [cli, "node", "--config", path.join(projectRoot(), "devchain/hardhat.config.cjs"), "--hostname", "127.0.0.1", "--port", String(port)], {
    cwd: path.join(projectRoot(), "devchain"),
    env: { ...process.env, HARDHAT_DISABLE_TELEMETRY_PROMPT: "true", NODE_OPTIONS: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const exited = new Promise<never>((_, reject) => child.once("exit", (code) => reject(new Error(`hardhat node exited (${code}): ${output.slice(-500)}`))));
  exited.catch(() => {});
  await Promise.race([
    exited,
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`hardhat node did not start within ${opts.timeoutMs ?? 60_000} ms`)), opts.timeoutMs ?? 60_000);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes("Started HTTP")) {
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
  // The chain lives no longer than this process, however it ends.
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  child.once("exit", () => process.removeListener("exit", killOnExit));
  const chain = attachDevChain(`http://127.0.0.1:${port}`);
  return {
    ...chain,
    async stop() {
      // Already gone (a signal to the whole process group reaches it too): an exit that
      // happened will not be emitted again.
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await gone;
    },
  };
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
    fund: async (address) => void (await rpc("hardhat_setBalance", [address, "0x3635c9adc5dea00000"])),
    mine: async (blocks = 1) => void (await rpc("hardhat_mine", [`0x${blocks.toString(16)}`])),
    stop: async () => {},
  };
}
