import { spawnSync } from "node:child_process";

/**
 * `npm run test:reliability [-- --long] [vitest args]`: `--long` runs the
 * long form (20,000 hostile cases per route, a 2-minute soak); CI runs the
 * short one. The soak's length can be set with ATTESTO_SOAK_SECONDS.
 */
const args = process.argv.slice(2);
const long = args.includes("--long");
const rest = args.filter((a) => a !== "--long");
const result = spawnSync(process.execPath, ["node_modules/vitest/vitest.mjs", "run", "--config", "vitest.reliability.config.ts", ...rest], {
  stdio: "inherit",
  env: { ...process.env, ...(long ? { ATTESTO_RELIABILITY_LONG: "1" } : {}) },
});
process.exit(result.status ?? 1);
