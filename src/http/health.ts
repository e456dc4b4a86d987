import type { Logger } from "../logger.js";

export interface Readiness {
  status: "ready" | "unavailable";
  checks: Record<string, "ok" | "unavailable">;
}

/** Runs the named readiness checks (2 s each); a failure is logged by name, never its detail to the caller. */
export async function readiness(checks: Record<string, () => Promise<void>>, logger: Logger): Promise<Readiness> {
  const results = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      try {
        await withTimeout(check(), 2_000);
        return [name, "ok"] as const;
      } catch (err) {
        logger.warn({ check: name, err: (err as Error).message }, "readiness check failed");
        return [name, "unavailable"] as const;
      }
    }),
  );
  const ready = results.every(([, state]) => state === "ok");
  return { status: ready ? "ready" : "unavailable", checks: Object.fromEntries(results) };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]);
}
