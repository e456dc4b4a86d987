import { describe, expect, it } from "vitest";
import { loadConfig } from "../config.js";
import { parseTsaUrls, timestampSettings, tsaLabel } from "./settings.js";

describe("TSA settings", () => {
  it("reads URLs separated by commas or spaces, http(s) only", () => {
    expect(parseTsaUrls("")).toEqual([]);
    expect(parseTsaUrls(" https://tsa.example/a, http://127.0.0.1:8080/tsa  https://b.example ")).toEqual(["https://tsa.example/a", "http://127.0.0.1:8080/tsa", "https://b.example"]);
    expect(() => parseTsaUrls("https://ok.example ftp://tsa.example")).toThrow("ATTESTO_TSA_URLS[1]: an http(s) URL");
    expect(() => parseTsaUrls("not a url")).toThrow("ATTESTO_TSA_URLS[0]: not a URL");
  });

  it("names a TSA without its credentials or query", () => {
    expect(tsaLabel("https://user:secret@tsa.example/ts?key=abc")).toBe("https://tsa.example/ts");
  });

  it("refuses TSA URLs without roots, and a roots file that is not there or holds no certificate", () => {
    const config = (extra: Record<string, string>) => loadConfig({ ATTESTO_ENCRYPTION_KEY: "a".repeat(64), ATTESTO_ADMIN_TOKEN: "t".repeat(32), ...extra }, { port: 0 });
    expect(timestampSettings(config({})).tsaUrls).toEqual([]);
    expect(() => timestampSettings(config({ ATTESTO_TSA_URLS: "https://tsa.example" }))).toThrow(/^ATTESTO_TSA_ROOTS: a PEM file of the TSA roots is required/);
    expect(() => timestampSettings(config({ ATTESTO_TSA_URLS: "https://tsa.example", ATTESTO_TSA_ROOTS: "/nonexistent/roots.pem" }))).toThrow(
      "ATTESTO_TSA_ROOTS: cannot read /nonexistent/roots.pem: ENOENT",
    );
    expect(() => timestampSettings(config({ ATTESTO_TSA_URLS: "https://tsa.example", ATTESTO_TSA_ROOTS: import.meta.filename }))).toThrow("ATTESTO_TSA_ROOTS: no CERTIFICATE block in the PEM text");
  });
});
