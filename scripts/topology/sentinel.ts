import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import type { TopologyOptions } from "./patroni.js";
import { alive, freePort, killTree, run, sleep, waitGone, type Started, startedOrClosed } from "./process.js";

/**
 * Redis with failover on loopback, from the machine's redis-server: a master,
 * a replica and three Sentinels (`redis-server <conf> --sentinel`, the engine
 * Debian's redis-sentinel package runs), quorum 2, a master declared down
 * after 1 s. Nothing persists to disk; every node is killed with the topology.
 */
export const MASTER_NAME = "attesto";
const DOWN_AFTER_MS = 1_000;

interface Node extends Started {
  port: number;
}

/** What `scripts/topology.ts` keeps in state.json to find the nodes again. */
export interface SentinelState {
  dir: string;
  nodes: Array<{ port: number; pid: number }>;
  sentinels: Array<{ port: number; pid: number }>;
}

export class SentinelTopology {
  readonly #dir: string;
  readonly #detached: boolean;
  /** Data nodes by port: the master and its replica, whichever is which now. */
  readonly #nodes = new Map<number, Node>();
  readonly #sentinels: Node[] = [];

  /** The sentinels' addresses, as ATTESTO_REDIS_SENTINELS takes them. */
  get sentinelList(): string {
    return this.#sentinels.map((s) => `127.0.0.1:${s.port}`).join(",");
  }

  private constructor(opts: TopologyOptions) {
    this.#detached = opts.detached ?? false;
    if (opts.dir) mkdirSync(opts.dir, { recursive: true });
    this.#dir = opts.dir ?? mkdtempSync(path.join(tmpdir(), "attesto-sentinel-"));
    if (this.#detached) mkdirSync(path.join(this.#dir, "logs"), { recursive: true });
  }

  /** A handle on nodes started earlier (by another process), from their state. */
  static fromState(state: SentinelState): SentinelTopology {
    const t = new SentinelTopology({ dir: state.dir, detached: true });
    for (const n of state.nodes) t.#nodes.set(n.port, { ...n });
    t.#sentinels.push(...state.sentinels.map((s) => ({ ...s })));
    return t;
  }

  state(): SentinelState {
    return {
      dir: this.#dir,
      nodes: [...this.#nodes.values()].map(({ port, pid }) => ({ port, pid })),
      sentinels: this.#sentinels.map(({ port, pid }) => ({ port, pid })),
    };
  }

  /** Every process with whether it runs: the data nodes, then the sentinels. */
  processes(): Array<{ name: string; pid: number; alive: boolean }> {
    return [
      ...[...this.#nodes.values()].map((n) => ({ name: `redis ${n.port}`, pid: n.pid, alive: alive(n.pid) })),
      ...this.#sentinels.map((s) => ({ name: `sentinel ${s.port}`, pid: s.pid, alive: alive(s.pid) })),
    ];
  }

  #log(name: string): { log?: string } {
    return this.#detached ? { log: path.join(this.#dir, "logs", `${name}.log`) } : {};
  }

  static async create(opts: TopologyOptions = {}): Promise<SentinelTopology> {
    const t = new SentinelTopology(opts);
    // Nothing half-started outlives a failed start; a detached one keeps its logs to read.
    return startedOrClosed(t, () => t.#start(), t.#detached);
  }

  async #start(): Promise<void> {
    const master = await this.#startNode(await freePort());
    await this.#startNode(await freePort(), master);
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const conf = path.join(this.#dir, `sentinel-${port}.conf`);
      // Sentinel rewrites its file (the replicas and the other sentinels it learns): one writable file each.
      writeFileSync(
        conf,
        [
          `port ${port}`,
          "bind 127.0.0.1",
          `dir ${this.#dir}`,
          `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${master} 2`,
          `sentinel down-after-milliseconds ${MASTER_NAME} ${DOWN_AFTER_MS}`,
          `sentinel failover-timeout ${MASTER_NAME} 5000`,
          `sentinel parallel-syncs ${MASTER_NAME} 1`,
          "",
        ].join("\n"),
      );
      this.#sentinels.push({ port, ...run("redis-server", [conf, "--sentinel"], this.#log(`sentinel-${port}`)) });
    }
    await this.waitForReplica();
  }

  /** The master's port as the sentinels name it (a majority agreeing). */
  async masterPort(): Promise<number | undefined> {
    const votes = new Map<number, number>();
    for (const s of this.#sentinels) {
      const addr = await this.#ask<[string, string] | null>(s.port, "SENTINEL", "get-master-addr-by-name", MASTER_NAME).catch(() => null);
      if (addr) votes.set(Number(addr[1]), (votes.get(Number(addr[1])) ?? 0) + 1);
    }
    return [...votes].find(([, n]) => n >= 2)?.[0];
  }

  /**
   * Until the master has its replica attached and in sync, and a majority of
   * the sentinels list that replica as healthy: the next failover has
   * somewhere to go.
   */
  async waitForReplica(ms = 60_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const master = await this.masterPort();
      if (master !== undefined) {
        const info = await this.#ask<string>(master, "INFO", "replication").catch(() => "");
        const online = /slave0:.*state=online/.test(info);
        let known = 0;
        for (const s of this.#sentinels) {
          const replicas = await this.#ask<string[][]>(s.port, "SENTINEL", "replicas", MASTER_NAME).catch(() => []);
          if (replicas.some((r) => (r[r.indexOf("flags") + 1] ?? "") === "slave" && r[r.indexOf("master-link-status") + 1] === "ok")) known++;
        }
        if (online && known >= 2) return;
      }
      await sleep(200);
    }
    throw new Error(`the Redis replica did not come back in sync within ${ms} ms`);
  }

  /** kill -9 of the master; resolves once the sentinels name another one, with the old and new ports and the time it took. */
  async failover(ms = 30_000): Promise<{ from: number; to: number; ms: number }> {
    const from = await this.masterPort();
    if (from === undefined) throw new Error("no master to kill");
    const node = this.#nodes.get(from)!;
    const exited = node.child ? new Promise((resolve) => node.child!.once("exit", resolve)) : undefined;
    const started = performance.now();
    process.kill(node.pid, "SIGKILL");
    await (exited ?? waitGone(node.pid));
    this.#nodes.delete(from);
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const to = await this.masterPort();
      if (to !== undefined && to !== from) {
        const role = await this.#ask<unknown[]>(to, "ROLE").catch(() => []);
        if (role[0] === "master") return { from, to, ms: performance.now() - started };
      }
      await sleep(100);
    }
    throw new Error(`the sentinels did not promote a replica within ${ms} ms`);
  }

  /** Keys on the current master (this Redis is the topology's alone: any key there is the server's). */
  async masterKeys(): Promise<number> {
    const master = await this.masterPort();
    return master === undefined ? 0 : Number(await this.#ask<number>(master, "DBSIZE"));
  }

  /** Brings a killed node back, empty, as a replica of the current master (as an operator would). */
  async rejoin(port: number): Promise<void> {
    const master = await this.masterPort();
    if (master === undefined) throw new Error("no master to rejoin");
    await this.#startNode(port, master);
  }

  async close(opts: { keepDir?: boolean } = {}): Promise<void> {
    const all = [...this.#nodes.values(), ...this.#sentinels];
    for (const n of all) killTree(n.pid);
    for (const n of all) await (n.child && n.child.exitCode === null && n.child.signalCode === null ? new Promise((resolve) => n.child!.once("exit", resolve)) : waitGone(n.pid));
    if (!opts.keepDir) rmSync(this.#dir, { recursive: true, force: true });
  }

  async #startNode(port: number, replicaOf?: number): Promise<number> {
    const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", this.#dir, "--dbfilename", `dump-${port}.rdb`];
    if (replicaOf !== undefined) args.push("--replicaof", "127.0.0.1", String(replicaOf));
    this.#nodes.set(port, { port, ...run("redis-server", args, this.#log(`redis-${port}`)) });
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if ((await this.#ask<string>(port, "PING").catch(() => "")) === "PONG") return port;
      await sleep(50);
    }
    throw new Error(`redis-server on ${port} did not answer`);
  }

  /** One command to one node or sentinel, on a connection of its own (no retries: a dead node answers an error). */
  async #ask<T>(port: number, ...command: [string, ...string[]]): Promise<T> {
    const conn = new Redis({ host: "127.0.0.1", port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500, enableOfflineQueue: false });
    conn.on("error", () => {});
    try {
      await conn.connect();
      return (await conn.call(...command)) as T;
    } finally {
      conn.disconnect();
    }
  }
}
