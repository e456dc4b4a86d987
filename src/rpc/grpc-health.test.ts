import { ConnectError, Code, type HandlerContext } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { HealthCheckRequestSchema, HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/ts/grpc/health/v1/health_pb.js";
import { healthService } from "./grpc-health.js";

/** What the handlers read of their context: the signal that ends the call. */
const context = (signal: AbortSignal) => ({ signal }) as HandlerContext;

describe("grpc.health.v1.Health", () => {
  it("Check follows readiness; an unknown service is NOT_FOUND", async () => {
    let ready = true;
    const health = healthService({ ready: async () => ready, services: new Set(["attesto.v1.TenantService"]), watchIntervalMs: 10 });
    const check = (service: string) => health.check(create(HealthCheckRequestSchema, { service }), context(new AbortController().signal));
    expect(await check("")).toEqual({ status: ServingStatus.SERVING });
    expect(await check("attesto.v1.TenantService")).toEqual({ status: ServingStatus.SERVING });
    ready = false;
    expect(await check("")).toEqual({ status: ServingStatus.NOT_SERVING });
    const unknown = await Promise.resolve(check("no.Such")).catch((err: unknown) => err);
    expect(unknown).toBeInstanceOf(ConnectError);
    expect((unknown as ConnectError).code).toBe(Code.NotFound);
  });

  it("Watch sends the status, then each change only, and ends when the caller goes", async () => {
    const states = [true, true, false, false, true];
    let looks = 0;
    const caller = new AbortController();
    const health = healthService({ ready: async () => states[Math.min(looks++, states.length - 1)]!, services: new Set(), watchIntervalMs: 1 });
    const seen: ServingStatus[] = [];
    for await (const { status } of health.watch(create(HealthCheckRequestSchema, {}), context(caller.signal))) {
      seen.push(status!);
      if (seen.length === 3) caller.abort();
    }
    expect(seen).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING, ServingStatus.SERVING]);
    // An unknown service is watched too (it may become known): SERVICE_UNKNOWN, and the call stays.
    const second = new AbortController();
    const unknown = health.watch(create(HealthCheckRequestSchema, { service: "no.Such" }), context(second.signal))[Symbol.asyncIterator]();
    expect((await unknown.next()).value).toEqual({ status: ServingStatus.SERVICE_UNKNOWN });
    second.abort();
    expect((await unknown.next()).done).toBe(true);
  });
});
