/**
 * The failover topology on loopback, from the machine's packages, outliving
 * this command: etcd and a Patroni pair (synchronous standby) behind HAProxy,
 * a Redis master and replica watched by three Sentinels, and N Attesto
 * instances sharing one master key behind HAProxy (HTTP/1.1 and h2c).
 *
 *   scripts/topology.sh up [--instances N] [DIR]   start it; DIR defaults to .attesto-topology/
 *   scripts/topology.sh status [DIR]               which processes run, who is primary and master
 *   scripts/topology.sh down [DIR]                 kill everything in DIR/state.json, remove DIR
 *
 * A starting point for a real deployment, not one: every port is loopback
 * and picked at random, the passwords are fixed (postgres/postgres), the
 * leader TTL (6 s) and Sentinel's down-after (1 s) are the tests' short ones.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { startInstances, type InstancesState } from "./topology/instances.js";
import { PatroniTopology, type PatroniState } from "./topology/patroni.js";
import { alive, killTree, sleep } from "./topology/process.js";
import { MASTER_NAME, SentinelTopology, type SentinelState } from "./topology/sentinel.js";

const ROOT = path.resolve(import.meta.dirname, "..");

interface State {
  startedAt: string;
  databaseUrl: string;
  sentinels: string;
  sentinelMaster: string;
  loadBalancerUrl: string;
  grpcUrl: string;
  postgres: PatroniState;
  redis: SentinelState;
  attesto: InstancesState;
}

function usage(): never {
  process.stderr.write("usage: scripts/topology.sh up [--instances N] [DIR] | status [DIR] | down [DIR]\n");
  process.exit(2);
}

function parse(argv: string[]): { command: string; dir: string; instances: number } {
  const [command, ...rest] = argv;
  let instances = 3;
  let dir: string | undefined;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (arg === "--instances") {
      instances = Number(rest[++i]);
      if (!Number.isInteger(instances) || instances < 1) usage();
    } else if (arg.startsWith("--instances=")) {
      instances = Number(arg.slice("--instances=".length));
      if (!Number.isInteger(instances) || instances < 1) usage();
    } else if (!arg.startsWith("-") && dir === undefined) dir = arg;
    else usage();
  }
  if (!command || !["up", "down", "status"].includes(command)) usage();
  return { command, dir: dir ? path.resolve(process.env.ATTESTO_TOPOLOGY_CWD ?? process.cwd(), dir) : path.join(ROOT, ".attesto-topology"), instances };
}

const readState = (dir: string): State | undefined => {
  const file = path.join(dir, "state.json");
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as State) : undefined;
};

/** A secret kept in the state directory (0600), made on first use. */
function secret(dir: string, name: string, make: () => string): string {
  const file = path.join(dir, name);
  if (!existsSync(file)) writeFileSync(file, make() + "\n", { mode: 0o600 });
  return readFileSync(file, "utf8").trim();
}

async function up(dir: string, count: number): Promise<void> {
  if (readState(dir)) throw new Error(`${dir} holds a topology already: scripts/topology.sh down ${dir} first`);
  // Patroni would pick up a data directory left there: start from nothing.
  if (existsSync(dir) && readdirSync(dir).length > 0) throw new Error(`${dir} exists and is not empty: remove it or give another directory`);
  mkdirSync(path.join(dir, "logs"), { recursive: true });
  const started: { postgres?: PatroniTopology; redis?: SentinelTopology; attesto?: InstancesState } = {};
  // Written after each part, so a failed `up` leaves enough for `down` to clean up.
  const save = (partial: Partial<State>) => writeFileSync(path.join(dir, "state.json"), JSON.stringify(partial, null, 2) + "\n");
  try {
    process.stderr.write("starting etcd and the Patroni pair (bootstrap, replica, synchronous standby)…\n");
    started.postgres = await PatroniTopology.create({ dir: path.join(dir, "postgres"), detached: true });
    save({ postgres: started.postgres.state() });
    process.stderr.write("starting Redis master, replica and three Sentinels…\n");
    started.redis = await SentinelTopology.create({ dir: path.join(dir, "redis"), detached: true });
    save({ postgres: started.postgres.state(), redis: started.redis.state() });
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: started.postgres.url,
      ATTESTO_REDIS_SENTINELS: started.redis.sentinelList,
      ATTESTO_REDIS_SENTINEL_MASTER: MASTER_NAME,
      // Through Sentinel REDIS_URL gives only a password and database number: none here.
      REDIS_URL: "",
      ATTESTO_ENCRYPTION_KEY: secret(dir, "master.key", () => randomBytes(32).toString("base64")),
      ATTESTO_ADMIN_TOKEN: process.env.ATTESTO_ADMIN_TOKEN ?? secret(dir, "admin.token", () => randomBytes(24).toString("base64url")),
      // Behind a load balancer every connection comes from HAProxy's address.
      ATTESTO_MAX_CONNECTIONS_PER_IP: "0",
      ATTESTO_DB_POOL: process.env.ATTESTO_DB_POOL ?? "8",
      ATTESTO_DEV_TENANT: "false",
    };
    process.stderr.write(`starting ${count} Attesto instance(s) and HAProxy in front…\n`);
    started.attesto = await startInstances(dir, count, env);
    const { httpPort, h2cPort } = started.attesto.haproxy;
    const state: State = {
      startedAt: new Date().toISOString(),
      databaseUrl: started.postgres.displayUrl,
      sentinels: started.redis.sentinelList,
      sentinelMaster: MASTER_NAME,
      loadBalancerUrl: `http://127.0.0.1:${httpPort}`,
      grpcUrl: `http://127.0.0.1:${h2cPort}`,
      postgres: started.postgres.state(),
      redis: started.redis.state(),
      attesto: started.attesto,
    };
    save(state);
    process.stdout.write(
      [
        `state        ${dir} (configs, data, logs/, state.json)`,
        `attesto      ${state.loadBalancerUrl} (HTTP/1.1, Connect and JSON) behind HAProxy, ${count} instance(s): ${state.attesto.instances.map((i) => `127.0.0.1:${i.port}`).join(", ")}`,
        `grpc         ${state.grpcUrl} (h2c)`,
        `admin token  ${path.join(dir, process.env.ATTESTO_ADMIN_TOKEN ? "(from ATTESTO_ADMIN_TOKEN)" : "admin.token")}`,
        `master key   ${path.join(dir, "master.key")}`,
        `database     ${state.databaseUrl} (password postgres) through HAProxy to the Patroni primary`,
        `sentinels    ${state.sentinels} (master name ${MASTER_NAME})`,
        "",
      ].join("\n"),
    );
  } catch (err) {
    // Every process started is killed; the directory stays, for its logs (`down` removes it).
    for (const inst of started.attesto?.instances ?? []) killTree(inst.pid);
    killTree(started.attesto?.haproxy.pid);
    await started.redis?.close({ keepDir: true });
    await started.postgres?.close({ keepDir: true });
    rmSync(path.join(dir, "state.json"), { force: true });
    process.stderr.write(`up failed: ${(err as Error).message}\neverything it started is stopped; logs in ${dir}/logs, ${dir}/postgres/logs, ${dir}/redis/logs (rm -rf ${dir} when read)\n`);
    process.exitCode = 1;
  }
}

async function status(dir: string): Promise<void> {
  const state = readState(dir);
  if (!state) throw new Error(`no topology in ${dir}`);
  const postgres = state.postgres ? PatroniTopology.fromState(state.postgres) : undefined;
  const redis = state.redis ? SentinelTopology.fromState(state.redis) : undefined;
  const rows = [
    ...(postgres?.processes() ?? []),
    ...(redis?.processes() ?? []),
    ...(state.attesto?.instances ?? []).map((i) => ({ name: `attesto 127.0.0.1:${i.port}`, pid: i.pid, alive: alive(i.pid) })),
    ...(state.attesto ? [{ name: "haproxy (attesto)", pid: state.attesto.haproxy.pid, alive: alive(state.attesto.haproxy.pid) }] : []),
  ];
  for (const r of rows) process.stdout.write(`${r.alive ? "up  " : "DOWN"}  ${String(r.pid).padStart(7)}  ${r.name}\n`);
  const primary = await postgres?.primary();
  const master = await redis?.masterPort();
  process.stdout.write(`postgres primary: ${primary ? `${primary.name} (127.0.0.1:${primary.pgPort})` : "none"}\n`);
  process.stdout.write(`redis master:     ${master ? `127.0.0.1:${master}` : "none agreed by the sentinels"}\n`);
  if (state.loadBalancerUrl) {
    const ready = await fetch(`${state.loadBalancerUrl}/readyz`, { signal: AbortSignal.timeout(2_000) }).then(
      (r) => r.status,
      () => 0,
    );
    process.stdout.write(`attesto:          ${state.loadBalancerUrl} /readyz ${ready || "no answer"}\n`);
  }
  if (rows.some((r) => !r.alive)) process.exitCode = 1;
}

async function down(dir: string): Promise<void> {
  const state = readState(dir);
  if (!state) {
    if (existsSync(dir)) throw new Error(`${dir} has no state.json: not removed`);
    process.stdout.write(`no topology in ${dir}\n`);
    return;
  }
  // Attesto first (it would otherwise log every dependency going away), then the balancers and the stores.
  for (const inst of state.attesto?.instances ?? []) killTree(inst.pid);
  killTree(state.attesto?.haproxy.pid);
  if (state.redis) await SentinelTopology.fromState(state.redis).close();
  if (state.postgres) await PatroniTopology.fromState(state.postgres).close();
  await sleep(100);
  rmSync(dir, { recursive: true, force: true });
  process.stdout.write(`stopped and removed ${dir}\n`);
}

const { command, dir, instances } = parse(process.argv.slice(2));
try {
  if (command === "up") await up(dir, instances);
  else if (command === "status") await status(dir);
  else await down(dir);
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exitCode = 1;
}
