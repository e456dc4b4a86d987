import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import type { ConnectionLimits } from "../config.js";

export type RequestListener = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => void;

/** The first bytes of every HTTP/2 prior-knowledge (h2c) connection. */
const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export const DEFAULT_LIMITS: ConnectionLimits = { headersTimeoutMs: 10_000, requestTimeoutMs: 60_000, idleTimeoutMs: 65_000, maxConnectionsPerIp: 1024, maxPendingBodies: 4096 };

export interface DualServer {
  readonly address: net.AddressInfo;
  /** Stops accepting, lets in-flight requests finish, and forces the rest after graceMs. */
  close(graceMs: number): Promise<void>;
}

/**
 * One port for both HTTP/1.1 (browsers, curl, Connect, gRPC-Web, webhooks)
 * and h2c (native gRPC): each new connection is handed to the HTTP/2 server
 * when it opens with the HTTP/2 preface, else to the HTTP/1.1 server. Node's
 * plaintext HTTP/2 server cannot fall back to HTTP/1.1 by itself.
 */
export async function listenDual(handler: RequestListener, host: string, port: number, limits: ConnectionLimits = DEFAULT_LIMITS): Promise<DualServer> {
  // keepAliveTimeout is Node's own idle timer; the head and body deadlines are armed below.
  const h1 = http.createServer({ keepAliveTimeout: limits.idleTimeoutMs }, handler);
  const h2 = http2.createServer({}, handler);
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.ServerHttp2Session>();
  // HTTP/1.1 requests in progress per connection. The HTTP/1.1 server never
  // listens itself, so it does not track connections (its closeIdleConnections()
  // cannot be used) and never arms its header and request timeouts: both are
  // enforced here, with one deadline per connection.
  const h1Active = new Map<net.Socket, number>();
  const { deadline, clearDeadline, waitsFor } = connectionDeadlines();
  const perIp = new Map<string, number>();
  const trackBody = pendingBodyLimit(limits.maxPendingBodies);
  let closing = false;
  const endIfIdle = (socket: net.Socket) => {
    if (closing && (h1Active.get(socket) ?? 0) === 0) socket.end();
  };
  h1.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket;
    h1Active.set(socket, (h1Active.get(socket) ?? 0) + 1);
    // The head is complete: the body must arrive within the request timeout (as Node's
    // own requestTimeout: receiving the request, not making the answer).
    deadline(socket, "body", limits.requestTimeoutMs);
    trackBody(req, res);
    // (Node reads an unread body only after the answer: by then the connection may wait for the next request.)
    req.once("end", () => waitsFor(socket) === "body" && clearDeadline(socket));
    if (closing) res.setHeader("Connection", "close");
    res.once("close", () => {
      const active = (h1Active.get(socket) ?? 1) - 1;
      h1Active.set(socket, active);
      // Waiting for the next request: it must come, head complete, within the idle timeout.
      if (active === 0) deadline(socket, "next", limits.idleTimeoutMs);
      endIfIdle(socket);
    });
  });
  h2.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    // A session with no stream activity (a preface and nothing else, or idle) is closed.
    session.setTimeout(limits.idleTimeoutMs, () => session.destroy());
  });

  // noDelay: http.createServer would set it on its own sockets; without it
  // Nagle's algorithm holds small responses back for milliseconds.
  const server = net.createServer({ pauseOnConnect: true, noDelay: true, keepAlive: true }, (socket) => {
    const ip = socket.remoteAddress ?? "";
    const open = (perIp.get(ip) ?? 0) + 1;
    if (limits.maxConnectionsPerIp > 0 && open > limits.maxConnectionsPerIp) {
      socket.destroy();
      return;
    }
    perIp.set(ip, open);
    sockets.add(socket);
    socket.once("close", () => {
      sockets.delete(socket);
      clearDeadline(socket);
      const left = (perIp.get(ip) ?? 1) - 1;
      if (left > 0) perIp.set(ip, left);
      else perIp.delete(ip);
    });
    // A connection must say something (and, for HTTP/1.1, finish its first request head) in time.
    deadline(socket, "head", limits.headersTimeoutMs);
    socket.once("data", (first) => {
      socket.pause();
      socket.unshift(first);
      const n = Math.min(first.length, H2_PREFACE.length);
      const isH2 = n >= 3 && first.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      if (isH2) {
        // From here the session's idle timeout governs the connection.
        clearDeadline(socket);
        // The HTTP/2 session reads the socket's handle itself and takes over the
        // buffered preface; resuming here would hand those bytes to nobody.
        h2.emit("connection", socket);
      } else {
        h1Active.set(socket, 0);
        socket.once("close", () => h1Active.delete(socket));
        h1.emit("connection", socket);
        socket.resume();
      }
    });
    socket.once("error", () => socket.destroy());
    socket.resume();
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });

  return {
    address: server.address() as net.AddressInfo,
    async close(graceMs) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      closing = true;
      for (const socket of h1Active.keys()) endIfIdle(socket);
      for (const session of sessions) session.close();
      const deadline = setTimeout(() => {
        for (const session of sessions) session.destroy();
        for (const socket of sockets) socket.destroy();
      }, graceMs);
      await closed;
      clearTimeout(deadline);
    },
  };
}

/**
 * One deadline per connection, for what it waits for: the first request head, a request body, or
 * the next request. A connection still waiting at its deadline is destroyed.
 */
function connectionDeadlines() {
  const deadlines = new Map<net.Socket, { timer: NodeJS.Timeout; waitsFor: "head" | "body" | "next" }>();
  return {
    deadline(socket: net.Socket, waitsFor: "head" | "body" | "next", ms: number) {
      clearTimeout(deadlines.get(socket)?.timer);
      deadlines.set(socket, { timer: setTimeout(() => socket.destroy(), ms).unref(), waitsFor });
    },
    clearDeadline(socket: net.Socket) {
      clearTimeout(deadlines.get(socket)?.timer);
      deadlines.delete(socket);
    },
    waitsFor: (socket: net.Socket) => deadlines.get(socket)?.waitsFor,
  };
}

/**
 * Bounds the HTTP/1.1 requests whose body is still arriving to `max` (0: no bound): past it, the
 * connection of the oldest is destroyed.
 */
function pendingBodyLimit(max: number) {
  // Requests with a body still arriving, oldest first (a Map iterates in insertion order).
  const pendingBodies = new Map<http.IncomingMessage, net.Socket>();
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    const hasBody = req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
    if (!hasBody || max <= 0) return;
    if (pendingBodies.size >= max) {
      const [oldest, oldestSocket] = pendingBodies.entries().next().value!;
      pendingBodies.delete(oldest);
      oldestSocket.destroy();
    }
    pendingBodies.set(req, req.socket);
    const settled = () => pendingBodies.delete(req);
    req.once("end", settled);
    res.once("close", settled);
  };
}
