import { configDefaults, defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "src/**/*.test.ts"],
    // The reliability suite runs on its own (npm run test:reliability).
    exclude: [...configDefaults.exclude, "test/reliability/**"],
    globalSetup: ["test/support/global-setup.ts"],
    pool: "forks",
    // Servers the tests spawn run as one process each (serve's default is a worker per core):
    // several test servers on a 2-core machine, each forking workers with their own pools,
    // would oversubscribe Postgres's 100 connections. test/serve-workers.test.ts asks for
    // --workers 2 itself.
    env: { ATTESTO_WORKERS: "1" },
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
