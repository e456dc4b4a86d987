import type http from "node:http";
import type http2 from "node:http2";
import type { DescService } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { contentTypeStreamRegExp, contentTypeUnaryRegExp, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { contentTypeRegExp as grpcContentType } from "@connectrpc/connect/protocol-grpc";
import { contentTypeRegExp as grpcWebContentType } from "@connectrpc/connect/protocol-grpc-web";
import { AppError } from "../errors.js";
import { toConnectError } from "./errors.js";

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;
type Listener = (req: NodeRequest, res: NodeResponse) => void;

/** `/<package>.<Service>/<Method>`: a path an RPC client built, whether or not it exists. */
const RPC_SHAPED_PATH = /^\/((?:[a-z_][a-z0-9_]*\.)+)([A-Z][A-Za-z0-9_]*)\/([A-Za-z_][A-Za-z0-9_]*)$/;

/** What connect-node serves, by request path: whether the method streams and whether it may be called with GET. */
export interface RpcMethodIndex {
  methods: Map<string, { streaming: boolean; get: boolean }>;
  /** Served services by their name without the package (`AdminService` → its full names). */
  services: Map<string, string[]>;
}

export function rpcMethodIndex(services: readonly DescService[], prefix = ""): RpcMethodIndex {
  const index: RpcMethodIndex = { methods: new Map(), services: new Map() };
  for (const service of services) {
    for (const method of service.methods) {
      index.methods.set(`${prefix}/${service.typeName}/${method.name}`, {
        streaming: method.methodKind !== "unary",
        get: method.methodKind === "unary" && method.idempotency === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS,
      });
    }
    const names = index.services.get(service.name) ?? [];
    index.services.set(service.name, [...names, service.typeName]);
  }
  return index;
}

/** The path of a request, without its query. */
const pathOf = (req: NodeRequest) => (req.url ?? "/").split("?", 1)[0]!;

/** An error in the Connect protocol's JSON, which every Connect client reads whatever the status; gRPC clients read the status. */
function answer(res: NodeResponse, status: number, err: AppError, headers: Record<string, string> = {}): void {
  const body = errorToJsonBytes(toConnectError(err), {});
  (res as http.ServerResponse).writeHead(status, { ...headers, "Content-Type": "application/json", "Content-Length": body.byteLength });
  res.end(body);
}

const UNARY_TYPES = "application/json or application/proto (Connect), application/grpc (gRPC), application/grpc-web (gRPC-Web)";
const STREAM_TYPES = "application/connect+json or application/connect+proto (Connect), application/grpc (gRPC), application/grpc-web (gRPC-Web)";

/**
 * Where connect-node would answer an empty 415 or 405 to a method it serves
 * (no or another Content-Type, a GET without `encoding`, a GET to a method
 * that changes things), the answer says what it takes, as a Connect error
 * with ErrorInfo (BODY_INVALID); the rest goes to `next` untouched. Placed
 * behind the fast path, which takes only well-formed unary calls.
 */
export function withMediaTypeCheck(index: RpcMethodIndex, next: Listener): Listener {
  return (req, res) => {
    const method = index.methods.get(pathOf(req));
    if (method === undefined) return next(req, res);
    if (req.method === "GET") {
      const encoding = new URL(req.url ?? "/", "http://x").searchParams.get("encoding");
      if (!method.get) return answer(res, 405, new AppError("invalid_argument", `${pathOf(req)} changes state: call it with POST`, { reason: "BODY_INVALID" }), { Allow: "POST" });
      if (encoding !== "json" && encoding !== "proto") {
        return answer(res, 415, new AppError("invalid_argument", "a GET call names its encoding: ?encoding=json (or proto)&message=…", { field: "encoding", reason: "BODY_INVALID" }));
      }
      return next(req, res);
    }
    const type = req.headers["content-type"] ?? "";
    const connect = method.streaming ? contentTypeStreamRegExp : contentTypeUnaryRegExp;
    if (connect.test(type) || grpcContentType.test(type) || grpcWebContentType.test(type)) return next(req, res);
    const types = method.streaming ? STREAM_TYPES : UNARY_TYPES;
    const said = type === "" ? "no Content-Type" : `Content-Type ${JSON.stringify(type.slice(0, 100))}`;
    answer(res, 415, new AppError("invalid_argument", `${said}: this method takes ${types}`, { reason: "BODY_INVALID" }), { "Accept-Post": types.replace(/ \([^)]*\)/g, "").replace(/ or /g, ", ") });
  };
}

/**
 * A path shaped like an RPC that no service here serves answers 404 (the
 * Connect protocol's status for UNIMPLEMENTED) as a Connect error with
 * ErrorInfo (ROUTE_NOT_FOUND) that says why: the service under its real
 * package (`attesto.v1.AdminService` → `attesto.admin.v1.AdminService`), the
 * service without that method, or no such service. Nothing else: true when
 * it answered, false for `next` (the plain HTTP routes).
 */
export function unknownRpcRoute(index: RpcMethodIndex): (req: NodeRequest, res: NodeResponse) => boolean {
  return (req, res) => {
    const m = RPC_SHAPED_PATH.exec(pathOf(req));
    if (!m) return false;
    const [, dottedPackage, serviceName, methodName] = m as unknown as [string, string, string, string];
    const asked = `${dottedPackage}${serviceName}`;
    const known = index.services.get(serviceName) ?? [];
    let message: string;
    if (known.includes(asked)) {
      message = `${asked} has no method ${methodName}`;
    } else if (known.length > 0) {
      const real = known.find((name) => index.methods.has(`/${name}/${methodName}`));
      message = real
        ? `there is no service ${asked}: the service is ${real} (call /${real}/${methodName})`
        : `there is no service ${asked}: ${serviceName} is ${known.join(", ")}, without a method ${methodName}`;
    } else {
      message = `there is no service ${asked} (the services are listed by gRPC reflection and in proto/)`;
    }
    answer(res, 404, new AppError("unimplemented", message, { reason: "ROUTE_NOT_FOUND" }));
    return true;
  };
}
