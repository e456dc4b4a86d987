import { afterEach, describe, expect, it } from "vitest";
import { checkOutboundUrl } from "../net/outbound.js";
import { ReceiverPolicies } from "./receiver-policy.js";

const setting = "ATTESTO_WEBHOOK_ALLOW_LOOPBACK";
let made: ReceiverPolicies[] = [];
const policies = (allowLoopback: boolean, loopbackTenantId?: string) => {
  const p = new ReceiverPolicies({ policy: { allowLoopback, loopbackSetting: setting }, loopbackTenantId });
  made.push(p);
  return p;
};
afterEach(async () => {
  await Promise.all(made.map((p) => p.close()));
  made = [];
});

describe("ReceiverPolicies", () => {
  it("lets the development tenant alone reach loopback, when saving a URL and when connecting", async () => {
    const p = policies(false, "ten_dev");
    expect((await checkOutboundUrl("http://127.0.0.1:9/hook", p.policyFor("ten_dev"))).port).toBe("9");
    await expect(checkOutboundUrl("http://127.0.0.1:9/hook", p.policyFor("ten_other"))).rejects.toThrow(`${setting}=true`);
    await expect(checkOutboundUrl("https://127.0.0.1:9/hook", p.policyFor("ten_other"))).rejects.toThrow("(loopback address)");
    expect(p.httpFor("ten_dev").policy.allowLoopback).toBe(true);
    expect(p.httpFor("ten_other").policy.allowLoopback).toBe(false);
    expect(p.httpFor("ten_dev")).not.toBe(p.httpFor("ten_other"));
    // Only loopback is opened: private ranges stay closed to the development tenant too.
    await expect(checkOutboundUrl("https://10.0.0.1/hook", p.policyFor("ten_dev"))).rejects.toThrow("(private address)");
  });

  it("needs no exception when the deployment lets every tenant reach loopback, and makes none without a development tenant", () => {
    const all = policies(true, "ten_dev");
    expect(all.developmentTenantId).toBeUndefined();
    expect(all.policyFor("ten_other").allowLoopback).toBe(true);
    const none = policies(false);
    expect(none.developmentTenantId).toBeUndefined();
    expect(none.policyFor("ten_dev").allowLoopback).toBe(false);
  });
});
