import { context, SpanKind, SpanStatusCode, trace, type Context } from "@opentelemetry/api";
import { Pipeline, Redis } from "ioredis";
import { activeTracer, whileTracing } from "./tracing.js";

/**
 * A client span for every Redis command sent while tracing is on and a span
 * is active: ours (rate limits, broadcast, caches, the webhook throttle) and
 * BullMQ's, whose connections are instances of the same ioredis class
 * (`duplicate()` included). The span names the command only
 * (db.operation.name, db.system.name = redis, db.namespace = the database
 * index, server.address/port): keys and arguments are never read.
 *
 * Hooked on Redis.prototype.sendCommand, which every command passes
 * (pipelines and auto-pipelining too), installed only while tracing is on.
 * @opentelemetry/instrumentation-ioredis patches the same method, but through
 * a require hook: ioredis is loaded before tracing starts (and imported as
 * ESM), so it would have to be applied to the module by hand anyway, and it
 * records arguments unless given a serializer; this is the part we need,
 * without its dependencies.
 */

/** The parts of ioredis's Command the hook reads (ioredis's own Command type has no symbol slots). */
interface Command {
  name: string;
  promise: Promise<unknown>;
  [QUEUED_IN]?: Context;
  [TRACED]?: true;
}
type SendCommand = (this: Redis, command: Command, ...rest: unknown[]) => unknown;
type QueueCommand = (this: Pipeline, command: Command) => unknown;

/** The context a pipelined command was queued in (the pipeline is sent later, from another context). */
const QUEUED_IN = Symbol("attesto.queuedIn");
/** Set on a command that has its span (a command sent again from the offline queue gets no second). */
const TRACED = Symbol("attesto.traced");

function installRedisSpans(): () => void {
  const redis = Redis.prototype as unknown as { sendCommand: SendCommand };
  const pipeline = Pipeline.prototype as unknown as { sendCommand: QueueCommand };
  const send = redis.sendCommand;
  const queue = pipeline.sendCommand;
  pipeline.sendCommand = function (command) {
    command[QUEUED_IN] ??= context.active();
    return queue.call(this, command);
  };
  redis.sendCommand = function (command, ...rest) {
    const tracer = activeTracer();
    const parent = command[QUEUED_IN] ?? context.active();
    if (!tracer || command[TRACED] || !trace.getSpan(parent)) return send.call(this, command, ...rest);
    command[TRACED] = true;
    const operation = command.name.toUpperCase();
    const { host, port, db } = this.options;
    const span = tracer.startSpan(
      operation,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          "db.system.name": "redis",
          "db.operation.name": operation,
          "db.namespace": String(db ?? 0),
          ...(host ? { "server.address": host } : {}),
          ...(port ? { "server.port": port } : {}),
        },
      },
      parent,
    );
    command.promise.then(
      () => span.end(),
      (err: unknown) => {
        // The class only (ReplyError, MaxRetriesPerRequestError): a reply's message may quote a key or a script's values.
        const type = err instanceof Error ? err.name : "Error";
        span.setAttribute("error.type", type);
        span.setStatus({ code: SpanStatusCode.ERROR, message: type });
        span.end();
      },
    );
    return send.call(this, command, ...rest);
  };
  return () => {
    redis.sendCommand = send;
    pipeline.sendCommand = queue;
  };
}

/** Traces Redis commands while tracing is on (src/infra/redis.ts calls it when it opens Redis). */
export const traceRedisCommands = () => whileTracing(installRedisSpans);
