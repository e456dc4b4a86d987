import { defineConfig } from "vitest/config";

/**
 * The reliability suite (issue 11): crashes, dependency faults, hostile
 * input, isolation, secrets and a soak, one file at a time (they load the
 * machine), printing one table at the end. `npm run test:reliability`;
 * `-- --long` for the long form.
 */
export default defineConfig({
  test: {
    include: ["test/reliability/**/*.test.ts"],
    globalSetup: ["test/support/global-setup.ts", "test/reliability/global-setup.ts"],
    pool: "forks",
    // Servers the tests spawn run as one process each (serve's default is a worker per core):
    // several test servers on a 2-core machine, each forking workers with their own pools,
    // would oversubscribe Postgres's 100 connections. test/serve-workers.test.ts asks for
    // --workers 2 itself.
    env: { ATTESTO_WORKERS: "1" },
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 120_000,
  },
});
