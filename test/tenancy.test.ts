import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toJsonString } from "@bufbuild/protobuf";
import { GetStoreCredentialsResponseSchema, ListApiKeysResponseSchema } from "../gen/ts/attesto/admin/v1/admin_pb.js";
import { Store } from "../gen/ts/attesto/v1/common_pb.js";
import { TenantService } from "../gen/ts/attesto/v1/tenant_pb.js";
import type { Attesto } from "../src/server/app.js";
import { adminClient, clientFor, codeOf, newTenant, startTestServer } from "./support/server.js";

let app: Attesto;
let a: Awaited<ReturnType<typeof newTenant>>;
let b: Awaited<ReturnType<typeof newTenant>>;

beforeAll(async () => {
  app = await startTestServer();
  [a, b] = await Promise.all([newTenant(app.url, "tenant A"), newTenant(app.url, "tenant B")]);
});
afterAll(() => app?.stop());

describe("tenant isolation through every tenant-scoped RPC", () => {
  it("GetCurrentTenant answers with the key's own tenant only", async () => {
    const res = await clientFor(TenantService, app.url, a.key).getCurrentTenant({});
    expect(res.tenant?.id).toBe(a.tenantId);
    expect(res.tenant?.id).not.toBe(b.tenantId);
  });

  it("ListOwnApiKeys never shows another tenant's keys", async () => {
    const keys = (await clientFor(TenantService, app.url, a.key).listApiKeys({ includeRevoked: true })).apiKeys;
    expect(keys.map((k) => k.id)).toContain(a.apiKeyId);
    expect(keys.every((k) => k.tenantId === a.tenantId)).toBe(true);
    expect(keys.map((k) => k.id)).not.toContain(b.apiKeyId);
  });

  it("A cannot revoke B's key: it reads as not found and B's key keeps working", async () => {
    expect(await codeOf(clientFor(TenantService, app.url, a.key).revokeApiKey({ apiKeyId: b.apiKeyId }))).toBe(Code.NotFound);
    // Same answer as a key id that does not exist at all.
    expect(await codeOf(clientFor(TenantService, app.url, a.key).revokeApiKey({ apiKeyId: "key_01ARZ3NDEKTSV4RRFFQ69G5FAV" }))).toBe(Code.NotFound);
    const still = await clientFor(TenantService, app.url, b.key).getCurrentTenant({});
    expect(still.tenant?.id).toBe(b.tenantId);
  });

  it("CreateApiKey creates the key in the caller's tenant", async () => {
    const created = await clientFor(TenantService, app.url, a.key).createApiKey({ name: "second" });
    expect(created.apiKey?.tenantId).toBe(a.tenantId);
    const me = await clientFor(TenantService, app.url, created.secret).getCurrentTenant({});
    expect(me.tenant?.id).toBe(a.tenantId);
    const bKeys = await adminClient(app.url).listApiKeys({ tenantId: b.tenantId });
    expect(bKeys.apiKeys.map((k) => k.id)).not.toContain(created.apiKey?.id);
  });

  it("revoking a key stops it at once, including the key that made the call", async () => {
    const spare = await clientFor(TenantService, app.url, a.key).createApiKey({ name: "to revoke" });
    const spareClient = clientFor(TenantService, app.url, spare.secret);
    await spareClient.getCurrentTenant({}); // cached as valid now
    const revoked = await spareClient.revokeApiKey({ apiKeyId: spare.apiKey!.id });
    expect(revoked.apiKey?.revokedAt).toBeDefined();
    expect(await codeOf(spareClient.getCurrentTenant({}))).toBe(Code.Unauthenticated);
  });
});

describe("operator API", () => {
  it("issues keys that work and lists them without the secret", async () => {
    const admin = adminClient(app.url);
    const issued = await admin.createApiKey({ tenantId: b.tenantId, name: "ops" });
    expect(issued.secret).toMatch(/^atk_[A-Za-z0-9_-]{43}$/);
    const listed = await admin.listApiKeys({ tenantId: b.tenantId });
    const entry = listed.apiKeys.find((k) => k.id === issued.apiKey?.id);
    expect(entry?.prefix).toBe(issued.secret.slice(0, 12));
    expect(toJsonString(ListApiKeysResponseSchema, listed)).not.toContain(issued.secret);
  });

  it("records when a key was last used", async () => {
    const t = await newTenant(app.url);
    const before = (await adminClient(app.url).listApiKeys({ tenantId: t.tenantId })).apiKeys[0];
    expect(before?.lastUsedAt).toBeUndefined();
    await clientFor(TenantService, app.url, t.key).getCurrentTenant({});
    await expect.poll(async () => (await adminClient(app.url).listApiKeys({ tenantId: t.tenantId })).apiKeys[0]?.lastUsedAt).toBeDefined();
  });

  it("deactivating a tenant shuts out its keys and cannot be done twice", async () => {
    const t = await newTenant(app.url);
    const client = clientFor(TenantService, app.url, t.key);
    await client.getCurrentTenant({});
    const admin = adminClient(app.url);
    const res = await admin.deactivateTenant({ tenantId: t.tenantId });
    expect(res.tenant?.active).toBe(false);
    expect(await codeOf(client.getCurrentTenant({}))).toBe(Code.Unauthenticated);
    expect(await codeOf(admin.deactivateTenant({ tenantId: t.tenantId }))).toBe(Code.FailedPrecondition);
    expect(await codeOf(admin.createApiKey({ tenantId: t.tenantId, name: "x" }))).toBe(Code.FailedPrecondition);
    const active = await admin.listTenants({ pageSize: 500 });
    expect(active.tenants.map((x) => x.id)).not.toContain(t.tenantId);
  });

  it("answers not found for unknown tenants", async () => {
    expect(await codeOf(adminClient(app.url).getTenant({ tenantId: "ten_00000000000000000000000000" }))).toBe(Code.NotFound);
    expect(await codeOf(adminClient(app.url).createApiKey({ tenantId: "ten_00000000000000000000000000", name: "x" }))).toBe(Code.NotFound);
  });

  it("keeps store credentials sealed and only describes them", async () => {
    const { generateKeyPairSync } = await import("node:crypto");
    const pem = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const admin = adminClient(app.url);
    await admin.putAppleCredentials({ tenantId: a.tenantId, bundleId: "com.example.app", keyId: "KEY123", issuerId: "issuer-1", privateKeyPem: pem, environment: 2 });
    const info = await admin.getStoreCredentials({ tenantId: a.tenantId });
    expect(info.apple?.bundleId).toBe("com.example.app");
    expect(toJsonString(GetStoreCredentialsResponseSchema, info)).not.toContain("PRIVATE KEY");
    const other = await admin.getStoreCredentials({ tenantId: b.tenantId });
    expect(other.apple).toBeUndefined();
    expect(await codeOf(admin.deleteStoreCredentials({ tenantId: b.tenantId, store: Store.APPLE }))).toBe(Code.NotFound);
    await admin.deleteStoreCredentials({ tenantId: a.tenantId, store: Store.APPLE });
    expect((await admin.getStoreCredentials({ tenantId: a.tenantId })).apple).toBeUndefined();
  });

  it("a tenant key cannot reach the operator API", async () => {
    expect(await codeOf(clientFor((await import("../gen/ts/attesto/admin/v1/admin_pb.js")).AdminService, app.url, a.key).listTenants({}))).toBe(Code.PermissionDenied);
  });
});

describe("revocation across instances", () => {
  it("a key revoked through one instance stops working on another at once", async () => {
    const other = await startTestServer({ apiKeyCacheMs: 60_000 });
    try {
      const t = await newTenant(app.url);
      const onOther = clientFor(TenantService, other.url, t.key);
      expect((await onOther.getCurrentTenant({})).tenant?.id).toBe(t.tenantId); // now cached for a minute there
      await adminClient(app.url).revokeApiKey({ apiKeyId: t.apiKeyId });
      await expect.poll(() => codeOf(onOther.getCurrentTenant({})), { timeout: 2_000 }).toBe(Code.Unauthenticated);
    } finally {
      await other.stop();
    }
  });
});
