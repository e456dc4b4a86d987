import { createHash, randomBytes } from "node:crypto";
import type { Job } from "bullmq";
import type { JobRuntime } from "../jobs/runtime.js";
import type { Logger } from "../logger.js";
import { TIMESTAMP_QUERY_CONTENT_TYPE, timestampRequest, tokenOfResponse, type TimestampExpectation, type TimestampVerification } from "../verify/rfc3161.js";
import { tsaLabel } from "./settings.js";

export const TIMESTAMP_QUEUE = "timestamp";
/** A TimeStampResp holds a token with its certificates: a few kB; more is not an answer. */
const MAX_RESPONSE_BYTES = 256 * 1024;

/** What the TSA client needs of the Proofstreams facade. */
export interface TimestampedStreams {
  onCheckpointSigned(listener: (streamId: string, treeSize: number) => void): void;
  latestForTimestamp(streamId: string): Promise<{ treeSize: number; logNote: string; timestamped: boolean } | undefined>;
  addTimestampToken(streamId: string, treeSize: number, token: Uint8Array, genTime: Date): Promise<boolean>;
}

/** Checks a token a TSA answered with (the verification library's verifyTimestampToken, wherever it runs). */
export type TokenVerifier = (token: Uint8Array, expect: TimestampExpectation) => Promise<TimestampVerification>;

/** One TSA's figures for /metrics. */
export interface TsaStats {
  tsa: string;
  tokens: number;
  failures: number;
  latencySecondsSum: number;
  latencyCount: number;
  /** 1 while the TSA is failing. */
  down: number;
}

interface StampJob {
  streamId: string;
  treeSize: number;
}

class TsaFailure extends Error {
  constructor(
    message: string,
    /** The named checks a token failed (verify/rfc3161.ts), when it was one that did not verify. */
    readonly failedChecks: string[] = [],
  ) {
    super(message);
  }
}

/**
 * The RFC 3161 client: after a checkpoint is signed, a job on the
 * `timestamp` queue sends a TimeStampReq over the note as the log signed it
 * (SHA-256 imprint, a fresh nonce, certReq) to the configured TSAs in order
 * until one answers with a token that verifies (granted, the imprint, the
 * nonce, the CMS signature, a path to a configured root, the timeStamping
 * key purpose, validity at genTime); the token is stored on the checkpoint.
 * A newer checkpoint of the stream supersedes an older one's job. When no
 * TSA gives one, the job fails and BullMQ retries it with backoff; appends
 * and signing never wait. A TSA that starts failing is logged once, and
 * once again when it answers.
 */
export class TimestampClient {
  readonly #stats = new Map<string, TsaStats>();

  constructor(
    private readonly deps: {
      jobs: JobRuntime;
      logger: Logger;
      streams: TimestampedStreams;
      /** Where tokens are checked: the server's verifier threads (5–30 ms of pkijs a token, kept off the event loop). */
      verifyToken: TokenVerifier;
    },
    private readonly settings: { tsaUrls: string[]; roots: Uint8Array[]; timeoutMs: number; attempts: number; backoffMs: number },
  ) {
    for (const url of settings.tsaUrls) this.#stats.set(url, { tsa: tsaLabel(url), tokens: 0, failures: 0, latencySecondsSum: 0, latencyCount: 0, down: 0 });
  }

  start(): void {
    if (this.settings.tsaUrls.length === 0) return;
    this.deps.jobs.process<StampJob>(TIMESTAMP_QUEUE, (job) => this.#stamp(job), 2);
    this.deps.streams.onCheckpointSigned((streamId, treeSize) => this.enqueue(streamId, treeSize));
  }

  /** Queues the checkpoint for a token; never throws (a lost job is caught up by the stream's next checkpoint). */
  enqueue(streamId: string, treeSize: number): void {
    this.deps.jobs
      .queue(TIMESTAMP_QUEUE)
      .add("stamp", { streamId, treeSize } satisfies StampJob, {
        jobId: `${streamId}-${treeSize}`,
        attempts: this.settings.attempts,
        backoff: { type: "exponential", delay: this.settings.backoffMs },
        removeOnComplete: 1000,
        removeOnFail: 1000,
      })
      .catch((err: Error) => this.deps.logger.warn({ streamId, treeSize, err: err.message }, "could not queue a checkpoint for a timestamp"));
  }

  stats(): TsaStats[] {
    return [...this.#stats.values()].map((s) => ({ ...s }));
  }

  async #stamp(job: Job<StampJob>): Promise<string> {
    const { streamId, treeSize } = job.data;
    const latest = await this.deps.streams.latestForTimestamp(streamId);
    // A newer checkpoint has its own job: the TSA is asked for the newest.
    if (!latest || latest.treeSize !== treeSize) return "superseded";
    if (latest.timestamped) return "already timestamped";
    const reasons: string[] = [];
    for (const url of this.settings.tsaUrls) {
      try {
        const { token, genTime } = await this.#request(url, latest.logNote);
        await this.deps.streams.addTimestampToken(streamId, treeSize, token, genTime);
        return `timestamped by ${tsaLabel(url)}`;
      } catch (err) {
        reasons.push(`${tsaLabel(url)}: ${reasonOf(err, this.settings.timeoutMs)}`);
      }
    }
    throw new TsaFailure(`no TSA timestamped ${streamId} at ${treeSize}: ${reasons.join("; ")}`);
  }

  /** A token over the note from one TSA, verified; a rejection naming why not. */
  async #request(url: string, note: string): Promise<{ token: Uint8Array; genTime: Date }> {
    const stats = this.#stats.get(url)!;
    try {
      const sha256 = new Uint8Array(createHash("sha256").update(note, "utf8").digest());
      const nonce = new Uint8Array(randomBytes(16));
      const started = performance.now();
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": TIMESTAMP_QUERY_CONTENT_TYPE },
        body: timestampRequest(sha256, nonce),
        signal: AbortSignal.timeout(this.settings.timeoutMs),
      });
      const body = new Uint8Array(await res.arrayBuffer());
      stats.latencySecondsSum += (performance.now() - started) / 1000;
      stats.latencyCount++;
      if (res.status !== 200) throw new TsaFailure(`answered HTTP ${res.status}`);
      if (body.length > MAX_RESPONSE_BYTES) throw new TsaFailure(`answered ${body.length} bytes, more than a TimeStampResp`);
      const token = tokenOfResponse(body);
      const verified = await this.deps.verifyToken(token, { sha256, roots: this.settings.roots, nonce });
      const failed = verified.checks.filter((c) => !c.ok);
      if (failed.length > 0)
        throw new TsaFailure(
          `the token fails ${failed.map((c) => `${c.name} (${c.detail})`).join(", ")}`,
          failed.map((c) => c.name),
        );
      stats.tokens++;
      this.#up(url);
      return { token, genTime: verified.genTime! };
    } catch (err) {
      stats.failures++;
      this.#failing(url, err);
      throw err;
    }
  }

  #failing(url: string, err: unknown): void {
    const stats = this.#stats.get(url)!;
    if (stats.down) return;
    stats.down = 1;
    const failedChecks = err instanceof TsaFailure && err.failedChecks.length > 0 ? { failedChecks: err.failedChecks } : {};
    this.deps.logger.warn({ tsa: stats.tsa, reason: reasonOf(err, this.settings.timeoutMs), ...failedChecks }, "a TSA is failing: checkpoints wait for their timestamp (retried with backoff)");
  }

  #up(url: string): void {
    const stats = this.#stats.get(url)!;
    if (!stats.down) return;
    stats.down = 0;
    this.deps.logger.info({ tsa: stats.tsa }, "a TSA answers again");
  }
}

const reasonOf = (err: unknown, timeoutMs: number) => (err instanceof Error ? (err.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : err.message) : String(err));
