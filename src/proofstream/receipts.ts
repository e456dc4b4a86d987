import type { Logger } from "../logger.js";
import type { CheckpointRecord } from "./checkpoints.js";
import type { AppendResult, EventRecord } from "./event-record.js";
import { tlogProofText } from "./tlog-proof.js";

/** The longest an append may wait for its proof, and the wait when the caller names none. */
export const MAX_PROOF_TIMEOUT_MS = 30_000;
export const DEFAULT_PROOF_TIMEOUT_MS = 5_000;
/** After a failed signing (the database away), the next try for the waiters left comes no sooner than this. */
const SIGNING_RETRY_MS = 250;

/** An append's proof made at write time, or why there is none yet (the event is durable either way). */
export type ProofReceipt = { status: "proven"; tlogProof: string; checkpointTreeSize: number } | { status: "pending"; reason: string };

export interface ReceiptDeps {
  /** Signs the stream's tree as it is now (or returns a newer checkpoint another signer made); covers every event committed before the call. */
  sign(streamId: string): Promise<CheckpointRecord>;
  /** The event's tlog-proof against that checkpoint. */
  prove(event: EventRecord, checkpoint: CheckpointRecord): Promise<string>;
  logger: Logger;
}

interface Waiter {
  seqNo: number;
  resolve(checkpoint: CheckpointRecord): void;
}

/** One stream's waiters and its signing turn. */
interface StreamTurn {
  waiters: Set<Waiter>;
  signing: boolean;
  /** The earliest the next signing may start (ms, performance clock). */
  nextStart: number;
  timer: NodeJS.Timeout | undefined;
}

/** Counters for /metrics: how often waiting appends made a checkpoint, and how many waits ended without one. */
export interface ReceiptStats {
  waits: number;
  proven: number;
  pending: number;
  checkpointsSigned: number;
  /** Of those, the ones a commit signed for its own waiting appends. */
  signedAtCommit: number;
}

/**
 * Receipts at write time (Tessera's publication awaiter, Rekor v2's blocking
 * write): an append that asks for its proof waits here until a signed
 * checkpoint covers it. Checkpoints are signed on demand, per stream, as soon
 * as a committed append waits, and at most once every `minIntervalMs`: all
 * the waiters that committed while one signing ran are covered by the next,
 * so the signing rate per stream and process is bounded by the interval, not
 * by the append rate. Signing is the Checkpointer's compare-and-swap, so other
 * processes and instances signing the same stream only ever make the answer
 * cover more.
 */
export class ReceiptWaiter {
  readonly #streams = new Map<string, StreamTurn>();
  readonly #stats: ReceiptStats = { waits: 0, proven: 0, pending: 0, checkpointsSigned: 0, signedAtCommit: 0 };

  constructor(
    private readonly deps: ReceiptDeps,
    private readonly settings: { minIntervalMs: number },
  ) {}

  /** A commit signed a checkpoint for its waiting appends (counted with the ones signed here). */
  signedAtCommit(): void {
    this.#stats.checkpointsSigned++;
    this.#stats.signedAtCommit++;
  }

  stats(): ReceiptStats {
    return { ...this.#stats };
  }

  /**
   * The committed event's proof against the first checkpoint that covers it,
   * or "pending" when `timeoutMs` passes first. Never throws for a signing
   * failure: the append it follows is already durable.
   */
  async receipt(result: AppendResult, timeoutMs: number): Promise<ProofReceipt> {
    this.#stats.waits++;
    const { event } = result;
    if (result.proof) {
      // Its commit signed the checkpoint: the path came with it.
      this.#stats.proven++;
      return { status: "proven", tlogProof: tlogProofText(result.proof.leaf, { leafIndex: event.seqNo - 1, ...result.proof }), checkpointTreeSize: result.proof.checkpoint.treeSize };
    }
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    const { covered, cancel } = this.#covering(event.streamId, event.seqNo);
    try {
      const checkpoint = await Promise.race([covered, deadline]);
      if (checkpoint !== "timeout") {
        const tlogProof = await Promise.race([this.deps.prove(event, checkpoint), deadline]);
        if (tlogProof !== "timeout") {
          this.#stats.proven++;
          return { status: "proven", tlogProof, checkpointTreeSize: checkpoint.treeSize };
        }
      }
    } catch (err) {
      this.deps.logger.warn({ err: err instanceof Error ? err.message : String(err), streamId: event.streamId }, "receipt: proof failed; answered pending");
      this.#stats.pending++;
      return { status: "pending", reason: "the proof could not be made now; the event is durable: GetInclusionProof gives its proof later" };
    } finally {
      clearTimeout(timer);
      cancel();
    }
    this.#stats.pending++;
    return { status: "pending", reason: `proof_timeout (${timeoutMs} ms) passed before a signed checkpoint covered the event; the event is durable: GetInclusionProof gives its proof later` };
  }

  /** The first checkpoint this process signs that covers seqNo; `cancel` withdraws the wait (a no-op once covered). */
  #covering(streamId: string, seqNo: number): { covered: Promise<CheckpointRecord>; cancel(): void } {
    let turn = this.#streams.get(streamId);
    if (!turn) this.#streams.set(streamId, (turn = { waiters: new Set(), signing: false, nextStart: 0, timer: undefined }));
    const waiters = turn.waiters;
    let waiter!: Waiter;
    const covered = new Promise<CheckpointRecord>((resolve) => {
      waiter = { seqNo, resolve };
    });
    waiters.add(waiter);
    this.#schedule(streamId, turn);
    return {
      covered,
      cancel: () => {
        waiters.delete(waiter);
        if (waiters.size === 0 && this.#streams.get(streamId) === turn && !turn.signing) {
          clearTimeout(turn.timer);
          this.#streams.delete(streamId);
        }
      },
    };
  }

  #schedule(streamId: string, turn: StreamTurn): void {
    if (turn.signing || turn.timer) return;
    const wait = Math.max(0, turn.nextStart - performance.now());
    // Even with no wait, the next turn of the event loop: the appends of one commit batch resolve together and share the signing.
    turn.timer = setTimeout(() => {
      turn.timer = undefined;
      void this.#sign(streamId, turn);
    }, wait);
  }

  async #sign(streamId: string, turn: StreamTurn): Promise<void> {
    turn.signing = true;
    turn.nextStart = performance.now() + this.settings.minIntervalMs;
    try {
      const checkpoint = await this.deps.sign(streamId);
      this.#stats.checkpointsSigned++;
      for (const w of turn.waiters) {
        if (w.seqNo > checkpoint.treeSize) continue;
        w.resolve(checkpoint);
        turn.waiters.delete(w);
      }
    } catch (err) {
      // The waiters stay for a later turn (their deadlines bound the wait), which comes no sooner than a back-off.
      turn.nextStart = performance.now() + Math.max(this.settings.minIntervalMs, SIGNING_RETRY_MS);
      this.deps.logger.warn({ err: err instanceof Error ? err.message : String(err), streamId }, "receipt: signing a checkpoint for waiting appends failed");
    } finally {
      turn.signing = false;
    }
    if (turn.waiters.size > 0) this.#schedule(streamId, turn);
    else if (this.#streams.get(streamId) === turn) this.#streams.delete(streamId);
  }

  /** Waiters whose deadline passes withdraw themselves; this clears the signing timers. */
  close(): void {
    for (const turn of this.#streams.values()) clearTimeout(turn.timer);
    this.#streams.clear();
  }
}
