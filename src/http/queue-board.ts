import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { HonoAdapter } from "@bull-board/hono";
import { serveStatic } from "@hono/node-server/serve-static";
import type { Context, Hono, Next } from "hono";
import { AppError } from "../errors.js";
import type { JobRuntime } from "../jobs/runtime.js";
import type { Authenticator } from "../tenancy/authenticator.js";
import { errorResponse } from "./errors.js";

export const BOARD_PATH = "/admin/queues";

/**
 * The operator token from `Authorization: Bearer <token>` or, for browsers,
 * HTTP Basic with the token as the password (any user name).
 */
function operatorToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (bearer) return bearer[1];
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!basic) return undefined;
  const decoded = Buffer.from(basic[1]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon >= 0 ? decoded.slice(colon + 1) : undefined;
}

/** Operator auth for the board: anything but the operator token gets 401 and a Basic challenge. */
export function requireOperator(authenticator: Authenticator) {
  return async (c: Context, next: Next) => {
    const token = operatorToken(c.req.header("authorization"));
    if (token && authenticator.isOperatorToken(token)) return next();
    c.header("WWW-Authenticate", 'Basic realm="Attesto operators", charset="UTF-8"');
    return errorResponse(c, new AppError("unauthenticated", "the queue board takes the operator token (Bearer, or Basic with the token as password)", { reason: "OPERATOR_TOKEN_INVALID" }));
  };
}

/**
 * The BullMQ board (@bull-board) at /admin/queues behind operator auth. It
 * shows every queue of this process — deliveries and periodic jobs among
 * them — including queues created after it was mounted.
 */
export function mountQueueBoard(app: Hono, deps: { jobs: JobRuntime; authenticator: Authenticator }): void {
  const serverAdapter = new HonoAdapter(serveStatic).setBasePath(BOARD_PATH);
  const shown = new Set<string>();
  const board = createBullBoard({ queues: [], serverAdapter, options: { uiConfig: { boardTitle: "Attesto queues" } } });
  const syncQueues = async (_c: Context, next: Next) => {
    const queues = deps.jobs.queues();
    if (queues.length !== shown.size || queues.some((q) => !shown.has(q.name))) {
      board.replaceQueues(queues.map((q) => new BullMQAdapter(q)));
      shown.clear();
      for (const q of queues) shown.add(q.name);
    }
    await next();
  };
  const auth = requireOperator(deps.authenticator);
  app.use(BOARD_PATH, auth, syncQueues);
  app.use(`${BOARD_PATH}/*`, auth, syncQueues);
  app.route(BOARD_PATH, serverAdapter.registerPlugin());
}
