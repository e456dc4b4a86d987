import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { openDatabase, type Database } from "../src/db/db.js";
import { databaseIdentity, defaultQueuePrefix } from "../src/db/identity.js";

/** Item 12 of issue 11: two databases on one Redis never share a queue prefix by default. */
const other = `attesto_prefix_${process.pid}_${Date.now()}`;
let admin: postgres.Sql;
let a: Database;
let b: Database;
let aAgain: Database;

beforeAll(async () => {
  const url = new URL(inject("databaseUrl"));
  admin = postgres(url.toString(), { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${other}`);
  const otherUrl = new URL(url);
  otherUrl.pathname = `/${other}`;
  a = openDatabase({ url: url.toString(), poolSize: 1 });
  aAgain = openDatabase({ url: url.toString(), poolSize: 1 });
  b = openDatabase({ url: otherUrl.toString(), poolSize: 1 });
});
afterAll(async () => {
  await Promise.all([a?.close(), b?.close(), aAgain?.close()]);
  await admin?.unsafe(`DROP DATABASE IF EXISTS ${other} WITH (FORCE)`);
  await admin?.end();
});

describe("the default queue prefix", () => {
  it("is the same for every connection to one database and differs between databases of one cluster", async () => {
    const [ia, ia2, ib] = await Promise.all([databaseIdentity(a.db), databaseIdentity(aAgain.db), databaseIdentity(b.db)]);
    expect(ia).toBe(ia2);
    expect(ib).not.toBe(ia);
    expect(defaultQueuePrefix(ia)).toMatch(/^attesto-[0-9]+-attesto_test_/);
    expect(defaultQueuePrefix(ib)).toMatch(/^[A-Za-z0-9_:.-]+$/);
  });
});
