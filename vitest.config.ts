import { configDefaults, defineConfig } from "vitest/config";

// Two tiers (docs/architecture.md, "Two test tiers"):
// - unit: the specs beside their code in src/ and the repository checks; no PostgreSQL, no Redis
//   (npm run test:unit, or vitest run --project unit).
// - integration: test/ (full-stack, real PostgreSQL and Redis) and the specs beside code that need
//   a service, named *.int.test.ts (npm run test:integration).
// npm test runs both. The reliability suite runs on its own (npm run test:reliability).
const REPOSITORY_CHECKS = ["test/architecture.test.ts", "test/docs.test.ts", "test/dockerfile.test.ts"];

export default defineConfig({
  test: {
    pool: "forks",
    // Servers the tests spawn run as one process each (serve's default is a worker per core):
    // several test servers on a 2-core machine, each forking workers with their own pools,
    // would oversubscribe Postgres's 100 connections. test/serve-workers.test.ts asks for
    // --workers 2 itself.
    env: { ATTESTO_WORKERS: "1" },
    // As cli/main.ts does for the service: protobuf-es encodes bytes with Uint8Array.prototype.toBase64 when the runtime has it.
    setupFiles: ["src/infra/uint8array-to-base64.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          // Pure specs share a process well, and worker threads start a little faster than forks (the tier
          // on this 2-core machine with PostgreSQL and Redis stopped: 39.4 s on threads, 40.8 s on forks).
          pool: "threads",
          include: ["src/**/*.test.ts", ...REPOSITORY_CHECKS],
          exclude: [...configDefaults.exclude, "src/**/*.int.test.ts"],
        },
      },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["test/**/*.test.ts", "src/**/*.int.test.ts", "packages/*/test/**/*.int.test.ts"],
          exclude: [...configDefaults.exclude, "test/reliability/**", ...REPOSITORY_CHECKS],
          globalSetup: ["test/support/global-setup.ts"],
        },
      },
    ],
  },
});
