import { defineConfig } from "vitest/config";

// Benchmarks that need the isolated stores of test/support (bench/*.vitest.ts): run one at a
// time through their npm script, never in npm test.
export default defineConfig({
  test: {
    include: ["bench/**/*.vitest.ts"],
    globalSetup: ["test/support/global-setup.ts"],
    pool: "forks",
    env: { ATTESTO_WORKERS: "1" },
    fileParallelism: false,
    testTimeout: 1_800_000,
    hookTimeout: 120_000,
  },
});
