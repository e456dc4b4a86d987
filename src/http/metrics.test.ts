import { describe, expect, it } from "vitest";
import { Metrics } from "./metrics.js";

/** A sample's value from the text exposition format. */
async function sample(metrics: Metrics, name: string): Promise<string | undefined> {
  const text = await metrics.registry.metrics();
  return new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text)?.[1];
}

describe("process metrics", () => {
  it("says which process and worker answered", async () => {
    const text = await new Metrics({ worker: 3 }).registry.metrics();
    expect(text).toContain(`attesto_process_info{pid="${process.pid}",worker="3"} 1`);
    expect(await new Metrics().registry.metrics()).toContain(`worker="0"`);
  });

  it("reads each module's running totals at scrape time", async () => {
    const metrics = new Metrics();
    const audit = { queued: 4, written: 10, dropped: 1 };
    const fast = { served: 0 };
    const limits = { denied: 2, localOnly: 0, redisSlow: 1, redisUnavailable: 0 };
    metrics.trackValidationAudit({ stats: () => audit });
    metrics.trackFastPath({ stats: () => fast });
    metrics.trackRateLimits({ stats: () => limits });
    expect(await sample(metrics, "attesto_validation_audit_queue_depth")).toBe("4");
    expect(await sample(metrics, "attesto_validation_audit_written_total")).toBe("10");
    expect(await sample(metrics, "attesto_rpc_fast_path_total")).toBe("0");
    audit.written = 25;
    audit.queued = 0;
    fast.served = 9;
    limits.localOnly = 5;
    limits.redisUnavailable = 3;
    expect(await sample(metrics, "attesto_validation_audit_written_total")).toBe("25");
    expect(await sample(metrics, "attesto_validation_audit_queue_depth")).toBe("0");
    expect(await sample(metrics, "attesto_validation_audit_dropped_total")).toBe("1");
    expect(await sample(metrics, "attesto_rpc_fast_path_total")).toBe("9");
    expect(await sample(metrics, "attesto_rate_limited_total")).toBe("2");
    expect(await sample(metrics, "attesto_rate_limit_local_only_total")).toBe("5");
    const text = await metrics.registry.metrics();
    expect(text).toContain('attesto_rate_limit_redis_trouble_total{kind="slow"} 1');
    expect(text).toContain('attesto_rate_limit_redis_trouble_total{kind="unavailable"} 3');
  });

  it("records request durations by route, method and status", async () => {
    const metrics = new Metrics();
    metrics.httpDuration.observe({ route: "/healthz", method: "GET", status: "200" }, 0.003);
    metrics.authFailures.inc();
    const text = await metrics.registry.metrics();
    expect(text).toContain('attesto_http_request_duration_seconds_count{route="/healthz",method="GET",status="200"} 1');
    expect(await sample(metrics, "attesto_auth_failures_total")).toBe("1");
  });
});
