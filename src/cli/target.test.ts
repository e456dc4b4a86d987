import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEV_CREDENTIALS_FILE } from "../tenancy/dev-credentials-types.js";
import { credentialFor, defaultServerUrl, explicitUrl, normalizeUrl } from "./target.js";

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
