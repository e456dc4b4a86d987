import { context, SpanKind, SpanStatusCode, trace, type Attributes } from "@opentelemetry/api";
import type postgres from "postgres";
import { activeTracer, tracingEnabled, whileTracing } from "../infra/tracing.js";
import { describeStatement, statementErrorType, type StatementText } from "./statement-text.js";

/**
 * A client span for every statement postgres.js sends while tracing is on
 * and a span is active (OpenTelemetry database conventions: db.system.name,
 * db.namespace, db.operation.name, db.collection.name, db.query.text,
 * server.address/port; failed: error.type and db.response.status_code, the
 * SQLSTATE). The text is the statement as written, with its placeholders:
 * parameters are never read.
 *
 * The hook is postgres.js's Query.handle: every statement passes it once
 * (tagged templates, `unsafe`, Drizzle's prepared statements, the BEGIN,
 * COMMIT and ROLLBACK that `sql.begin` sends itself), in the async context
 * of whoever awaits it; the span ends when the query's own promise settles,
 * so statements pipelined on one connection (group commit) each get theirs.
 * No maintained OpenTelemetry instrumentation exists for postgres.js, and
 * the `debug` option sees a statement sent but not its end (and makes
 * errors carry parameters). Installed only while tracing is on
 * (whileTracing); off, Query.handle is postgres.js's own.
 */

/** The parts of postgres.js's Query (src/query.js) the hook reads; not in its types. */
interface Query extends Promise<unknown> {
  executed: boolean;
  tagged: boolean;
  strings: readonly string[];
  handler: object;
  handle(): Promise<void>;
}

/** Query.prototype, learnt from the first pool opened (postgres.js does not export the class). */
let queryPrototype: Query | undefined;

/** The server attributes of each postgres.js handler: a pool's, and each transaction's (registered by `traceDerivedHandle`). */
const servers = new WeakMap<object, Attributes>();
/** Handlers of the handles seen, so a transaction costs one probe query, not two. */
const handlers = new WeakMap<object, object>();

/** A Query built and never run: it carries the handle's handler. */
function handlerOf(sql: Handle): object {
  let handler = handlers.get(sql);
  if (!handler) handlers.set(sql, (handler = (sql.unsafe("") as unknown as Query).handler));
  return handler;
}

/** Traces the statements of a pool (src/db/db.ts calls it once per pool it opens). */
export function traceStatements(client: postgres.Sql): void {
  const probe = client.unsafe("") as unknown as Query;
  queryPrototype ??= Object.getPrototypeOf(probe) as Query;
  const { host, port, database } = client.options as unknown as { host: string[]; port: number[]; database: string };
  servers.set(probe.handler, { "server.address": host[0], "server.port": port[0], "db.namespace": database });
  whileTracing(installStatementSpans);
}

type Handle = postgres.Sql | postgres.TransactionSql | postgres.ReservedSql;

/**
 * A transaction, savepoint or reserved connection opened on `parent` sends
 * its statements through a handler of its own: it gets the parent's server
 * attributes. Off: one boolean test.
 */
export function traceDerivedHandle(parent: Handle, derived: Handle): void {
  if (!tracingEnabled()) return;
  const server = servers.get(handlerOf(parent));
  if (server) servers.set(handlerOf(derived), server);
}

function installStatementSpans(): () => void {
  const prototype = queryPrototype!;
  const handle = prototype.handle;
  prototype.handle = function (this: Query) {
    if (!this.executed) startSpan(this);
    return handle.call(this);
  };
  return () => {
    prototype.handle = handle;
  };
}

/**
 * Statement texts described before (Drizzle's are a few hundred fixed
 * strings), bounded in count and in size: a multi-row insert's text grows
 * with its rows, and is described each time instead of kept.
 */
const described = new Map<string, StatementText>();
const CACHED_TEXT = 8_192;

function describe(text: string): StatementText {
  let statement = described.get(text);
  if (!statement) {
    statement = describeStatement(text);
    if (text.length > CACHED_TEXT) return statement;
    if (described.size >= 1_000) described.clear();
    described.set(text, statement);
  }
  return statement;
}

function startSpan(query: Query): void {
  const tracer = activeTracer();
  const parent = context.active();
  // Only within a trace: the pollers' statements outside one would each make a trace of their own.
  if (!tracer || !trace.getSpan(parent)) return;
  const text = query.tagged ? query.strings.reduce((sent, part, i) => `${sent}$${i}${part}`) : (query.strings[0] ?? "");
  const statement = describe(text);
  const server = servers.get(query.handler);
  const target = statement.collection ?? (server?.["db.namespace"] as string | undefined);
  const name = statement.operation ? (target ? `${statement.operation} ${target}` : statement.operation) : "postgresql";
  const span = tracer.startSpan(
    name,
    {
      kind: SpanKind.CLIENT,
      attributes: {
        "db.system.name": "postgresql",
        ...server,
        ...(statement.operation ? { "db.operation.name": statement.operation } : {}),
        ...(statement.collection ? { "db.collection.name": statement.collection } : {}),
        "db.query.text": statement.text,
      },
    },
    parent,
  );
  // Promise.prototype.then, not query.then (which is postgres.js's, and would run it); both outcomes handled here.
  void Promise.prototype.then.call(
    query,
    () => span.end(),
    (err: unknown) => {
      const { type, sqlstate } = statementErrorType(err);
      span.setAttribute("error.type", type);
      if (sqlstate) span.setAttribute("db.response.status_code", sqlstate);
      span.setStatus({ code: SpanStatusCode.ERROR, message: type });
      span.end();
    },
  );
}
