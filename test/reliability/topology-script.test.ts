import { execFile } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { alive, childrenOf, waitUntil } from "../../scripts/topology/process.js";
import { ADMIN_TOKEN } from "../support/server.js";
import { ROOT } from "../support/process.js";
import { call, keepOutput, remember, report, tenantOn } from "./support.js";

/**
 * `scripts/topology.sh` (issue 28): `up` starts the whole topology detached
 * (etcd, the Patroni pair, HAProxy for PostgreSQL, Redis with three
 * Sentinels, two Attesto instances behind HAProxy) and exits; an append
 * through the balancer it prints works; `status` names the primary and the
 * master; `down` leaves no process of the state alive.
 */
const SCRIPT = path.join(ROOT, "scripts/topology.sh");
const exec = promisify(execFile);
const parent = mkdtempSync(path.join(tmpdir(), "attesto-topology-"));
// As root PostgreSQL runs as the postgres user, which must reach its data dir under this one.
chmodSync(parent, 0o755);
const dir = path.join(parent, "state");
const sh = (...args: string[]) => exec(SCRIPT, args, { env: { ...process.env, ATTESTO_ADMIN_TOKEN: ADMIN_TOKEN }, timeout: 120_000 });

afterAll(async () => {
  if (existsSync(path.join(dir, "state.json"))) await sh("down", dir).catch(() => {});
  rmSync(parent, { recursive: true, force: true });
});

describe("scripts/topology.sh", () => {
  it("up starts a topology that outlives it, serving appends through its balancer; down ends every process of it", async () => {
    const started = performance.now();
    const { stdout } = await sh("up", "--instances", "2", dir);
    const upMs = performance.now() - started;
    const state = JSON.parse(readFileSync(path.join(dir, "state.json"), "utf8"));
    expect(stdout).toContain(state.loadBalancerUrl);
    expect(stdout).toContain(state.grpcUrl);
    expect(stdout).toContain(state.sentinels);

    const tenant = await tenantOn(state.loadBalancerUrl);
    const stream = await call(state.loadBalancerUrl, tenant.key, "ProofstreamService/CreateStream", { name: "topology-script" });
    expect(stream.status).toBe(200);
    const append = await call(state.loadBalancerUrl, tenant.key, "ProofstreamService/AppendEvent", {
      streamId: stream.json.stream.id,
      sourceRef: "topology-1",
      eventType: "topology",
      occurredAt: "2026-06-07T12:00:00Z",
      payload: { n: 1 },
    });
    expect(append.status).toBe(200);
    expect(append.json.event.seqNo).toBe("1");

    const status = await sh("status", dir);
    expect(status.stdout).toMatch(/postgres primary: pg[12] /);
    expect(status.stdout).toMatch(/redis master: +127\.0\.0\.1:\d+/);
    expect(status.stdout).not.toContain("DOWN");

    // Every pid the state names, and what runs under them (PostgreSQL under Patroni).
    const pids: number[] = [
      state.postgres.etcd.pid,
      state.postgres.haproxy.pid,
      ...state.postgres.nodes.map((n: { pid: number }) => n.pid),
      ...state.redis.nodes.map((n: { pid: number }) => n.pid),
      ...state.redis.sentinels.map((n: { pid: number }) => n.pid),
      ...state.attesto.instances.map((n: { pid: number }) => n.pid),
      state.attesto.haproxy.pid,
    ];
    const postmasters = state.postgres.nodes.map((n: { dataDir: string }) => Number(readFileSync(path.join(n.dataDir, "postmaster.pid"), "utf8").split("\n")[0]));
    const all = [...new Set([...pids, ...postmasters, ...pids.flatMap(childrenOf)])];
    expect(all.filter((p) => alive(p))).toEqual(all);

    // The instances' logs go to the secrets check, with the master key `up` generated.
    remember("encryption key", readFileSync(path.join(dir, "master.key"), "utf8").trim());
    for (const [i] of state.attesto.instances.entries()) keepOutput(`log-topology-${i}`, readFileSync(path.join(dir, "logs", `attesto-${i}.log`), "utf8"));

    await sh("down", dir);
    expect(existsSync(dir)).toBe(false);
    // Killed processes are reaped by init a moment later; until then they are zombies, which alive() does not count.
    await waitUntil("every process of the topology gone", async () => all.every((p) => !alive(p)), 5_000).catch(() => {});
    const survivors = all.filter((p) => alive(p));
    report({
      section: "topology script",
      check: "scripts/topology.sh up --instances 2 (etcd, Patroni pair, HAProxy, Redis + 3 Sentinels, 2 instances behind HAProxy), an append through its balancer, status, down",
      measured: `up in ${(upMs / 1000).toFixed(1)} s; ${all.length} processes, ${survivors.length} alive after down`,
      ok: survivors.length === 0,
    });
    expect(survivors).toEqual([]);
  });
});
