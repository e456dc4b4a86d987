import { createPublicKey, randomBytes, verify } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Keyring } from "../src/crypto/keyring.js";
import { openDatabase, type Database } from "../src/db/db.js";
import { StreamKeys } from "../src/proofstream/keys.js";
import { parseVerifierKey, signNote } from "../src/proofstream/note.js";
import { createStream, getStream, StreamCreator } from "../src/proofstream/streams.js";
import { createTenant, deactivateTenant } from "../src/tenancy/tenants.js";

let database: Database;
const keyring = new Keyring(randomBytes(32));
const BASE = "https://attesto.example";

beforeAll(async () => {
  database = openDatabase({ url: inject("databaseUrl"), poolSize: 8 });
  await database.migrate();
});
afterAll(() => database?.close());

const tenant = async () => (await createTenant(database.db, `create-${randomBytes(4).toString("hex")}`)).id;

/** Rows written by one transaction share its xmin: the number of commits that wrote these streams. */
async function commitsOf(streamIds: string[]): Promise<number> {
  const [row] = await database.db.execute<{ n: number }>(
    sql`SELECT count(DISTINCT xmin::text)::int AS n FROM streams WHERE id IN (SELECT jsonb_array_elements_text(${JSON.stringify(streamIds)}::jsonb))`,
  );
  return row!.n;
}

describe("creating streams", () => {
  it("creates concurrent streams in one shared statement, each answered as it reads back, its sealed key signing for its verifier key", async () => {
    const tenantId = await tenant();
    const creator = new StreamCreator(database.db, keyring);
    const streams = await Promise.all(Array.from({ length: 40 }, (_, i) => creator.create({ tenantId, name: `s-${i}`, publicBaseUrl: BASE })));
    // The first create starts an insert alone; the other 39 gather behind it and share the next.
    expect(await commitsOf(streams.map((s) => s.id))).toBeLessThanOrEqual(2);
    for (const [i, stream] of streams.entries()) {
      expect(stream.name).toBe(`s-${i}`);
      expect(await getStream(database.db, tenantId, stream.id)).toEqual(stream);
    }
    const stream = streams[7]!;
    const [signer] = (await new StreamKeys(keyring).generation(database.db, stream)).current;
    const vkey = parseVerifierKey(stream.verifierKey);
    expect(vkey.keyId).toBe(signer!.keyId);
    const note = signNote("hello\n", signer!);
    const signature = Buffer.from(note.split(" ").at(-1)!.trim(), "base64").subarray(4);
    expect(verify(null, Buffer.from("hello\n"), createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(vkey.publicKey).toString("base64url") }, format: "jwk" }), signature)).toBe(true);
  });

  it("fails only the streams of a deactivated tenant, and a name PostgreSQL refuses alone and by name, writing nothing for them", async () => {
    const [active, inactive] = [await tenant(), await tenant()];
    await deactivateTenant(database.db, inactive);
    const creator = new StreamCreator(database.db, keyring);
    const outcomes = await Promise.allSettled([
      creator.create({ tenantId: active, name: "ok-1", publicBaseUrl: BASE }),
      creator.create({ tenantId: inactive, name: "refused", publicBaseUrl: BASE }),
      creator.create({ tenantId: active, name: "bad\u0000name", publicBaseUrl: BASE }),
      creator.create({ tenantId: "ten_01J00000000000000000000000", name: "nobody", publicBaseUrl: BASE }),
      creator.create({ tenantId: active, name: "ok-2", publicBaseUrl: BASE }),
    ]);
    const described = outcomes.map((o) => (o.status === "fulfilled" ? o.value.name : `${(o.reason as { code: string }).code}: ${(o.reason as Error).message}`));
    expect(described[0]).toBe("ok-1");
    expect(described[1]).toMatch(/^failed_precondition: tenant is deactivated/);
    expect(described[2]).toMatch(/^invalid_argument: name/);
    expect(described[3]).toMatch(/^not_found/);
    expect(described[4]).toBe("ok-2");
    const [count] = await database.db.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM streams WHERE tenant_id IN (${inactive}, ${active})`);
    expect(count!.n).toBe(2);
  });

  it("creates inside the caller's transaction, and nothing when it rolls back", async () => {
    const tenantId = await tenant();
    let id = "";
    await expect(
      database.db.transaction(async (tx) => {
        id = (await createStream(tx, keyring, { tenantId, name: "rolled back", publicBaseUrl: BASE })).id;
        throw new Error("roll back");
      }),
    ).rejects.toThrow("roll back");
    const [row] = await database.db.execute<{ n: number }>(sql`SELECT (SELECT count(*) FROM streams WHERE id = ${id}) + (SELECT count(*) FROM stream_keys WHERE stream_id = ${id}) AS n`);
    expect(Number(row!.n)).toBe(0);
  });
});
