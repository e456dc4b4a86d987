import { ConnectError, type Interceptor } from "@connectrpc/connect";
import { RetryInfoSchema } from "../../gen/ts/google/rpc/error_details_pb.js";
import { connectCodeOf, toAppError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { Authenticator } from "../tenancy/authenticator.js";
import { principalKey } from "./context.js";
import { validateMessage } from "./validation.js";

export type Access = "operator" | "tenant" | "public";

/** Who may call each service; anything not listed takes a tenant key. */
const serviceAccess: Record<string, Access> = {
  "attesto.v1.AdminService": "operator",
  "attesto.v1.VerifierService": "public",
};

export const accessOf = (serviceTypeName: string): Access => serviceAccess[serviceTypeName] ?? "tenant";

/**
 * Maps whatever a handler throws to a Connect error, once. Domain errors keep
 * their message; anything else is logged and answered as a bare internal error
 * so no detail of it reaches the caller.
 */
export function errorInterceptor(logger: Logger): Interceptor {
  return (next) => async (req) => {
    try {
      return await next(req);
    } catch (err) {
      if (err instanceof ConnectError) throw err;
      const appError = toAppError(err);
      if (appError.code === "internal") {
        logger.error({ err: appError.cause ?? err, rpc: req.url }, "rpc failed");
      }
      // A retry hint travels as the standard google.rpc.RetryInfo detail.
      const retryAfter = appError.details.retryAfterSeconds;
      const details = retryAfter ? [{ desc: RetryInfoSchema, value: { retryDelay: { seconds: BigInt(retryAfter) } } }] : undefined;
      throw new ConnectError(appError.message, connectCodeOf(appError.code), undefined, details, err);
    }
  };
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
