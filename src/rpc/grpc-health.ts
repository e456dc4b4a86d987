import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/ts/grpc/health/v1/health_pb.js";

export interface HealthDeps {
  /** The same checks as GET /readyz (database and Redis): true when every one passed. */
  ready(): Promise<boolean>;
  /** The services a caller may name ("" is the server as a whole). */
  services: ReadonlySet<string>;
  /** How often a Watch looks at readiness again while the caller stays. */
  watchIntervalMs: number;
}

/**
 * grpc.health.v1.Health: a service's status is the server's readiness (the
 * services share the database and Redis, so they are ready together).
 * Check answers SERVING or NOT_SERVING, NOT_FOUND for a service this server
 * does not serve (the protocol's rule); Watch sends the status, then each
 * change, until the caller goes.
 */
export function healthService(deps: HealthDeps): ServiceImpl<typeof Health> {
  const status = async (service: string) => {
    if (service !== "" && !deps.services.has(service)) return ServingStatus.SERVICE_UNKNOWN;
    return (await deps.ready()) ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
  };
  return {
    async check({ service }) {
      const current = await status(service);
      if (current === ServingStatus.SERVICE_UNKNOWN) throw new ConnectError(`service: ${service} is not served here`, Code.NotFound);
      return { status: current };
    },
    async *watch({ service }, ctx) {
      let last: ServingStatus | undefined;
      while (!ctx.signal.aborted) {
        const current = await status(service);
        if (current !== last) {
          last = current;
          yield { status: current };
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, deps.watchIntervalMs);
          function done() {
            clearTimeout(timer);
            ctx.signal.removeEventListener("abort", done);
            resolve();
          }
          ctx.signal.addEventListener("abort", done);
        });
      }
    },
  };
}

export { Health };
