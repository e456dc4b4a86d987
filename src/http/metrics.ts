import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** Prometheus metrics of one process; served at /metrics. */
export class Metrics {
  readonly registry = new Registry();
  readonly httpDuration = new Histogram({
    name: "attesto_http_request_duration_seconds",
    help: "Time from request to response end, by route (RPC path or HTTP route), method and status.",
    labelNames: ["route", "method", "status"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [this.registry],
  });
  readonly authFailures = new Counter({
    name: "attesto_auth_failures_total",
    help: "Requests refused for missing or bad credentials.",
    registers: [this.registry],
  });

  /** `worker`: the number of this worker of `serve --workers N` (0: a single process). */
  constructor(opts: { worker?: number } = {}) {
    collectDefaultMetrics({ register: this.registry, prefix: "attesto_" });
    // Which process answered: each worker of `serve --workers N` serves its own /metrics, and a scrape through the shared port reaches one of them.
    new Gauge({
      name: "attesto_process_info",
      help: "Always 1; its labels say which process answered (pid) and which worker of `serve --workers N` it is (0: a single process).",
      labelNames: ["pid", "worker"] as const,
      registers: [this.registry],
    }).set({ pid: String(process.pid), worker: String(opts.worker ?? 0) }, 1);
  }

  /** Exports the validation audit writer's queue depth and row counters. */
  trackValidationAudit(audit: { stats(): { queued: number; written: number; dropped: number } }): void {
    new Gauge({
      name: "attesto_validation_audit_queue_depth",
      help: "Validation audit rows waiting in memory to be written.",
      registers: [this.registry],
      collect() {
        this.set(audit.stats().queued);
      },
    });
    totalFrom(this.registry, "attesto_validation_audit_dropped_total", "Validation audit rows dropped (queue full or insert failed).", () => audit.stats().dropped);
    totalFrom(this.registry, "attesto_validation_audit_written_total", "Validation audit rows written.", () => audit.stats().written);
  }

  /** Exports how many RPCs the Connect unary fast path served (the rest went through connect-node). */
  trackFastPath(fast: { stats(): { served: number } }): void {
    totalFrom(this.registry, "attesto_rpc_fast_path_total", "Connect unary calls served by the fast path (not connect-node).", () => fast.stats().served);
  }

  /** Exports the Proofstream appender's warm set: its size against its budget, and how often a commit found a stream in it. */
  trackWarmStreams(source: { warmStreams(): { streams: number; bytes: number; maxBytes: number; hits: number; misses: number } }): void {
    const gauge = (name: string, help: string, read: (s: ReturnType<typeof source.warmStreams>) => number) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(read(source.warmStreams()));
        },
      });
    gauge("attesto_proofstream_warm_streams", "Streams whose append state (owner, right edge of the tree) this process holds.", (s) => s.streams);
    gauge("attesto_proofstream_warm_bytes", "Estimated bytes of the warm set of streams.", (s) => s.bytes);
    gauge("attesto_proofstream_warm_max_bytes", "Budget of the warm set of streams in bytes (least recently appended streams leave first).", (s) => s.maxBytes);
    totalFrom(this.registry, "attesto_proofstream_warm_hits_total", "Streams a commit found in the warm set.", () => source.warmStreams().hits);
    totalFrom(this.registry, "attesto_proofstream_warm_misses_total", "Streams a commit had to read (cold: not appended by this process lately).", () => source.warmStreams().misses);
  }

  /** Exports the periodic checkpoints busy streams got from their commits (CheckpointPace). */
  trackPacedCheckpoints(source: { readonly inCommit: number }): void {
    totalFrom(
      this.registry,
      "attesto_proofstream_checkpoints_in_commit_total",
      "Periodic checkpoints signed inside the commit of a stream's appends (once per ATTESTO_CHECKPOINT_INTERVAL_MS per busy stream and process), not by the periodic job.",
      () => source.inCommit,
    );
  }

  /** Exports appends that waited for their proof (wait_for_proof): how they ended, and the checkpoints signed for them. */
  trackReceipts(source: { receiptStats(): { waits: number; proven: number; pending: number; checkpointsSigned: number; signedAtCommit: number } }): void {
    totalFrom(this.registry, "attesto_proofstream_receipt_waits_total", "Appends that waited for their proof (wait_for_proof).", () => source.receiptStats().waits);
    totalFrom(this.registry, "attesto_proofstream_receipt_proven_total", "Waits answered with a tlog-proof.", () => source.receiptStats().proven);
    totalFrom(this.registry, "attesto_proofstream_receipt_pending_total", "Waits answered PENDING: proof_timeout passed first, or the proof could not be made.", () => source.receiptStats().pending);
    totalFrom(
      this.registry,
      "attesto_proofstream_receipt_checkpoints_total",
      "Checkpoints signed for waiting appends: by their commit (one per stream per commit batch), or after it (each covers every waiter of its stream committed before it; at most one per stream per ATTESTO_RECEIPT_SIGN_INTERVAL_MS per process).",
      () => source.receiptStats().checkpointsSigned,
    );
    totalFrom(
      this.registry,
      "attesto_proofstream_receipt_checkpoints_at_commit_total",
      "Of attesto_proofstream_receipt_checkpoints_total, those signed inside the commit of the appends that waited (the stream's key already in memory).",
      () => source.receiptStats().signedAtCommit,
    );
  }

  /** Per configured witness: cosignatures, failures, add-checkpoint latency, lag in tree size, and whether it is failing. */
  trackWitnesses(source: { stats(): Array<{ name: string; cosigned: number; failures: number; latencySecondsSum: number; latencyCount: number; lag: number; down: number }> }): void {
    const { total, gauge } = this.#perLabel(
      "witness",
      (s) => s.name,
      () => source.stats(),
    );
    total("attesto_witness_cosignatures_total", "Checkpoints a witness cosigned for this deployment.", (s) => s.cosigned);
    total("attesto_witness_failures_total", "add-checkpoint requests to a witness that failed (timeout, refusal, bad answer).", (s) => s.failures);
    total("attesto_witness_latency_seconds_sum", "Seconds spent in add-checkpoint requests a witness answered.", (s) => s.latencySecondsSum);
    total("attesto_witness_latency_seconds_count", "add-checkpoint requests a witness answered.", (s) => s.latencyCount);
    gauge("attesto_witness_lag", "Tree sizes a witness's cosigned checkpoints are behind the newest ones it was asked for, summed over streams.", (s) => s.lag);
    gauge("attesto_witness_down", "1 while a witness is failing (checkpoints wait for its cosignature), else 0.", (s) => s.down);
  }

  /** Per configured TSA: tokens that verified, failures, request latency, and whether it is failing. */
  trackTimestamps(source: { stats(): Array<{ tsa: string; tokens: number; failures: number; latencySecondsSum: number; latencyCount: number; down: number }> }): void {
    const { total, gauge } = this.#perLabel(
      "tsa",
      (s) => s.tsa,
      () => source.stats(),
    );
    total("attesto_tsa_tokens_total", "RFC 3161 tokens a TSA granted that verified on receipt and were stored on a checkpoint.", (s) => s.tokens);
    total("attesto_tsa_failures_total", "Time-stamp requests to a TSA that failed (timeout, HTTP error, refusal, a token that does not verify).", (s) => s.failures);
    total("attesto_tsa_latency_seconds_sum", "Seconds spent in time-stamp requests a TSA answered.", (s) => s.latencySecondsSum);
    total("attesto_tsa_latency_seconds_count", "Time-stamp requests a TSA answered.", (s) => s.latencyCount);
    gauge("attesto_tsa_down", "1 while a TSA is failing (checkpoints wait for their timestamp), else 0.", (s) => s.down);
  }

  /** Counters and gauges with one label, read at scrape time from a list of per-target stats. */
  #perLabel<S>(label: string, labelOf: (s: S) => string, stats: () => S[]) {
    const registers = [this.registry];
    return {
      total: (name: string, help: string, read: (s: S) => number) =>
        new Counter({
          name,
          help,
          labelNames: [label],
          registers,
          collect() {
            this.reset();
            for (const s of stats()) this.inc({ [label]: labelOf(s) }, read(s));
          },
        }),
      gauge: (name: string, help: string, read: (s: S) => number) =>
        new Gauge({
          name,
          help,
          labelNames: [label],
          registers,
          collect() {
            for (const s of stats()) this.set({ [label]: labelOf(s) }, read(s));
          },
        }),
    };
  }

  /** Webhook subscriptions this process disabled for sustained failure (ATTESTO_WEBHOOK_DISABLE_AFTER_*). */
  trackWebhookAutoDisable(source: { autoDisabledTotal: number }): void {
    totalFrom(this.registry, "attesto_webhook_subscriptions_auto_disabled_total", "Webhook subscriptions disabled because their deliveries kept failing.", () => source.autoDisabledTotal);
  }

  /** Exports the rate limiter's denials, the requests it admitted without Redis, and Redis's slow and failed lease calls. */
  trackRateLimits(limits: { stats(): { denied: number; localOnly: number; redisSlow: number; redisUnavailable: number } }): void {
    totalFrom(this.registry, "attesto_rate_limited_total", "Requests refused by a rate limit.", () => limits.stats().denied);
    totalFrom(
      this.registry,
      "attesto_rate_limit_local_only_total",
      "Requests admitted by this process's own token bucket alone while Redis was slow or unavailable (fail open across instances; charged to the shared budget once Redis answers).",
      () => limits.stats().localOnly,
    );
    new Counter({
      name: "attesto_rate_limit_redis_trouble_total",
      help: "Rate-limit lease calls to Redis answered later than ATTESTO_RATE_LIMIT_REDIS_TIMEOUT_MS (kind=slow) or failed (kind=unavailable).",
      labelNames: ["kind"] as const,
      registers: [this.registry],
      collect() {
        const { redisSlow, redisUnavailable } = limits.stats();
        this.reset();
        this.inc({ kind: "slow" }, redisSlow);
        this.inc({ kind: "unavailable" }, redisUnavailable);
      },
    });
  }
}

/** A counter whose value is read from a module's own running total at scrape time. */
function totalFrom(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}
