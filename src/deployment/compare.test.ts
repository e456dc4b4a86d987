import { describe, expect, it } from "vitest";
import { loadConfig } from "../config.js";
import { compareSettings, refusal } from "./compare.js";
import { deploymentSettings } from "./settings.js";

const shared = (env: Record<string, string>) => deploymentSettings(loadConfig({ DATABASE_URL: "postgres://x@127.0.0.1/x", ATTESTO_ENCRYPTION_KEY: "k".repeat(44), ...env }), "p").shared;
const stored = (env: Record<string, string>) => Object.fromEntries(shared(env).map((s) => [s.name, s.value]));

describe("compareSettings", () => {
  it("finds nothing when the values agree", () => {
    expect(compareSettings(shared({}), stored({}))).toEqual({ refuse: [], warn: [], missing: [] });
  });

  it("refuses a differing loopback setting and names it, the value here and the stored one", () => {
    const { refuse, warn } = compareSettings(shared({ ATTESTO_WEBHOOK_ALLOW_LOOPBACK: "true" }), stored({ ATTESTO_WEBHOOK_ALLOW_LOOPBACK: "false" }));
    expect(warn).toEqual([]);
    expect(refuse.map((d) => [d.setting.env, d.setting.value, d.stored])).toEqual([["ATTESTO_WEBHOOK_ALLOW_LOOPBACK", "on (every tenant)", "off"]]);
    const line = refusal(refuse, "p", new Date("2026-01-01T00:00:00Z"));
    expect(line).toContain("ATTESTO_WEBHOOK_ALLOW_LOOPBACK is on (every tenant) here but off for the other instances");
    expect(line).toContain("ATTESTO_RECONFIGURE=true");
    expect(line).not.toContain("\n");
  });

  it("only warns about a differing schedule", () => {
    const { refuse, warn } = compareSettings(shared({ ATTESTO_CHECKPOINT_INTERVAL_MS: "2000" }), stored({}));
    expect(refuse).toEqual([]);
    expect(warn.map((d) => [d.setting.name, d.setting.value, d.stored])).toEqual([["checkpoint_interval_ms", 2000, 1000]]);
  });

  it("the development tenant's loopback is its own value: an instance with a development tenant and one without differ", () => {
    const withDev = shared({ ATTESTO_DEV_TENANT: "true" });
    expect(withDev.find((s) => s.name === "webhook_loopback_receivers")!.value).toBe("on (the development tenant only)");
    expect(compareSettings(withDev, stored({})).refuse.map((d) => d.stored)).toEqual(["off"]);
  });

  it("a setting the stored row does not name yet is missing, not different", () => {
    const { tiles_public: _, ...older } = stored({});
    expect(compareSettings(shared({ ATTESTO_TILES_PUBLIC: "true" }), older).missing.map((s) => s.name)).toEqual(["tiles_public"]);
  });
});
