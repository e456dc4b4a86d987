import type { DescService } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { Health, healthService } from "./grpc-health.js";
import { DescriptorIndex, reflectionServices, ServerReflection, ServerReflectionV1Alpha } from "./grpc-reflection.js";

/** The gRPC services for tools and orchestrators: anyone may call them (interceptors.ts), on every role. */
export const GRPC_OPS_SERVICES: readonly DescService[] = [Health, ServerReflection, ServerReflectionV1Alpha];

/** How often a health Watch looks at readiness again (each look runs the /readyz checks). */
const WATCH_INTERVAL_MS = 5_000;

/**
 * grpc.health.v1.Health (status from the /readyz checks) and
 * grpc.reflection.v1 / v1alpha over `served` and themselves, so buf curl,
 * grpcurl, grpcui and Kubernetes gRPC probes need none of our .proto files.
 */
export function grpcOpsRoutes(served: readonly DescService[], ready: () => Promise<boolean>) {
  return (router: ConnectRouter) => {
    const services = [...served, ...GRPC_OPS_SERVICES];
    router.service(Health, healthService({ ready, services: new Set(services.map((s) => s.typeName)), watchIntervalMs: WATCH_INTERVAL_MS }));
    const reflection = reflectionServices(new DescriptorIndex(services));
    router.service(ServerReflection, reflection.v1);
    router.service(ServerReflectionV1Alpha, reflection.v1alpha);
  };
}
