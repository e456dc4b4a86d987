import { execFileSync, spawn } from "node:child_process";
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { alive, childrenOf, freePort, killTree, run, sleep, waitGone, waitUntil, type Started, startedOrClosed } from "./process.js";

/**
 * PostgreSQL with failover on loopback, from Debian's packages: one etcd
 * (etcd-server), two PostgreSQL nodes run by Patroni (patroni, on the
 * machine's PostgreSQL binaries) with a synchronous standby
 * (`synchronous_mode`: a commit is acknowledged once the standby has it, so
 * an acknowledged append survives the primary's loss), and HAProxy in front
 * sending connections to whichever node Patroni's REST API calls the primary.
 * The leader key lives 6 s: a lost primary is replaced within about that.
 */
const TTL_S = 6;

interface PgNode {
  name: string;
  pgPort: number;
  restPort: number;
  dataDir: string;
  config: string;
  patroni?: Started;
}

/** What `scripts/topology.ts` keeps in state.json to find the pair again. */
export interface PatroniState {
  dir: string;
  etcd: { pid: number; clientPort: number; peerPort: number };
  nodes: Array<{ name: string; pgPort: number; restPort: number; dataDir: string; config: string; pid?: number }>;
  haproxy: { pid: number; port: number; config: string };
}

export interface TopologyOptions {
  /** Where configs and data go (created); default a fresh temporary directory, removed by close(). */
  dir?: string;
  /** Processes in groups of their own with their output in <dir>/logs, outliving this process (the CLI). */
  detached?: boolean;
}

const pgBinDir = () => {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root) ? execFileSync("ls", [root]).toString().split("\n").filter(Boolean) : [];
  const newest = versions.sort((a, b) => Number(a) - Number(b)).at(-1);
  if (!newest) throw new Error("no PostgreSQL binaries under /usr/lib/postgresql");
  return path.join(root, newest, "bin");
};

/** PostgreSQL refuses to run as root: as root the nodes run as the postgres user. */
const runAs = () => {
  if (process.getuid?.() !== 0) return {};
  return { uid: Number(execFileSync("id", ["-u", "postgres"]).toString()), gid: Number(execFileSync("id", ["-g", "postgres"]).toString()) };
};

export class PatroniTopology {
  readonly #dir: string;
  readonly #detached: boolean;
  readonly #nodes: PgNode[] = [];
  #etcd?: Started;
  #etcdPorts = { clientPort: 0, peerPort: 0 };
  #haproxy?: Started;
  #haproxyPort = 0;
  #haproxyConfig = "";

  private constructor(opts: TopologyOptions) {
    this.#detached = opts.detached ?? false;
    if (opts.dir) mkdirSync(opts.dir, { recursive: true });
    this.#dir = opts.dir ?? mkdtempSync(path.join(tmpdir(), "attesto-patroni-"));
    if (this.#detached) mkdirSync(path.join(this.#dir, "logs"), { recursive: true });
  }

  /** A handle on a pair started earlier (by another process), from its state. */
  static fromState(state: PatroniState): PatroniTopology {
    const t = new PatroniTopology({ dir: state.dir, detached: true });
    t.#etcd = { pid: state.etcd.pid };
    t.#etcdPorts = { clientPort: state.etcd.clientPort, peerPort: state.etcd.peerPort };
    t.#haproxy = { pid: state.haproxy.pid };
    t.#haproxyPort = state.haproxy.port;
    t.#haproxyConfig = state.haproxy.config;
    for (const n of state.nodes) t.#nodes.push({ ...n, patroni: n.pid ? { pid: n.pid } : undefined });
    return t;
  }

  state(): PatroniState {
    return {
      dir: this.#dir,
      etcd: { pid: this.#etcd?.pid ?? 0, ...this.#etcdPorts },
      nodes: this.#nodes.map(({ patroni, ...n }) => ({ ...n, pid: patroni?.pid })),
      haproxy: { pid: this.#haproxy?.pid ?? 0, port: this.#haproxyPort, config: this.#haproxyConfig },
    };
  }

  /** Every process of the pair with whether it runs: etcd, each Patroni (and its PostgreSQL), HAProxy. */
  processes(): Array<{ name: string; pid: number; alive: boolean }> {
    const list = [
      { name: "etcd", pid: this.#etcd?.pid ?? 0 },
      ...this.#nodes.map((n) => ({ name: `patroni ${n.name}`, pid: n.patroni?.pid ?? 0 })),
      { name: "haproxy (postgres)", pid: this.#haproxy?.pid ?? 0 },
    ];
    for (const n of this.#nodes) list.push({ name: `postgres ${n.name}`, pid: postmasterOf(n) ?? 0 });
    return list.map((p) => ({ ...p, alive: alive(p.pid) }));
  }

  /** The database through HAProxy without its password, for printing. */
  get displayUrl(): string {
    return `postgres://postgres@127.0.0.1:${this.#haproxyPort}/postgres`;
  }

  #log(name: string): { log?: string } {
    return this.#detached ? { log: path.join(this.#dir, "logs", `${name}.log`) } : {};
  }

  /** The database through HAProxy, as DATABASE_URL takes it. */
  get url(): string {
    return `postgres://postgres:postgres@127.0.0.1:${this.#haproxyPort}/postgres`;
  }

  static async create(opts: TopologyOptions = {}): Promise<PatroniTopology> {
    const t = new PatroniTopology(opts);
    // Nothing half-started outlives a failed start; a detached one keeps its logs to read.
    return startedOrClosed(t, () => t.#start(), t.#detached);
  }

  async #start(): Promise<void> {
    const user = runAs();
    if (user.uid !== undefined) {
      chownSync(this.#dir, user.uid, user.gid!);
      if (this.#detached) chownSync(path.join(this.#dir, "logs"), user.uid, user.gid!);
    }
    const [etcdClient, etcdPeer] = [await freePort(), await freePort()];
    this.#etcdPorts = { clientPort: etcdClient, peerPort: etcdPeer };
    this.#etcd = run(
      "etcd",
      [
        "--name=e1",
        `--data-dir=${path.join(this.#dir, "etcd")}`,
        `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
        `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=e1=http://127.0.0.1:${etcdPeer}`,
      ],
      this.#log("etcd"),
    );
    await waitUntil("etcd", async () => (await fetch(`http://127.0.0.1:${etcdClient}/health`)).ok);
    for (const name of ["pg1", "pg2"]) {
      const node: PgNode = { name, pgPort: await freePort(), restPort: await freePort(), dataDir: path.join(this.#dir, name), config: path.join(this.#dir, `${name}.yml`) };
      writeFileSync(node.config, patroniConfig(node, this.#dir, etcdClient));
      if (user.uid !== undefined) chownSync(node.config, user.uid, user.gid!);
      this.#nodes.push(node);
    }
    // The first node bootstraps the cluster; the second joins as its replica (a base backup).
    this.#startPatroni(this.#nodes[0]!);
    await waitUntil("the first PostgreSQL node", async () => (await this.primary()) !== undefined, 60_000);
    this.#startPatroni(this.#nodes[1]!);
    await this.waitForSyncStandby(90_000);

    this.#haproxyPort = await freePort();
    const cfg = path.join(this.#dir, "haproxy-postgres.cfg");
    this.#haproxyConfig = cfg;
    writeFileSync(
      cfg,
      [
        "global",
        "  maxconn 400",
        "defaults",
        "  mode tcp",
        "  timeout connect 2s",
        "  timeout client 10m",
        "  timeout server 10m",
        "  timeout check 1s",
        "listen primary",
        `  bind 127.0.0.1:${this.#haproxyPort}`,
        // Patroni's REST API answers 200 on /primary only on the node that holds the leader key.
        "  option httpchk GET /primary",
        "  http-check expect status 200",
        "  default-server inter 500ms fall 2 rise 1 on-marked-down shutdown-sessions",
        ...this.#nodes.map((n) => `  server ${n.name} 127.0.0.1:${n.pgPort} check port ${n.restPort}`),
        "",
      ].join("\n"),
    );
    this.#haproxy = run("haproxy", ["-f", cfg, "-db"], this.#log("haproxy-postgres"));
    await waitUntil("HAProxy", async () => (await this.#psql(this.#haproxyPort, "SELECT pg_is_in_recovery()")) === "f");
  }

  /** The node whose REST API says it is the primary. */
  async primary(): Promise<PgNode | undefined> {
    for (const node of this.#nodes) {
      const ok = await fetch(`http://127.0.0.1:${node.restPort}/primary`, { signal: AbortSignal.timeout(1_000) }).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) return node;
    }
    return undefined;
  }

  /** Until the other node streams from the primary as its synchronous standby. */
  async waitForSyncStandby(ms = 60_000): Promise<void> {
    await waitUntil(
      "a synchronous standby",
      async () => {
        const primary = await this.primary();
        if (!primary) return false;
        return (await this.#psql(primary.pgPort, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND sync_state = 'sync'")) === "1";
      },
      ms,
    );
  }

  /**
   * The primary's machine lost: kill -9 of its Patroni and its PostgreSQL
   * (the postmaster and every backend). Resolves with the node's name once
   * the other node is the primary, when the kill was (performance.now()) and
   * how long the promotion took.
   */
  async killPrimary(ms = 60_000): Promise<{ killed: string; killedAt: number; promotedMs: number }> {
    const primary = await this.primary();
    if (!primary) throw new Error("no primary to kill");
    const postmaster = Number(readFileSync(path.join(primary.dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
    const patroni = primary.patroni!;
    const exited = patroni.child ? new Promise((resolve) => patroni.child!.once("exit", resolve)) : undefined;
    const backends = childrenOf(postmaster);
    const started = performance.now();
    process.kill(patroni.pid, "SIGKILL");
    for (const pid of [postmaster, ...backends]) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await (exited ?? waitGone(patroni.pid));
    await waitUntil(
      "the standby's promotion",
      async () => {
        const now = await this.primary();
        return now !== undefined && now !== primary;
      },
      ms,
    );
    return { killed: primary.name, killedAt: started, promotedMs: performance.now() - started };
  }

  /** Brings a killed node's Patroni back: it rewinds its data to the new primary's timeline and follows it. */
  rejoin(name: string): void {
    this.#startPatroni(this.#nodes.find((n) => n.name === name)!);
  }

  /** Kills every process of the pair (and PostgreSQL under Patroni) and removes the directory. */
  async close(opts: { keepDir?: boolean } = {}): Promise<void> {
    for (const node of this.#nodes) {
      const postmaster = postmasterOf(node);
      killTree(node.patroni?.pid);
      if (postmaster) killTree(postmaster);
    }
    killTree(this.#haproxy?.pid);
    killTree(this.#etcd?.pid);
    await sleep(200);
    if (!opts.keepDir) rmSync(this.#dir, { recursive: true, force: true });
  }

  #startPatroni(node: PgNode): void {
    node.patroni = run("patroni", [node.config], { ...runAs(), env: { ...process.env, HOME: this.#dir }, ...this.#log(`patroni-${node.name}`) });
  }

  /** One value from psql against a node (or HAProxy); "" when it does not answer. */
  async #psql(port: number, sql: string): Promise<string> {
    return new Promise((resolve) => {
      const child = spawn("psql", ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", "postgres", "-tAc", sql], {
        env: { ...process.env, PGPASSWORD: "postgres", PGCONNECT_TIMEOUT: "2" },
        stdio: ["ignore", "pipe", "ignore"],
      });
      let out = "";
      child.stdout!.on("data", (d) => (out += d));
      child.once("exit", (code) => resolve(code === 0 ? out.trim() : ""));
      child.once("error", () => resolve(""));
    });
  }
}

function patroniConfig(node: PgNode, dir: string, etcdPort: number): string {
  return `scope: attesto-test
namespace: /attesto/
name: ${node.name}
log:
  level: WARNING
restapi:
  listen: 127.0.0.1:${node.restPort}
  connect_address: 127.0.0.1:${node.restPort}
etcd3:
  hosts: 127.0.0.1:${etcdPort}
bootstrap:
  dcs:
    ttl: ${TTL_S}
    loop_wait: 1
    retry_timeout: 2
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        max_connections: 200
        wal_log_hints: "on"
        synchronous_commit: "on"
  initdb:
    - encoding: UTF8
    - data-checksums
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 md5
    - host replication replicator 127.0.0.1/32 md5
postgresql:
  listen: 127.0.0.1:${node.pgPort}
  connect_address: 127.0.0.1:${node.pgPort}
  data_dir: ${node.dataDir}
  bin_dir: ${pgBinDir()}
  pgpass: ${path.join(dir, `pgpass-${node.name}`)}
  authentication:
    superuser:
      username: postgres
      password: postgres
    replication:
      username: replicator
      password: replicator
    rewind:
      username: postgres
      password: postgres
  parameters:
    unix_socket_directories: ${dir}
`;
}

/** The PostgreSQL postmaster a node's Patroni runs, from its pid file. */
function postmasterOf(node: { dataDir: string }): number | undefined {
  const pidFile = path.join(node.dataDir, "postmaster.pid");
  if (!existsSync(pidFile)) return undefined;
  return Number(readFileSync(pidFile, "utf8").split("\n")[0]) || undefined;
}
