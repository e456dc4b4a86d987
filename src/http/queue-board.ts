import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { HonoAdapter } from "@bull-board/hono";
import { createHash, timingSafeEqual } from "node:crypto";
import { serveStatic } from "@hono/node-server/serve-static";
import type { Context, Hono, Next } from "hono";
import { AppError } from "../errors.js";
import type { JobRuntime } from "../jobs/runtime.js";
import type { Authenticator } from "../tenancy/module.js";
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

const sha256 = (s: string) => createHash("sha256").update(s).digest();

/**
 * Board auth: the operator token may do everything; the viewer token
 * (ATTESTO_BOARD_VIEWER_TOKEN, a second operator role) may only look (GET),
 * its retries, promotions and removals are refused with 403. Anything else
 * gets 401 and a Basic challenge.
 */
export function requireOperator(authenticator: Pick<Authenticator, "isOperatorToken">, viewerToken?: string) {
  const viewerHash = viewerToken ? sha256(viewerToken) : undefined;
  return async (c: Context, next: Next) => {
    const token = operatorToken(c.req.header("authorization"));
    if (token && authenticator.isOperatorToken(token)) return next();
    if (token && viewerHash && timingSafeEqual(sha256(token), viewerHash)) {
      if (c.req.method === "GET" || c.req.method === "HEAD") return next();
      return errorResponse(c, new AppError("permission_denied", "the viewer token only shows the queues; retrying, promoting or removing jobs takes the operator token"));
    }
    c.header("WWW-Authenticate", 'Basic realm="Attesto operators", charset="UTF-8"');
    return errorResponse(c, new AppError("unauthenticated", "the queue board takes the operator token (Bearer, or Basic with the token as password)", { reason: "OPERATOR_TOKEN_INVALID" }));
  };
}

/** The board's page without its third-party font stylesheet: it works offline and loads nothing from elsewhere. */
async function selfContained(c: Context, next: Next) {
  await next();
  if (!c.res.headers.get("content-type")?.startsWith("text/html")) return;
  const html = (await c.res.text()).replace(/<link[^>]+href="https:\/\/fonts\.(googleapis|gstatic)\.com[^"]*"[^>]*>\s*/g, "");
  const headers = new Headers(c.res.headers);
  headers.delete("content-length");
  // Its own scripts, styles, images and API only (the UI sets inline styles).
  headers.set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; base-uri 'self'; form-action 'none'");
  c.res = new Response(html, { status: c.res.status, headers });
}

/**
 * The BullMQ board (@bull-board) at /admin/queues behind operator auth. It
 * shows every queue of this process — deliveries and periodic jobs among
 * them — including queues created after it was mounted. A delivery job is
 * named by its event type and endpoint host and carries the tenant and, once
 * retried, "attempt n of N" and the last status; never a body or secret.
 * The jobs are only timers: the delivery rows in Postgres hold the truth.
 */
export function mountQueueBoard(app: Hono, deps: { jobs: Pick<JobRuntime, "queues">; authenticator: Pick<Authenticator, "isOperatorToken">; viewerToken?: string }): void {
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
  const auth = requireOperator(deps.authenticator, deps.viewerToken);
  app.use(BOARD_PATH, auth, selfContained, syncQueues);
  app.use(`${BOARD_PATH}/*`, auth, selfContained, syncQueues);
  app.route(BOARD_PATH, serverAdapter.registerPlugin());
}
