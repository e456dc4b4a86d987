import { contextFromHeaders, inSpan, SpanKind } from "../infra/tracing.js";
import { ConnectError, type Interceptor } from "@connectrpc/connect";
import { toAppError } from "../errors.js";
import { toConnectError } from "./errors.js";
import type { Logger } from "../logger.js";
import type { Authenticator } from "../tenancy/module.js";
import { principalKey } from "./context.js";
import { validateMessage } from "../contract/validation.js";
import { outageOr, withDeadline } from "../contract/outages.js";

export type Access = "operator" | "tenant" | "public";

/** Who may call each service; anything not listed takes a tenant key. */
const serviceAccess: Record<string, Access> = {
  "attesto.admin.v1.AdminService": "operator",
  "attesto.v1.VerifierService": "public",
  // Probes and tools (grpc-ops.ts): the server's readiness and the contract's descriptors, both public anyway (/readyz, the protos).
  "grpc.health.v1.Health": "public",
  "grpc.reflection.v1.ServerReflection": "public",
  "grpc.reflection.v1alpha.ServerReflection": "public",
};

export const accessOf = (serviceTypeName: string): Access => serviceAccess[serviceTypeName] ?? "tenant";

/**
 * Maps whatever a handler throws to a Connect error, once. Domain errors keep
 * their message; an outage of the database or queue is UNAVAILABLE with a
 * retry time; anything else is logged and answered as a bare internal error
 * so no detail of it reaches the caller.
 */
export function errorInterceptor(logger: Logger): Interceptor {
  return (next) => async (req) => {
    try {
      return await next(req);
    } catch (err) {
      if (err instanceof ConnectError) throw err;
      const appError = toAppError(outageOr(err));
      if (appError.code === "internal") {
        logger.error({ err: appError.cause ?? err, rpc: req.url }, "rpc failed");
      }
      throw toConnectError(appError);
    }
  };
}

/** Tracing on only: each call is a server span, the child of the caller's `traceparent` if it sent one. */
export const tracingInterceptor: Interceptor = (next) => (req) =>
  inSpan(
    `${req.service.typeName}/${req.method.name}`,
    { kind: SpanKind.SERVER, attributes: { "rpc.service": req.service.typeName, "rpc.method": req.method.name } },
    () => next(req),
    contextFromHeaders((name) => req.header.get(name)),
  );

/** A unary call that has not finished within `ms` answers UNAVAILABLE (retryable) instead of hanging; 0: no deadline. */
export function deadlineInterceptor(ms: number): Interceptor {
  return (next) => (req) => (req.stream ? next(req) : withDeadline(ms, () => next(req)));
}

/** Resolves the caller and enforces the service's access rule. */
export function authInterceptor(authenticator: Authenticator): Interceptor {
  return (next) => async (req) => {
    const access = accessOf(req.service.typeName);
    const authorization = req.header.get("authorization");
    if (access === "operator") {
      await authenticator.requireOperator(authorization);
      req.contextValues.set(principalKey, { kind: "operator" });
    } else if (access === "tenant") {
      req.contextValues.set(principalKey, await authenticator.requireTenant(authorization));
    }
    return next(req);
  };
}

/** Checks every unary request against the contract's field rules. */
export const validationInterceptor: Interceptor = (next) => async (req) => {
  if (!req.stream) validateMessage(req.method.input, req.message);
  return next(req);
};
