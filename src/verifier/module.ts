import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Piscina } from "piscina";
import { AppError } from "../errors.js";
import type { VerificationReport, VerifyOptions } from "../verify/bundle.js";
import type { VerifyTask } from "./worker.js";

/** How documents sent to the public verifier are run. */
export interface VerifierSettings {
  /** Worker threads that verify; the event loop never runs a public document's checks. */
  threads: number;
  /** Documents that may wait for a thread; more are answered SERVER_BUSY at once. */
  queue: number;
  /** The longest one document may take, its wait for a thread included; the thread is then stopped. */
  budgetMs: number;
}

/**
 * The server's verifier for documents from anyone (`POST /v2/verify`,
 * VerifyBundle): the verification library run on a pool of worker threads
 * (piscina), so a document that costs seconds costs a thread, not the
 * event loop that answers every tenant; with a time budget (the thread
 * running a document past it is terminated and replaced) and a bounded
 * queue. The CLI and the /verify page call the library directly.
 */
export class Verifier {
  #pool: Piscina<VerifyTask, VerificationReport> | undefined;
  /** Documents on a thread or waiting for one (counted here: piscina's own queue limit lets tasks through while threads start). */
  #taken = 0;

  constructor(private readonly settings: VerifierSettings) {}

  async start(): Promise<void> {
    this.#pool = new Piscina({
      ...workerScript(),
      // Threads start with the first document, not with the process: a worker process that never
      // verifies (and every restart) does not pay for them.
      minThreads: 0,
      maxThreads: this.settings.threads,
      idleTimeout: Number.POSITIVE_INFINITY,
      // Public documents run at the lowest CPU priority: when the machine is busy, the event loop
      // that answers tenants and the database come first (piscina sets it per thread through
      // @napi-rs/nice; where that is missing the threads run at normal priority).
      niceIncrement: 19,
    });
  }

  /**
   * Verifies one document: its text, or a request body's bytes, which move
   * to the verifier thread (the buffer is detached here; the caller gives it up).
   */
  async verify(document: string | ArrayBuffer, options: VerifyOptions): Promise<VerificationReport> {
    const pool = this.#pool;
    if (!pool) throw new AppError("unavailable", "the verifier is not running", { retryAfterSeconds: 1, reason: "SERVER_BUSY" });
    if (this.#taken >= this.settings.threads + this.settings.queue) throw busy();
    this.#taken++;
    const signal = AbortSignal.timeout(this.settings.budgetMs);
    try {
      const transferList = typeof document === "string" ? [] : [document];
      return await pool.run({ document, pinnedKey: options.pinnedKey }, { signal, transferList });
    } catch (err) {
      if (signal.aborted) {
        throw new AppError("unavailable", `the document was not verified within the server's budget of ${this.settings.budgetMs} ms; verify it offline (attesto verify)`, {
          retryAfterSeconds: 1,
          reason: "DEADLINE_EXCEEDED",
        });
      }
      throw err;
    } finally {
      this.#taken--;
    }
  }

  async close(): Promise<void> {
    await this.#pool?.destroy();
    this.#pool = undefined;
  }
}

/**
 * The thread's script: the compiled worker.js beside this file (dist/), or,
 * run from source, worker.ts loaded through tsx (which a process started
 * with `--import tsx` passes on to its threads by itself).
 */
function workerScript(): { filename: string; execArgv?: string[] } {
  const compiled = new URL("./worker.js", import.meta.url);
  if (existsSync(fileURLToPath(compiled))) return { filename: compiled.href };
  const source = new URL("./worker.ts", import.meta.url).href;
  return process.execArgv.includes("tsx") ? { filename: source } : { filename: source, execArgv: [...process.execArgv, "--import", "tsx"] };
}

const busy = () => new AppError("unavailable", "every verifier thread is taken; retry shortly", { retryAfterSeconds: 1, reason: "SERVER_BUSY" });
