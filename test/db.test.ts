import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtemp, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Keyring } from "../src/crypto/keyring.js";
import { openDatabase, type Database } from "../src/db/db.js";
import { openConfiguredDatabase } from "../src/db/open.js";
import { normalizeDbError, sqlState, withDbErrors } from "../src/db/errors.js";
import { appleCredentials, googleCredentials } from "../src/store/schema.js";
import { apiKeys, tenants } from "../src/tenancy/schema.js";
import { AppError } from "../src/errors.js";
import { migrationsFolder } from "../src/paths.js";
import { APPLE_KEY_CONTEXT, GOOGLE_ACCOUNT_CONTEXT, openApplePrivateKey, putAppleCredentials, putGoogleCredentials } from "../src/store/credentials.js";
import { findPrincipalByKeyHash, hashApiKey, issueApiKey, looksLikeApiKey, revokeApiKey } from "../src/tenancy/api-keys.js";
import { createTenant, deactivateTenant, getTenant, listTenants } from "../src/tenancy/tenants.js";

const tempDir = (prefix = "attesto-db-") => mkdtemp(path.join(os.tmpdir(), prefix));

/** Awaits a promise that must reject with an AppError of `code`, and returns it. */
async function rejectsWith(promise: Promise<unknown>, code: string): Promise<AppError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected a rejection with ${code}`).toBeInstanceOf(AppError);
  expect((err as AppError).code).toBe(code);
  return err as AppError;
}

/** The error a promise rejects with (fails when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: unknown) => e,
  );
}

const unique = (label: string) => `${label}-${randomBytes(6).toString("hex")}`;

function p256Pem(): string {
  return generateKeyPairSync("ec", {
    namedCurve: "P-256",
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
    publicKeyEncoding: { type: "spki", format: "pem" },
  }).privateKey;
}

// The same domain tests on the run's PostgreSQL and on the embedded default (one cluster for this file).
const databases = [
  { driver: "postgres" as const, embedded: false, open: async () => openDatabase({ url: inject("databaseUrl"), poolSize: 4 }) },
  {
    driver: "embedded" as const,
    embedded: true,
    open: async () => openConfiguredDatabase({ databaseUrl: undefined, dataDir: await tempDir(), embeddedPgUser: "attesto", dbPoolSize: 4 }),
  },
];

describe.each(databases)("database on $driver", ({ driver, embedded, open }) => {
  let database: Database;
  const keyring = new Keyring(randomBytes(32));

  beforeAll(async () => {
    database = await open();
    await database.migrate();
  });

  afterAll(async () => {
    await database?.close();
  });

  it("opens the requested database and answers a ping", async () => {
    const [row] = await database.db.execute<{ port: number }>(sql`SELECT inet_server_port() AS port`);
    if (embedded) expect(row!.port).toBe((database as Awaited<ReturnType<typeof openConfiguredDatabase>>).embedded!.port);
    else expect(row!.port).toBe(Number(new URL(inject("databaseUrl")).port || 5432));
    await expect(database.ping()).resolves.toBeUndefined();
  });

  it("migrate() a second time is idempotent", async () => {
    const journal = JSON.parse(await readFile(path.join(migrationsFolder(), "meta", "_journal.json"), "utf8")) as { entries: unknown[] };
    const count = async () => {
      const rows = await database.db.select({ n: sql<number>`count(*)::int` }).from(sql`drizzle.__drizzle_migrations`);
      return rows[0]!.n;
    };
    expect(await count()).toBe(journal.entries.length);
    await database.migrate();
    await database.migrate();
    expect(await count()).toBe(journal.entries.length);
    // The schema still works after re-running.
    const tenant = await createTenant(database.db, unique("after-migrate"));
    expect((await getTenant(database.db, tenant.id)).name).toBe(tenant.name);
  });

  describe("tenants", () => {
    it("creates and reads a tenant", async () => {
      const name = unique(`${driver}-create`);
      const tenant = await createTenant(database.db, name);
      expect(tenant.id).toMatch(/^ten_[0-9A-HJKMNP-TV-Z]{26}$/);
      expect(tenant.name).toBe(name);
      expect(tenant.active).toBe(true);
      expect(tenant.deactivatedAt).toBeNull();
      expect(tenant.createdAt).toBeInstanceOf(Date);
      const read = await getTenant(database.db, tenant.id);
      expect(read).toEqual(tenant);
    });

    it("getTenant of an unknown id is not_found", async () => {
      const err = await rejectsWith(getTenant(database.db, `ten_${unique("missing")}`), "not_found");
      expect(err.message).toBe("tenant not found");
    });

    it("lists tenants in pages, following page tokens, with and without inactive ones", async () => {
      const prefix = unique(`${driver}-list`);
      const mine: string[] = [];
      for (let i = 0; i < 5; i++) mine.push((await createTenant(database.db, `${prefix}-${i}`)).id);
      await deactivateTenant(database.db, mine[2]!);

      async function walk(includeInactive: boolean) {
        const seen: string[] = [];
        let pageToken: string | undefined;
        let pages = 0;
        for (;;) {
          const page = await listTenants(database.db, { pageSize: 2, pageToken, includeInactive });
          pages++;
          expect(page.tenants.length).toBeLessThanOrEqual(2);
          if (page.nextPageToken) expect(page.tenants).toHaveLength(2);
          for (const t of page.tenants) {
            if (!includeInactive) expect(t.active).toBe(true);
            seen.push(t.id);
          }
          if (!page.nextPageToken) break;
          pageToken = page.nextPageToken;
          expect(pages).toBeLessThan(100_000);
        }
        return { seen, pages };
      }

      const active = await walk(false);
      expect([...active.seen].sort()).toEqual(active.seen); // ascending id order across pages
      expect(new Set(active.seen).size).toBe(active.seen.length); // no id twice
      expect(active.pages).toBeGreaterThanOrEqual(3); // at least 4 of ours, 2 per page
      // ULIDs made within one millisecond need not sort in creation order: compare with ours sorted.
      const sorted = [...mine].sort();
      expect(active.seen.filter((id) => mine.includes(id))).toEqual(sorted.filter((id) => id !== mine[2]));

      const all = await walk(true);
      expect(new Set(all.seen).size).toBe(all.seen.length);
      expect(all.seen.filter((id) => mine.includes(id))).toEqual(sorted);
    });

    it("pageSize 0 falls back to pages of 50", async () => {
      const prefix = unique(`${driver}-default`);
      for (let i = 0; i < 51; i++) await createTenant(database.db, `${prefix}-${i}`);
      const page = await listTenants(database.db, { pageSize: 0, includeInactive: true });
      expect(page.tenants).toHaveLength(50);
      expect(page.nextPageToken).not.toBe("");
      const next = await listTenants(database.db, { pageSize: 0, pageToken: page.nextPageToken, includeInactive: true });
      expect(next.tenants.length).toBeGreaterThan(0);
      expect(next.tenants[0]!.id > page.tenants[49]!.id).toBe(true);
    });

    it("deactivating twice answers failed_precondition; an unknown tenant not_found", async () => {
      const tenant = await createTenant(database.db, unique(`${driver}-deactivate`));
      const first = await deactivateTenant(database.db, tenant.id);
      expect(first.active).toBe(false);
      expect(first.deactivatedAt).toBeInstanceOf(Date);
      const err = await rejectsWith(deactivateTenant(database.db, tenant.id), "failed_precondition");
      expect(err.message).toContain("already deactivated");
      // The second call changed nothing.
      expect(await getTenant(database.db, tenant.id)).toEqual(first);
      await rejectsWith(deactivateTenant(database.db, `ten_${unique("nobody")}`), "not_found");
    });
  });

  describe("api keys", () => {
    it("an issued key resolves by hash until revoked", async () => {
      const tenant = await createTenant(database.db, unique(`${driver}-keys`));
      const { apiKey, secret } = await issueApiKey(database.db, tenant.id, "ci");
      expect(looksLikeApiKey(secret)).toBe(true);
      expect(apiKey.prefix).toBe(secret.slice(0, 12));
      expect(apiKey).not.toHaveProperty("keyHash");
      expect(JSON.stringify(apiKey)).not.toContain(secret);

      expect(await findPrincipalByKeyHash(database.db, hashApiKey(secret))).toEqual({
        kind: "tenant",
        tenantId: tenant.id,
        apiKeyId: apiKey.id,
      });
      // Only the hash is stored.
      const [row] = await database.db.select().from(apiKeys).where(eq(apiKeys.id, apiKey.id));
      expect(row!.keyHash).toBe(hashApiKey(secret));
      expect(JSON.stringify(row)).not.toContain(secret);

      const revoked = await revokeApiKey(database.db, apiKey.id, tenant.id);
      expect(revoked.revokedAt).toBeInstanceOf(Date);
      expect(revoked.keyHash).toBe(hashApiKey(secret));
      expect(await findPrincipalByKeyHash(database.db, hashApiKey(secret))).toBeNull();

      // Revoking again returns the revoked key, with the same revocation time.
      const again = await revokeApiKey(database.db, apiKey.id);
      expect(again.revokedAt).toEqual(revoked.revokedAt);
    });

    it("revoking with another tenant's id is not_found and leaves the key working", async () => {
      const owner = await createTenant(database.db, unique(`${driver}-owner`));
      const other = await createTenant(database.db, unique(`${driver}-other`));
      const { apiKey, secret } = await issueApiKey(database.db, owner.id, "backend");
      const err = await rejectsWith(revokeApiKey(database.db, apiKey.id, other.id), "not_found");
      expect(err.message).toBe("api key not found");
      expect(await findPrincipalByKeyHash(database.db, hashApiKey(secret))).not.toBeNull();
      await rejectsWith(revokeApiKey(database.db, `key_${unique("missing")}`), "not_found");
    });

    it("a deactivated tenant's keys stop resolving and it cannot get new ones", async () => {
      const tenant = await createTenant(database.db, unique(`${driver}-gone`));
      const { secret } = await issueApiKey(database.db, tenant.id, "k");
      await deactivateTenant(database.db, tenant.id);
      expect(await findPrincipalByKeyHash(database.db, hashApiKey(secret))).toBeNull();
      await rejectsWith(issueApiKey(database.db, tenant.id, "k2"), "failed_precondition");
      await rejectsWith(issueApiKey(database.db, `ten_${unique("none")}`, "k"), "not_found");
    });

    it("an unknown hash resolves to null", async () => {
      expect(await findPrincipalByKeyHash(database.db, hashApiKey(`atk_${unique("x")}`))).toBeNull();
    });
  });

  describe("error normalization", () => {
    it("a duplicate primary key is already_exists (SQLSTATE 23505)", async () => {
      const tenant = await createTenant(database.db, unique(`${driver}-dup`));
      const err = await rejection(database.db.insert(tenants).values({ id: tenant.id, name: "again" }));
      expect(sqlState(err)).toBe("23505");
      const normalized = normalizeDbError(err, { unique: "tenant already exists" });
      expect(normalized).toBeInstanceOf(AppError);
      expect(normalized.code).toBe("already_exists");
      expect(normalized.message).toBe("tenant already exists");
      expect(normalized.cause).toBe(err);
      expect(normalizeDbError(err).message).toBe("already exists");
      // The same, through withDbErrors.
      await rejectsWith(
        withDbErrors(() => database.db.insert(tenants).values({ id: tenant.id, name: "again" })),
        "already_exists",
      );
      // The original row is untouched.
      expect((await getTenant(database.db, tenant.id)).name).toBe(tenant.name);
    });

    it("a missing foreign key is failed_precondition (SQLSTATE 23503)", async () => {
      const err = await rejection(database.db.insert(apiKeys).values({ id: `key_${unique("fk")}`, tenantId: `ten_${unique("none")}`, name: "x", keyHash: "h", prefix: "atk_" }));
      expect(sqlState(err)).toBe("23503");
      expect(normalizeDbError(err).code).toBe("failed_precondition");
    });

    it("a null in a not-null column is invalid_argument (SQLSTATE 23502)", async () => {
      const err = await rejection(database.db.execute(sql`INSERT INTO tenants (id, name) VALUES (${`ten_${unique("null")}`}, NULL)`));
      expect(sqlState(err)).toBe("23502");
      expect(normalizeDbError(err).code).toBe("invalid_argument");
    });

    it("an AppError passes through unchanged; an unknown error becomes internal", () => {
      const app = new AppError("not_found", "x not found");
      expect(normalizeDbError(app)).toBe(app);
      expect(normalizeDbError(new Error("boom")).code).toBe("internal");
    });
  });

  describe("store credentials", () => {
    it("seals the Apple private key at rest and opens it for the tenant only", async () => {
      const tenant = await createTenant(database.db, unique(`${driver}-apple`));
      const pem = p256Pem();
      const info = await putAppleCredentials(database.db, keyring, tenant.id, {
        bundleId: "com.example.app",
        keyId: "ABC123DEFG",
        issuerId: "57246542-96fe-1a63-e053-0824d011072a",
        environment: "sandbox",
        privateKeyPem: pem,
      });
      expect(info).toMatchObject({ bundleId: "com.example.app", keyId: "ABC123DEFG", environment: "sandbox" });
      expect(info.updatedAt).toBeInstanceOf(Date);
      expect(info).not.toHaveProperty("privateKeyEnc");
      expect(info).not.toHaveProperty("privateKeyPem");

      const [row] = await database.db.select({ enc: appleCredentials.privateKeyEnc }).from(appleCredentials).where(eq(appleCredentials.tenantId, tenant.id));
      const raw = row!.enc;
      expect(Buffer.isBuffer(raw)).toBe(true);
      expect(raw.length).toBe(Buffer.byteLength(pem, "utf8") + 28);
      expect(raw.includes(Buffer.from(pem, "utf8"))).toBe(false);
      expect(raw.includes(Buffer.from("PRIVATE KEY", "utf8"))).toBe(false);
      const body = pem.split("\n")[1]!;
      expect(raw.includes(Buffer.from(body, "utf8"))).toBe(false);
      // Sealed under the documented context, bound to the tenant.
      expect(keyring.decryptText(APPLE_KEY_CONTEXT, raw, tenant.id)).toBe(pem);

      expect(await openApplePrivateKey(database.db, keyring, tenant.id)).toBe(pem);

      // Copied to another tenant's row, the sealed key does not open there.
      const thief = await createTenant(database.db, unique(`${driver}-thief`));
      await putAppleCredentials(database.db, keyring, thief.id, { ...info, privateKeyPem: p256Pem() });
      await database.db.update(appleCredentials).set({ privateKeyEnc: raw }).where(eq(appleCredentials.tenantId, thief.id));
      await rejectsWith(openApplePrivateKey(database.db, keyring, thief.id), "internal");

      // A different master key cannot open it either.
      await rejectsWith(openApplePrivateKey(database.db, new Keyring(randomBytes(32)), tenant.id), "internal");
    });

    it("replaces Apple credentials on a second put", async () => {
      const tenant = await createTenant(database.db, unique(`${driver}-apple2`));
      const base = { bundleId: "com.example.a", keyId: "K1", issuerId: "I1", environment: "sandbox" as const };
      await putAppleCredentials(database.db, keyring, tenant.id, { ...base, privateKeyPem: p256Pem() });
      const pem2 = p256Pem();
      const info = await putAppleCredentials(database.db, keyring, tenant.id, { ...base, environment: "production", privateKeyPem: pem2 });
      expect(info.environment).toBe("production");
      expect(await openApplePrivateKey(database.db, keyring, tenant.id)).toBe(pem2);
      const rows = await database.db.select().from(appleCredentials).where(eq(appleCredentials.tenantId, tenant.id));
      expect(rows).toHaveLength(1);
    });

    it("rejects a key that is not EC P-256 as invalid_argument naming private_key_pem", async () => {
      const tenant = await createTenant(database.db, unique(`${driver}-apple-bad`));
      const rsa = generateKeyPairSync("rsa", {
        modulusLength: 2048,
        privateKeyEncoding: { type: "pkcs8", format: "pem" },
        publicKeyEncoding: { type: "spki", format: "pem" },
      }).privateKey;
      const p384 = generateKeyPairSync("ec", {
        namedCurve: "P-384",
        privateKeyEncoding: { type: "pkcs8", format: "pem" },
        publicKeyEncoding: { type: "spki", format: "pem" },
      }).privateKey;
      for (const privateKeyPem of [rsa, p384, "not a pem"]) {
        const err = await rejectsWith(
          putAppleCredentials(database.db, keyring, tenant.id, {
            bundleId: "com.example.app",
            keyId: "K",
            issuerId: "I",
            environment: "production",
            privateKeyPem,
          }),
          "invalid_argument",
        );
        expect(err.details.field).toBe("private_key_pem");
        expect(err.message.startsWith("private_key_pem: ")).toBe(true);
        expect(err.message).not.toContain(privateKeyPem);
      }
      // Nothing was stored.
      await rejectsWith(openApplePrivateKey(database.db, keyring, tenant.id), "not_found");
    });

    it("rejects Apple credentials for an unknown tenant as not_found", async () => {
      await rejectsWith(
        putAppleCredentials(database.db, keyring, `ten_${unique("none")}`, {
          bundleId: "b",
          keyId: "k",
          issuerId: "i",
          environment: "sandbox",
          privateKeyPem: p256Pem(),
        }),
        "not_found",
      );
    });

    it("rejects a Google service account that is not JSON, or not a service account, naming service_account_json", async () => {
      const tenant = await createTenant(database.db, unique(`${driver}-google-bad`));
      for (const serviceAccountJson of ["{not json", "", '{"type":"authorized_user"}', "null", '{"type":"service_account","client_email":"a@b"}']) {
        const err = await rejectsWith(
          putGoogleCredentials(database.db, keyring, tenant.id, { packageName: "com.example.app", serviceAccountJson, pubsubAudience: null, pubsubPushEmail: null }),
          "invalid_argument",
        );
        expect(err.details.field, serviceAccountJson).toBe("service_account_json");
        expect(err.message.startsWith("service_account_json: ")).toBe(true);
      }
      const rows = await database.db.select().from(googleCredentials).where(eq(googleCredentials.tenantId, tenant.id));
      expect(rows).toHaveLength(0);
    });

    it("stores a valid Google service account sealed, returning its client_email", async () => {
      const tenant = await createTenant(database.db, unique(`${driver}-google`));
      const privateKey = p256Pem();
      const serviceAccountJson = JSON.stringify({
        type: "service_account",
        client_email: "rtdn@example.iam.gserviceaccount.com",
        private_key: privateKey,
      });
      const info = await putGoogleCredentials(database.db, keyring, tenant.id, {
        packageName: "com.example.app",
        serviceAccountJson,
        pubsubAudience: "https://attesto.example/google",
        pubsubPushEmail: "rtdn-push@example.iam.gserviceaccount.com",
      });
      expect(info).toMatchObject({
        packageName: "com.example.app",
        clientEmail: "rtdn@example.iam.gserviceaccount.com",
        pubsubAudience: "https://attesto.example/google",
      });
      const [row] = await database.db.select().from(googleCredentials).where(eq(googleCredentials.tenantId, tenant.id));
      expect(row!.serviceAccountEnc.includes(Buffer.from(serviceAccountJson, "utf8"))).toBe(false);
      expect(row!.serviceAccountEnc.includes(Buffer.from("private_key", "utf8"))).toBe(false);
      expect(keyring.decryptText(GOOGLE_ACCOUNT_CONTEXT, row!.serviceAccountEnc, tenant.id)).toBe(serviceAccountJson);
    });
  });
});
