import postgres from "postgres";
import type { TestProject } from "vitest/node";

/**
 * One fresh Postgres database per test run, on the real server
 * (ATTESTO_TEST_DATABASE_URL, default the local one with trust auth), dropped
 * afterwards. Tests isolate themselves by creating their own tenants.
 */
export default async function setup(project: TestProject) {
  const adminUrl = process.env.ATTESTO_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
  const name = `attesto_test_${process.pid}_${Date.now()}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  project.provide("databaseUrl", url.toString());
  project.provide("redisUrl", process.env.ATTESTO_TEST_REDIS_URL ?? "redis://127.0.0.1:6379");
  // Queues are namespaced per run, so concurrent runs on one Redis stay apart.
  project.provide("queuePrefix", name);
  return async () => {
    await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  };
}

declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string;
    redisUrl: string;
    queuePrefix: string;
  }
}
