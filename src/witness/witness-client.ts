import type { Job } from "bullmq";
import { and, eq, sql } from "drizzle-orm";
import type { Db } from "../db/db.js";
import type { JobRuntime } from "../jobs/runtime.js";
import type { Logger } from "../logger.js";
import { openNote, splitNote, type NoteVerifier } from "../verify/note.js";
import { formatAddCheckpoint, parseTlogSize, TLOG_SIZE_CONTENT_TYPE } from "./protocol.js";
import { witnessProgress } from "./schema.js";

export const WITNESS_QUEUE = "witness";

/** A witness a deployment submits its checkpoints to. */
export interface WitnessTarget {
  name: string;
  /** Its cosigner verifier key (type 0x04 Ed25519 cosignature/v1, or 0x06 ML-DSA-44). */
  verifier: NoteVerifier;
  /** The submission prefix: add-checkpoint is POSTed to `<url>/add-checkpoint`. */
  url: string;
}

/** What the witness client needs of the Proofstreams facade. */
export interface WitnessedStreams {
  onCheckpointSigned(listener: (streamId: string, treeSize: number) => void): void;
  /** The stream's latest checkpoint: its origin, size, the note as the log signed it, and the witnesses that cosigned it. */
  latestForWitnesses(streamId: string): Promise<{ origin: string; treeSize: number; logNote: string; cosigners: string[] } | undefined>;
  consistencyHashes(streamId: string, fromSize: number, toSize: number): Promise<Buffer[]>;
  addCosignatures(streamId: string, treeSize: number, lines: Array<{ witness: string; line: string }>, quorum: number): Promise<unknown>;
}

/** One witness's figures for /metrics. */
export interface WitnessStats {
  name: string;
  cosigned: number;
  failures: number;
  /** Seconds spent in add-checkpoint requests that answered, summed, and their number. */
  latencySecondsSum: number;
  latencyCount: number;
  /** Tree sizes the witness is behind the newest checkpoint it was asked to cosign, summed over streams: the lag. */
  lag: number;
  /** 1 while the witness is failing. */
  down: number;
}

interface CosignJob {
  streamId: string;
  treeSize: number;
}

class WitnessFailure extends Error {}

/**
 * The C2SP tlog-witness client: after a checkpoint is signed, a job on the
 * `witness` queue submits it to every configured witness that has not
 * cosigned it, each from the size it last cosigned for the stream (with
 * the consistency proof from there; a 409 names the witness's size and the
 * request is sent again from it). The lines that verify with the witness's
 * key are stored on the checkpoint; failures (timeouts, 403, 404, 422,
 * 5xx) fail the job, which BullMQ retries with exponential backoff. Appends
 * and signing never wait for any of it. A witness that starts failing is
 * logged once, and once again when it answers.
 */
export class WitnessClient {
  readonly #stats = new Map<string, WitnessStats>();
  /** Per witness and stream, how far behind it is (for the lag gauge). */
  readonly #lag = new Map<string, Map<string, number>>();

  constructor(
    private readonly deps: { db: Db; jobs: JobRuntime; logger: Logger; streams: WitnessedStreams },
    private readonly settings: { witnesses: WitnessTarget[]; quorum: number; timeoutMs: number; attempts: number; backoffMs: number },
  ) {
    for (const w of settings.witnesses) {
      this.#stats.set(w.name, { name: w.name, cosigned: 0, failures: 0, latencySecondsSum: 0, latencyCount: 0, lag: 0, down: 0 });
      this.#lag.set(w.name, new Map());
    }
  }

  start(): void {
    if (this.settings.witnesses.length === 0) return;
    this.deps.jobs.process<CosignJob>(WITNESS_QUEUE, (job) => this.#cosign(job), 4);
    this.deps.streams.onCheckpointSigned((streamId, treeSize) => this.enqueue(streamId, treeSize));
  }

  /** Queues the checkpoint for its witnesses; never throws (a lost job is caught up by the next checkpoint of the stream). */
  enqueue(streamId: string, treeSize: number): void {
    this.deps.jobs
      .queue(WITNESS_QUEUE)
      .add("cosign", { streamId, treeSize } satisfies CosignJob, {
        jobId: `${streamId}-${treeSize}`,
        attempts: this.settings.attempts,
        backoff: { type: "exponential", delay: this.settings.backoffMs },
        removeOnComplete: 1000,
        removeOnFail: 1000,
      })
      .catch((err: Error) => this.deps.logger.warn({ streamId, treeSize, err: err.message }, "could not queue a checkpoint for its witnesses"));
  }

  stats(): WitnessStats[] {
    return [...this.#stats.values()].map((s) => ({ ...s, lag: [...this.#lag.get(s.name)!.values()].reduce((a, b) => a + b, 0) }));
  }

  async #cosign(job: Job<CosignJob>): Promise<string> {
    const { streamId, treeSize } = job.data;
    const latest = await this.deps.streams.latestForWitnesses(streamId);
    // A newer checkpoint has its own job: witnesses are asked for the newest.
    if (!latest || latest.treeSize !== treeSize) return "superseded";
    const pending = this.settings.witnesses.filter((w) => !latest.cosigners.includes(w.name));
    const results = await Promise.allSettled(pending.map((w) => this.#submit(w, streamId, latest)));
    const lines = results.flatMap((r, i) => (r.status === "fulfilled" ? [{ witness: pending[i]!.name, line: r.value }] : []));
    const quorum = this.settings.quorum || this.settings.witnesses.length;
    if (lines.length > 0 || latest.cosigners.length >= quorum) await this.deps.streams.addCosignatures(streamId, treeSize, lines, quorum);
    const failed = results.filter((r) => r.status === "rejected").length;
    if (failed > 0) throw new WitnessFailure(`${failed} of ${pending.length} witnesses did not cosign ${streamId} at ${treeSize}`);
    return `cosigned by ${lines.length}`;
  }

  /** One witness's cosignature line on the checkpoint, or a rejection naming why not. */
  async #submit(w: WitnessTarget, streamId: string, cp: { origin: string; treeSize: number; logNote: string }): Promise<string> {
    const stats = this.#stats.get(w.name)!;
    let oldSize = await this.#progress(w.name, streamId);
    this.#lag.get(w.name)!.set(streamId, cp.treeSize - oldSize);
    try {
      // A 409 names the witness's size once; a second one in a row means it moved meanwhile.
      for (let round = 0; round < 3; round++) {
        if (oldSize > cp.treeSize) throw new WitnessFailure(`${w.name} has cosigned size ${oldSize} of ${cp.origin}, beyond ${cp.treeSize}`);
        const proof = oldSize > 0 && oldSize < cp.treeSize ? await this.deps.streams.consistencyHashes(streamId, oldSize, cp.treeSize) : [];
        const started = performance.now();
        const res = await fetch(`${w.url.replace(/\/+$/, "")}/add-checkpoint`, {
          method: "POST",
          body: formatAddCheckpoint(oldSize, proof, cp.logNote),
          signal: AbortSignal.timeout(this.settings.timeoutMs),
        });
        const text = await res.text();
        stats.latencySecondsSum += (performance.now() - started) / 1000;
        stats.latencyCount++;
        if (res.status === 409 && res.headers.get("content-type")?.startsWith(TLOG_SIZE_CONTENT_TYPE)) {
          const size = parseTlogSize(text);
          if (size === undefined) throw new WitnessFailure(`${w.name} answered 409 without a size`);
          oldSize = size;
          continue;
        }
        if (res.status !== 200) throw new WitnessFailure(`${w.name} answered ${res.status}`);
        const line = this.#verifiedLine(w, cp.logNote, text);
        await this.#recordProgress(w.name, streamId, cp.treeSize);
        this.#lag.get(w.name)!.set(streamId, 0);
        stats.cosigned++;
        this.#up(w);
        return line;
      }
      throw new WitnessFailure(`${w.name} kept answering 409`);
    } catch (err) {
      stats.failures++;
      this.#failing(w, err);
      throw err;
    }
  }

  /** The witness's own line of a 200 answer, checked with its key (other lines are ignored, as the spec says). */
  #verifiedLine(w: WitnessTarget, logNote: string, body: string): string {
    const lines = body.split("\n").filter((l) => l.startsWith(`— ${w.name} `));
    const { text } = splitNote(logNote);
    for (const line of lines) {
      if (openNote(`${text}\n${line}\n`, [w.verifier]).verifiedBy.length > 0) return `${line}\n`;
    }
    throw new WitnessFailure(`${w.name} answered 200 without a cosignature that verifies with its key`);
  }

  #failing(w: WitnessTarget, err: unknown): void {
    const stats = this.#stats.get(w.name)!;
    if (stats.down) return;
    stats.down = 1;
    const reason = err instanceof Error ? (err.name === "TimeoutError" ? `no answer within ${this.settings.timeoutMs} ms` : err.message) : String(err);
    this.deps.logger.warn({ witness: w.name, reason }, "a witness is failing: checkpoints wait for its cosignature (retried with backoff)");
  }

  #up(w: WitnessTarget): void {
    const stats = this.#stats.get(w.name)!;
    if (!stats.down) return;
    stats.down = 0;
    this.deps.logger.info({ witness: w.name }, "a witness answers again");
  }

  async #progress(witness: string, streamId: string): Promise<number> {
    const [row] = await this.deps.db
      .select({ treeSize: witnessProgress.treeSize })
      .from(witnessProgress)
      .where(and(eq(witnessProgress.witness, witness), eq(witnessProgress.streamId, streamId)))
      .limit(1);
    return row?.treeSize ?? 0;
  }

  /** Only forward: a slower job finishing after a newer one leaves the larger size. */
  async #recordProgress(witness: string, streamId: string, treeSize: number): Promise<void> {
    await this.deps.db
      .insert(witnessProgress)
      .values({ witness, streamId, treeSize })
      .onConflictDoUpdate({
        target: [witnessProgress.witness, witnessProgress.streamId],
        set: { treeSize: sql`greatest(${witnessProgress.treeSize}, excluded.tree_size)`, updatedAt: new Date() },
      });
  }
}
