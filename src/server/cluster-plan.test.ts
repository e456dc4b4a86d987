import { describe, expect, it } from "vitest";
import { afterWorkerExit, poolPerWorker, type AfterExit } from "./cluster-plan.js";

describe("afterWorkerExit", () => {
  const base = { stopping: false, served: true, started: true, startFailures: 0, maxStartFailures: 5 };
  const rows: Array<[string, Partial<typeof base>, AfterExit]> = [
    ["an exit while stopping is expected", { stopping: true }, { action: "none" }],
    ["a failed start while stopping is expected too", { stopping: true, served: false, started: false }, { action: "none" }],
    ["a worker that served and died is replaced at once", {}, { action: "restart", delayMs: 0 }],
    ["even after failed starts before it", { startFailures: 4 }, { action: "restart", delayMs: 0 }],
    ["a worker of the first start that never served ends the server", { served: false, started: false }, { action: "give-up" }],
    ["a replacement that failed to start is tried again, soon", { served: false }, { action: "restart", delayMs: 250 }],
    ["the delay doubles with each failure in a row", { served: false, startFailures: 2 }, { action: "restart", delayMs: 1_000 }],
    ["and is capped", { served: false, startFailures: 6, maxStartFailures: 10 }, { action: "restart", delayMs: 5_000 }],
    ["the last allowed failure in a row gives up", { served: false, startFailures: 4 }, { action: "give-up" }],
    ["one allowed failure: the first gives up", { served: false, maxStartFailures: 1 }, { action: "give-up" }],
  ];
  it.each(rows)("%s", (_, s, expected) => expect(afterWorkerExit({ ...base, ...s })).toEqual(expected));
});

describe("poolPerWorker", () => {
  const rows: Array<[string, Parameters<typeof poolPerWorker>[0], number | undefined]> = [
    ["fits: left as configured", { configured: 20, workers: 2, maxConnections: 100, reserved: 3, inUse: 10 }, undefined],
    ["exactly fits", { configured: 20, workers: 4, maxConnections: 100, reserved: 3, inUse: 17 }, undefined],
    ["5 × 20 on the default 100: shared out", { configured: 20, workers: 5, maxConnections: 100, reserved: 3, inUse: 2 }, 19],
    ["16 cores on the default 100", { configured: 20, workers: 16, maxConnections: 100, reserved: 3, inUse: 1 }, 6],
    ["nothing free: still 2 each (the server refuses what does not fit)", { configured: 20, workers: 8, maxConnections: 100, reserved: 3, inUse: 97 }, 2],
    ["one worker over the budget", { configured: 50, workers: 1, maxConnections: 40, reserved: 3, inUse: 0 }, 37],
  ];
  it.each(rows)("%s", (_, s, expected) => expect(poolPerWorker(s)).toBe(expected));
});
