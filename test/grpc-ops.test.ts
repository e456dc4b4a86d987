import { execFile } from "node:child_process";
import { copyFile, mkdir } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../gen/ts/grpc/health/v1/health_pb.js";
import { loadConfig } from "../src/config.js";
import { createLogger } from "../src/logger.js";
import { startAttesto, type Attesto } from "../src/server/app.js";
import { ROOT } from "./support/process.js";
import { newTenant, tempDir, testEnv } from "./support/server.js";
import { TcpProxy } from "./support/tcp-proxy.js";

const run = promisify(execFile);
const BUF = path.join(ROOT, "node_modules", ".bin", "buf");

/**
 * gRPC health and reflection with the tools operators use: buf curl (the
 * @bufbuild/buf dependency) and a Go client on Debian's google.golang.org/grpc,
 * both run from a folder without any .proto file. The server's PostgreSQL is
 * behind a TCP relay the test cuts and restores, so health follows a real outage.
 */
let app: Attesto;
let proxy: TcpProxy;
let address: string;
let workDir: string;

beforeAll(async () => {
  const env = await testEnv();
  const database = new URL(env.DATABASE_URL!);
  proxy = await TcpProxy.start({ host: database.hostname, port: Number(database.port || 5432) });
  database.host = `127.0.0.1:${proxy.port}`;
  app = await startAttesto(loadConfig({ ...env, DATABASE_URL: database.toString() }, { port: 0 }), createLogger("silent"));
  address = new URL(app.url).host;
  workDir = await tempDir("attesto-grpc-tools-");
}, 60_000);
afterAll(async () => {
  await app?.stop();
  await proxy?.stop();
});

/** buf curl over gRPC (h2c), from a folder with no buf.yaml and no .proto files: reflection is its only schema. */
async function bufCurl(args: string[]): Promise<string> {
  const { stdout } = await run(BUF, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args], { cwd: workDir, timeout: 60_000 }).catch((err: { stderr?: string; stdout?: string }) => {
    throw new Error(`buf curl ${args.join(" ")} failed: ${err.stderr ?? ""}${err.stdout ?? ""}`);
  });
  return stdout;
}

/** The status the health service gives, over gRPC, polled until it is `want` or the deadline passes. */
async function healthBecomes(want: string, deadlineMs = 20_000): Promise<string> {
  const deadline = Date.now() + deadlineMs;
  let last = "";
  while (Date.now() < deadline) {
    last = (JSON.parse(await bufCurl(["-d", "{}", `${app.url}/grpc.health.v1.Health/Check`])) as { status: string }).status;
    if (last === want) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  return last;
}

describe("gRPC reflection", () => {
  it("buf curl lists the services and calls GetCurrentTenant with reflection alone (v1 and v1alpha)", async () => {
    const services = (await bufCurl(["--list-services", app.url])).trim().split("\n");
    expect(services).toEqual(
      expect.arrayContaining([
        "attesto.v1.TenantService",
        "attesto.v1.ProofstreamService",
        "attesto.admin.v1.AdminService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
      ]),
    );
    const methods = (await bufCurl(["--list-methods", app.url])).trim().split("\n");
    expect(methods).toContain("attesto.v1.ProofstreamService/AppendEvent");

    const tenant = await newTenant(app.url);
    for (const reflectProtocol of ["grpc-v1", "grpc-v1alpha"]) {
      const answer = JSON.parse(
        await bufCurl(["--reflect-protocol", reflectProtocol, "-H", `Authorization: Bearer ${tenant.key}`, "-d", "{}", `${app.url}/attesto.v1.TenantService/GetCurrentTenant`]),
      ) as { tenant: { id: string } };
      expect(answer.tenant.id).toBe(tenant.tenantId);
    }
    // The descriptors carry the contract's field rules: an invalid request is refused by name, as with the .proto files.
    const invalid = await run(
      BUF,
      ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "-H", `Authorization: Bearer ${tenant.key}`, "-d", '{"name":""}', `${app.url}/attesto.v1.ProofstreamService/CreateStream`],
      {
        cwd: workDir,
      },
    ).catch((err: { stdout: string; stderr: string }) => err);
    expect(`${invalid.stdout}${invalid.stderr}`).toMatch(/invalid_argument/i);
  }, 120_000);

  it("a Go client on google.golang.org/grpc/reflection lists the services, builds GetCurrentTenant from the descriptors and calls it", async () => {
    const gopath = await tempDir("attesto-go-reflect-");
    const pkg = path.join(gopath, "src", "attestoreflect");
    await mkdir(pkg, { recursive: true });
    await copyFile(path.join(import.meta.dirname, "go", "reflect.go"), path.join(pkg, "main.go"));
    const binary = path.join(gopath, "reflect");
    await run("go", ["build", "-o", binary, "attestoreflect"], {
      env: { ...process.env, GO111MODULE: "off", GOPATH: `${gopath}:/usr/share/gocode`, GOCACHE: path.join(gopath, "cache"), GOFLAGS: "" },
      timeout: 480_000,
    }).catch((err: { stderr?: string }) => {
      throw new Error(`cannot build the Go reflection client (apt install golang-go golang-google-grpc-dev golang-google-protobuf-dev): ${err.stderr ?? err}`);
    });
    const tenant = await newTenant(app.url);
    const { stdout } = await run(binary, [address, tenant.key, "attesto.v1.TenantService", "GetCurrentTenant"], { cwd: workDir, timeout: 60_000 });
    const [health, services, answer] = stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(health).toEqual({ health: "SERVING" });
    expect(services!.services).toEqual(expect.arrayContaining(["attesto.v1.TenantService", "grpc.health.v1.Health"]));
    expect(answer).toMatchObject({ answer: { tenant: { id: tenant.tenantId } } });
  }, 600_000);

  it("tells buf curl that a service it does not serve is not in its schema", async () => {
    const notFound = await run(BUF, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "-d", "{}", `${app.url}/attesto.v1.NoSuchService/Get`], { cwd: workDir }).catch(
      (err: { stdout: string; stderr: string }) => err,
    );
    expect(`${notFound.stdout}${notFound.stderr}`).toMatch(/failed to find service named "attesto.v1.NoSuchService"/);
  }, 60_000);
});

describe("gRPC health follows /readyz", () => {
  it("Check answers SERVING, NOT_SERVING while PostgreSQL is unreachable, SERVING again after; unknown service NOT_FOUND", async () => {
    expect(await healthBecomes("SERVING")).toBe("SERVING");
    const unknown = await run(BUF, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "-d", '{"service":"no.such.Service"}', `${app.url}/grpc.health.v1.Health/Check`], { cwd: workDir }).catch(
      (err: { stdout: string; stderr: string }) => err,
    );
    expect(`${unknown.stdout}${unknown.stderr}`).toMatch(/not_found/i);
    const named = JSON.parse(await bufCurl(["-d", '{"service":"attesto.v1.ProofstreamService"}', `${app.url}/grpc.health.v1.Health/Check`])) as { status: string };
    expect(named.status).toBe("SERVING");

    // Watch over gRPC: the first status at once, then each change.
    const watcher = new AbortController();
    const client = createClient(Health, createGrpcTransport({ baseUrl: app.url }));
    const seen: ServingStatus[] = [];
    const watching = (async () => {
      for await (const { status } of client.watch({ service: "" }, { signal: watcher.signal })) seen.push(status);
    })().catch(() => undefined);
    const waitSeen = async (n: number) => {
      const deadline = Date.now() + 20_000;
      while (seen.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      return seen.slice(0, n);
    };
    expect(await waitSeen(1)).toEqual([ServingStatus.SERVING]);

    await proxy.cut();
    try {
      expect(await healthBecomes("NOT_SERVING")).toBe("NOT_SERVING");
      const ready = await fetch(`${app.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(await waitSeen(2)).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
    } finally {
      await proxy.restore();
    }
    expect(await healthBecomes("SERVING")).toBe("SERVING");
    expect((await fetch(`${app.url}/readyz`)).status).toBe(200);
    expect(await waitSeen(3)).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING, ServingStatus.SERVING]);
    watcher.abort();
    await watching;
  }, 120_000);
});
