import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { choosePublicBaseUrl, originPattern, PUBLIC_BASE_URL_FILE, readStoredPublicBaseUrl, storePublicBaseUrl } from "./public-base-url.js";

describe("choosePublicBaseUrl", () => {
  const listening = "http://127.0.0.1:18123";

  it("takes PUBLIC_BASE_URL over a stored URL, and stores nothing", () => {
    expect(choosePublicBaseUrl({ configured: "https://attesto.example", stored: "http://127.0.0.1:8080", listening, embedded: true })).toEqual({
      url: "https://attesto.example",
      source: "PUBLIC_BASE_URL",
      persist: false,
    });
  });

  it("keeps the embedded default's first URL when it restarts on another port", () => {
    expect(choosePublicBaseUrl({ configured: undefined, stored: "http://127.0.0.1:8080", listening, embedded: true })).toEqual({
      url: "http://127.0.0.1:8080",
      source: "data folder",
      persist: false,
    });
  });

  it("stores the listening address on the embedded default's first start", () => {
    expect(choosePublicBaseUrl({ configured: undefined, stored: undefined, listening, embedded: true })).toEqual({ url: listening, source: "listening address", persist: true });
  });

  it("uses the listening address with DATABASE_URL and stores nothing", () => {
    expect(choosePublicBaseUrl({ configured: undefined, stored: "http://127.0.0.1:8080", listening, embedded: false })).toEqual({
      url: listening,
      source: "listening address",
      persist: false,
    });
  });
});

describe("the stored URL", () => {
  it("round-trips through the data folder and ignores a file that is not a URL", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "attesto-origin-"));
    expect(await readStoredPublicBaseUrl(dir)).toBeUndefined();
    await storePublicBaseUrl(dir, "http://127.0.0.1:8080");
    expect(await readStoredPublicBaseUrl(dir)).toBe("http://127.0.0.1:8080");
    await writeFile(path.join(dir, PUBLIC_BASE_URL_FILE), "not a url\n");
    expect(await readStoredPublicBaseUrl(dir)).toBeUndefined();
  });

  it("names the origin pattern by host and port", () => {
    expect(originPattern("http://127.0.0.1:8080/")).toBe("127.0.0.1:8080/proofstreams/<stream id>");
  });
});
