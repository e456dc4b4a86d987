import type { DescMethodUnary, DescService } from "@bufbuild/protobuf";
import { createServiceImplSpec, type ConnectRouter, type MethodImplSpec, type ServiceImpl } from "@connectrpc/connect";
import { createMethodSerializationLookup, createMethodUrl, type MethodSerializationLookup, type UniversalHandlerOptions } from "@connectrpc/connect/protocol";
import type { DescMessage } from "@bufbuild/protobuf";

/** A unary method the fast path serves: its implementation and its (de)serializers. */
export interface FastUnaryMethod {
  spec: MethodImplSpec & { kind: "unary"; method: DescMethodUnary };
  serialization: MethodSerializationLookup<DescMessage, DescMessage>;
}

/** One `router.service(…)` call of a routes function. */
export interface ServiceRegistration {
  service: DescService;
  implementation: Partial<ServiceImpl<DescService>>;
  options: Partial<UniversalHandlerOptions> | undefined;
}

/**
 * Runs a routes function once against a router that only records, so both
 * connect-node (through `replay`) and the fast path get the very same
 * service implementations (built once: a service may hold state).
 */
export function recordRoutes(routes: (router: ConnectRouter) => void): { registrations: ServiceRegistration[]; replay(router: ConnectRouter): void } {
  const registrations: ServiceRegistration[] = [];
  const recorder: ConnectRouter = {
    handlers: [],
    service(service, implementation, options) {
      registrations.push({ service, implementation: implementation as ServiceRegistration["implementation"], options });
      return this;
    },
    rpc() {
      throw new Error("router.rpc is not recorded: register whole services");
    },
  };
  routes(recorder);
  return {
    registrations,
    replay(router) {
      for (const r of registrations) router.service(r.service, r.implementation, r.options);
    },
  };
}

/**
 * The unary methods of the registered services, by request path. The
 * implementations are bound by connect's own `createServiceImplSpec` (as its
 * router does), and the serializers made by connect's
 * `createMethodSerializationLookup` with the adapter's options, so JSON
 * options, read limits and the patches (binary parse errors, describeInputError) are the same on both paths.
 */
export function fastUnaryMethods(registrations: ServiceRegistration[], opt: UniversalHandlerOptions, prefix = ""): Map<string, FastUnaryMethod> {
  const methods = new Map<string, FastUnaryMethod>();
  for (const { service, implementation, options } of registrations) {
    // Per-service options would give that service other limits or serializers: it stays on connect-node.
    if (options && Object.keys(options).length > 0) continue;
    for (const spec of Object.values(createServiceImplSpec(service, implementation).methods)) {
      if (spec.kind !== "unary") continue;
      const method = spec.method as DescMethodUnary;
      methods.set(prefix + createMethodUrl("/", method), {
        spec: spec as FastUnaryMethod["spec"],
        serialization: createMethodSerializationLookup(method, opt.binaryOptions, opt.jsonOptions, opt),
      });
    }
  }
  return methods;
}
