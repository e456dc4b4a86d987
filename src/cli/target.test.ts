import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEV_CREDENTIALS_FILE } from "../tenancy/dev-credentials-types.js";
import { chooseTarget, credentialFor, defaultServerUrl, explicitUrl, normalizeUrl, requireServer } from "./target.js";

describe("the server a command talks to", () => {
  it.each([
    ["http://127.0.0.1:8080", "http://127.0.0.1:8080"],
    ["https://attesto.example/", "https://attesto.example"],
    ["https://attesto.example/base//", "https://attesto.example/base"],
  ])("normalizes %s to %s", (input, expected) => {
    expect(normalizeUrl(input)).toBe(expected);
  });

  it.each(["attesto.example", "ftp://attesto.example", "file:///etc/passwd", ""])("refuses %j as a server URL", (input) => {
    expect(() => normalizeUrl(input)).toThrow(/--url \/ ATTESTO_URL must be an http\(s\) URL/);
  });

  it("takes --url before ATTESTO_URL, and neither when both are absent or empty", () => {
    expect(explicitUrl({ url: "http://a:1" }, { ATTESTO_URL: "http://b:2" })).toBe("http://a:1");
    expect(explicitUrl({}, { ATTESTO_URL: "http://b:2/" })).toBe("http://b:2");
    expect(explicitUrl({}, { ATTESTO_URL: "" })).toBeUndefined();
    expect(explicitUrl({}, {})).toBeUndefined();
  });

  it.each([
    [{ host: "0.0.0.0", port: 8080 }, "http://127.0.0.1:8080"],
    [{ host: "::", port: 8080 }, "http://127.0.0.1:8080"],
    [{ host: "127.0.0.1", port: 9000 }, "http://127.0.0.1:9000"],
    [{ host: "::1", port: 9000 }, "http://[::1]:9000"],
  ])("finds serve listening on %j at %s", (config, expected) => {
    expect(defaultServerUrl(config)).toBe(expected);
  });
});

describe("an explicit DATABASE_URL (issue 26, defect 5: a command went to another deployment answering at HOST:PORT)", () => {
  let server: Server;
  let port: number;
  beforeAll(async () => {
    // What the probe takes for a running Attesto: its landing page's name.
    server = createServer((_, res) => res.writeHead(200, { "content-type": "application/json" }).end('{"name":"Attesto"}'));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise((r) => server.close(r)));

  it("without it, a command goes to the Attesto answering where serve listens", async () => {
    const config = { host: "127.0.0.1", port, databaseUrl: undefined };
    expect(await chooseTarget({}, config)).toEqual({ mode: "remote", url: `http://127.0.0.1:${port}`, explicit: false });
    expect(await requireServer({}, config)).toBe(`http://127.0.0.1:${port}`);
  });

  it("with it, operator commands run on that database, and server-only commands ask for --url instead of taking whatever answers", async () => {
    const config = { host: "127.0.0.1", port, databaseUrl: "postgres://db.example/attesto" };
    expect(await chooseTarget({}, config)).toEqual({ mode: "local" });
    await expect(requireServer({}, config)).rejects.toThrow(
      `DATABASE_URL is set: name the server that serves that database with --url / ATTESTO_URL (the one answering at http://127.0.0.1:${port}, if any, may be another deployment)`,
    );
    // --url still chooses the server.
    expect(await chooseTarget({ url: `http://127.0.0.1:${port}` }, config)).toEqual({ mode: "remote", url: `http://127.0.0.1:${port}`, explicit: true });
    expect(await requireServer({ url: `http://127.0.0.1:${port}/` }, config)).toBe(`http://127.0.0.1:${port}`);
  });
});

describe("the credential a command sends", () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), "attesto-target-"));
    await writeFile(path.join(dataDir, DEV_CREDENTIALS_FILE), JSON.stringify({ apiKey: "atk_dev", adminToken: "adm_dev" }));
  });
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  it("takes the environment first, naming the variable", async () => {
    const got = await credentialFor("tenant", "https://attesto.example", { dataDir, databaseUrl: undefined }, { ATTESTO_API_KEY: "atk_env" });
    expect(got).toEqual({ secret: "atk_env", source: "ATTESTO_API_KEY" });
  });

  it("uses the embedded default's development credentials only on loopback and without DATABASE_URL", async () => {
    const local = { dataDir, databaseUrl: undefined };
    expect((await credentialFor("operator", "http://127.0.0.1:8080", local, {})).secret).toBe("adm_dev");
    expect((await credentialFor("tenant", "http://localhost:8080", local, {})).secret).toBe("atk_dev");
    await expect(credentialFor("tenant", "https://attesto.example", local, {})).rejects.toThrow("set ATTESTO_API_KEY to a tenant API key of the server at https://attesto.example");
    await expect(credentialFor("operator", "http://127.0.0.1:8080", { dataDir, databaseUrl: "postgres://db/attesto" }, {})).rejects.toThrow(/set ATTESTO_ADMIN_TOKEN to the operator token/);
  });
});
