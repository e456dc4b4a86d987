import { describe, expect, it } from "vitest";
import { createLogger } from "../logger.js";
import { TROUBLE_LOG_INTERVAL_MS, TroubleLog } from "./trouble-log.js";

/** A TroubleLog on a clock the test moves, and the lines it wrote. */
function troubleLog() {
  const lines: Array<{ msg: string; redis?: string; calls?: number }> = [];
  const clock = { now: 1_000_000 };
  const log = new TroubleLog(createLogger("info", { write: (line: string) => void lines.push(JSON.parse(line)) }), () => clock.now);
  return { log, lines, clock };
}

describe("TroubleLog", () => {
  it("says each kind at most once a minute, with the number of calls since its last line", () => {
    const { log, lines, clock } = troubleLog();
    for (let i = 0; i < 15; i++) {
      log.troubled("slow", "a lease call took 80 ms, over the 50 ms timeout");
      clock.now += 1_000;
    }
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ redis: "slow", calls: 1 });
    expect(lines[0]!.msg).toMatch(/^rate limiter: Redis is slow \(a lease call took 80 ms/);
    clock.now += TROUBLE_LOG_INTERVAL_MS;
    log.troubled("slow", "late again");
    expect(lines).toHaveLength(2);
    // The 14 calls not said since the first line, and this one.
    expect(lines[1]).toMatchObject({ redis: "slow", calls: 15 });
    expect(lines[1]!.msg).toContain("15 lease calls so since the last line");
  });

  it("keeps slow and unavailable apart: each has its own minute and its own words", () => {
    const { log, lines, clock } = troubleLog();
    log.troubled("slow", "late");
    log.troubled("unavailable", "connect ECONNREFUSED 127.0.0.1:6379");
    clock.now += 10_000;
    log.troubled("slow", "late");
    log.troubled("unavailable", "connect ECONNREFUSED 127.0.0.1:6379");
    expect(lines.map((l) => l.redis)).toEqual(["slow", "unavailable"]);
    expect(lines[1]!.msg).toMatch(/^rate limiter: Redis is unavailable \(connect ECONNREFUSED/);
    expect(lines[0]!.msg).not.toContain("unavailable");
  });

  it("says Redis recovered once, and only after a trouble line", () => {
    const { log, lines } = troubleLog();
    log.recovered();
    expect(lines).toHaveLength(0);
    log.troubled("unavailable", "closed");
    log.recovered();
    log.recovered();
    expect(lines.map((l) => l.msg.slice(0, 40))).toEqual(["rate limiter: Redis is unavailable (clos", "rate limiter: Redis answers in time agai"]);
  });
});
