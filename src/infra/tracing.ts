import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type SpanOptions } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import { BullMQOtel } from "bullmq-otel";
import { LRUCache } from "lru-cache";

/**
 * OpenTelemetry tracing, off unless an OTLP endpoint is configured. While
 * off, every helper here returns at its first line (one boolean test): no
 * span, no context, no propagation, so the hot paths pay nothing measurable.
 * While on, spans go to the endpoint over OTLP/HTTP (protobuf) in batches.
 */

let provider: TracerProvider | undefined;
let users = 0;
const TRACER = "attesto";

export const tracingEnabled = (): boolean => provider !== undefined;

/** Installs a hook into a client library; returns its removal. */
export type Instrumentation = () => () => void;
const instrumentations = new Set<Instrumentation>();
const installed = new Map<Instrumentation, () => void>();

/**
 * Keeps `instrument` installed while tracing is on (from now if it is on
 * already): client hooks (Postgres statements, Redis commands) are wrapped
 * into their libraries only then, so that while off the libraries run
 * unwrapped. Registering the same function again changes nothing.
 */
export function whileTracing(instrument: Instrumentation): void {
  if (instrumentations.has(instrument)) return;
  instrumentations.add(instrument);
  if (provider) installed.set(instrument, instrument());
}

/** The tracer of Attesto's own spans, for client hooks; undefined while off. */
export const activeTracer = () => (provider ? trace.getTracer(TRACER) : undefined);

export interface TracingSettings {
  /** OTLP/HTTP traces endpoint (…/v1/traces); unset: off. */
  tracesUrl: string | undefined;
  serviceName: string;
}

/**
 * Starts tracing for this process when configured and returns its stop
 * (which flushes what is buffered). Several servers in one process (tests)
 * share one provider; the last stop ends it.
 */
export function startTracing(settings: TracingSettings): () => Promise<void> {
  if (!settings.tracesUrl) return async () => {};
  if (!provider) {
    provider = new TracerProvider({
      resource: resourceFromAttributes({ "service.name": settings.serviceName }),
      spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: settings.tracesUrl }), scheduledDelayMillis: 500 })],
    });
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    trace.setGlobalTracerProvider(provider);
    for (const instrument of instrumentations) installed.set(instrument, instrument());
  }
  users++;
  let stopped = false;
  return async () => {
    if (stopped) return;
    stopped = true;
    if (--users > 0) return provider?.forceFlush();
    const ending = provider;
    provider = undefined;
    for (const uninstall of installed.values()) uninstall();
    installed.clear();
    await ending?.shutdown();
    trace.disable();
    context.disable();
    propagation.disable();
  };
}

/**
 * Runs `fn` in a new span (a child of `parent`, else of the active span),
 * ended when `fn` settles; an error marks it failed, with the error's name
 * only (messages may carry input). Off: `fn()` alone.
 */
export function inSpan<T>(name: string, options: SpanOptions, fn: (span: Span | undefined) => Promise<T>, parent?: Context): Promise<T> {
  if (!provider) return fn(undefined);
  return trace.getTracer(TRACER).startActiveSpan(name, options, parent ?? context.active(), async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.name : "error" });
      throw err;
    } finally {
      span.end();
    }
  });
}

/**
 * Runs `fn` in a span that continues `earlier` (work left by a TraceHandoff:
 * the append a checkpoint covers), linked to the span active now (the
 * periodic job, or an RPC) if any; without `earlier`, a child of the active one.
 */
export function inSpanAfter<T>(name: string, options: SpanOptions, earlier: Context | undefined, fn: () => Promise<T>): Promise<T> {
  if (!provider) return fn();
  if (!earlier || !trace.getSpanContext(earlier)) return inSpan(name, options, fn);
  const now = trace.getSpanContext(context.active());
  return inSpan(name, now ? { ...options, links: [...(options.links ?? []), { context: now }] } : options, fn, earlier);
}

/** The active span's W3C traceparent (to store beside work that continues elsewhere); undefined while off or outside a span. */
export function currentTraceparent(): string | undefined {
  if (!provider) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent;
}

/** The context a stored or received traceparent names (ROOT when it is absent or malformed). */
export function contextOf(traceparent: string | undefined): Context {
  if (!provider || !traceparent) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, { traceparent });
}

/** A context extracted from request headers (`traceparent`, `tracestate`). */
export function contextFromHeaders(get: (name: string) => string | null | undefined): Context {
  return propagation.extract(ROOT_CONTEXT, null, {
    get: (_carrier, key) => get(key) ?? undefined,
    keys: () => ["traceparent", "tracestate"],
  });
}

/** BullMQ's own spans (add, process, delays) and its propagation through job options, while tracing is on. */
export function bullmqTelemetry(): BullMQOtel | undefined {
  return provider ? new BullMQOtel({ tracerName: TRACER }) : undefined;
}

/** How BullMQ carries a parent context in a job's options (`opts.telemetry.metadata`): bullmq-otel's propagation carrier as JSON. */
export const jobTraceMetadata = (traceparent: string) => JSON.stringify({ traceparent });

/**
 * Hands a trace from work that happens now to work that happens later in
 * this process under the same key (an append, then the checkpoint that
 * covers it): the first context left for a key is the one taken.
 */
export class TraceHandoff {
  readonly #pending = new LRUCache<string, string>({ max: 10_000 });

  /** Leaves the active trace for `key`, unless one is waiting already. */
  leave(key: string): void {
    if (!provider || this.#pending.has(key)) return;
    const traceparent = currentTraceparent();
    if (traceparent) this.#pending.set(key, traceparent);
  }

  /** The context left for `key` (ROOT if none), removed. */
  take(key: string): Context | undefined {
    if (!provider) return undefined;
    const traceparent = this.#pending.get(key);
    if (traceparent === undefined) return undefined;
    this.#pending.delete(key);
    return contextOf(traceparent);
  }
}

export { SpanKind, SpanStatusCode };
