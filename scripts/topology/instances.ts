import { existsSync, writeFileSync } from "node:fs";
import path from "node:path";
import { alive, freePort, run, sleep, waitUntil, type Started } from "./process.js";

const ROOT = path.resolve(import.meta.dirname, "../..");

/**
 * HAProxy in front of Attesto instances: HTTP/1.1 on one port, h2c (gRPC) on
 * another, each instance checked on /readyz every 500 ms, and a request
 * whose connection failed or that got no answer retried on another instance
 * (appends are idempotent by source_ref, so a retry answers the first outcome).
 */
export function attestoHaproxyConfig(opts: { httpPort: number; h2cPort: number; instances: string[] }): string {
  return [
    "global",
    "  maxconn 1000",
    "defaults",
    "  mode http",
    "  timeout connect 2s",
    "  timeout client 30s",
    "  timeout server 30s",
    "  timeout check 1s",
    "  retries 3",
    "  option redispatch 1",
    // A request whose connection failed, or whose server closed without answering, goes to another instance.
    "  retry-on conn-failure empty-response",
    "frontend http",
    `  bind 127.0.0.1:${opts.httpPort}`,
    "  default_backend attesto",
    "backend attesto",
    "  balance roundrobin",
    "  option httpchk GET /readyz",
    "  http-check expect status 200",
    "  default-server inter 500ms fall 2 rise 2",
    ...opts.instances.map((host, i) => `  server a${i} ${host} check`),
    "frontend grpc",
    `  bind 127.0.0.1:${opts.h2cPort} proto h2`,
    "  default_backend attesto_h2c",
    "backend attesto_h2c",
    "  balance roundrobin",
    "  option httpchk GET /readyz",
    "  http-check expect status 200",
    "  default-server inter 500ms fall 2 rise 2",
    ...opts.instances.map((host, i) => `  server g${i} ${host} proto h2 check`),
    "",
  ].join("\n");
}

/** `attesto serve` as the repository runs it: the compiled CLI once `npm run build` made dist/, else the sources through tsx. */
export function attestoCommand(): string[] {
  if (existsSync(path.join(ROOT, "dist"))) return [path.join(ROOT, "bin/attesto.js")];
  return ["--import", "tsx", path.join(ROOT, "src/cli/main.ts")];
}

export interface InstancesState {
  instances: Array<{ port: number; pid: number }>;
  haproxy: { pid: number; httpPort: number; h2cPort: number; config: string };
}

/** N detached Attesto instances on loopback sharing `env`, and HAProxy in front; resolves once the balancer answers /readyz. */
export async function startInstances(dir: string, count: number, env: NodeJS.ProcessEnv): Promise<InstancesState> {
  const instances: Array<{ port: number } & Started> = [];
  for (let i = 0; i < count; i++) {
    const port = await freePort();
    const started = run(process.execPath, [...attestoCommand(), "serve", "--port", String(port)], {
      env: { ...env, HOST: "127.0.0.1", PORT: String(port) },
      cwd: ROOT,
      log: path.join(dir, "logs", `attesto-${i}.log`),
    });
    instances.push({ port, ...started });
  }
  for (const [i, inst] of instances.entries()) {
    const log = path.join(dir, "logs", `attesto-${i}.log`);
    // An instance that exits (a bad setting, a dependency it cannot reach) fails `up` at once, not after the wait.
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (!alive(inst.pid)) throw new Error(`attesto instance ${i} exited (see ${log})`);
      const ready = await fetch(`http://127.0.0.1:${inst.port}/readyz`, { signal: AbortSignal.timeout(1_000) }).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ready) break;
      if (Date.now() > deadline) throw new Error(`attesto instance ${i} not ready within 90 s (see ${log})`);
      await sleep(200);
    }
  }
  const [httpPort, h2cPort] = [await freePort(), await freePort()];
  const config = path.join(dir, "haproxy-attesto.cfg");
  writeFileSync(config, attestoHaproxyConfig({ httpPort, h2cPort, instances: instances.map((i) => `127.0.0.1:${i.port}`) }));
  const haproxy = run("haproxy", ["-f", config, "-db"], { log: path.join(dir, "logs", "haproxy-attesto.log") });
  await waitUntil("HAProxy in front of the instances", async () => (await fetch(`http://127.0.0.1:${httpPort}/readyz`, { signal: AbortSignal.timeout(1_000) })).status === 200);
  return { instances: instances.map(({ port, pid }) => ({ port, pid })), haproxy: { pid: haproxy.pid, httpPort, h2cPort, config } };
}
