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
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 120_000,
  },
});
