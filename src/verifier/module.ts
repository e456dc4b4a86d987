import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Piscina } from "piscina";
import { AppError, invalidArgument } from "../errors.js";
import type { VerificationReport } from "../verify/bundle.js";
import { readPolicy, type VerificationPolicy } from "../verify/policy.js";
import type { TimestampExpectation, TimestampVerification } from "../verify/rfc3161.js";
import type { TimestampTask, VerifyTask } from "./worker.js";

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
  #pool: Piscina<VerifyTask | TimestampTask, VerificationReport | TimestampVerification> | undefined;
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
   * Verifies one document against the caller's policy: its text, or a request body's bytes, which move
   * to the verifier thread (the buffer is detached here; the caller gives it up).
   */
  async verify(document: string | ArrayBuffer, policy: VerificationPolicy): Promise<VerificationReport> {
    const pool = this.#pool;
    if (!pool) throw new AppError("unavailable", "the verifier is not running", { retryAfterSeconds: 1, reason: "SERVER_BUSY" });
    if (this.#taken >= this.settings.threads + this.settings.queue) throw busy();
    this.#taken++;
    const signal = AbortSignal.timeout(this.settings.budgetMs);
    try {
      const transferList = typeof document === "string" ? [] : [document];
      return (await pool.run({ document, policy }, { signal, transferList })) as VerificationReport;
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

  /**
   * Checks an RFC 3161 token on a verifier thread (the TSA client's check of
   * each token it receives): the server's own background work, so outside
   * the public documents' queue bound and time budget.
   */
  async verifyTimestampToken(token: Uint8Array, expect: TimestampExpectation): Promise<TimestampVerification> {
    const pool = this.#pool;
    if (!pool) throw new AppError("unavailable", "the verifier is not running", { retryAfterSeconds: 1, reason: "SERVER_BUSY" });
    return (await pool.run({ token, expect } satisfies TimestampTask, { name: "verifyTimestamp" })) as TimestampVerification;
  }

  async close(): Promise<void> {
    await this.#pool?.destroy();
    this.#pool = undefined;
  }
}

/**
 * The thread's script: the compiled worker.js beside this file (dist/), or,
 * run from source, worker.ts. A process started with `--import tsx` passes
 * tsx on to its threads by itself; otherwise (`node bin/attesto.js` without
 * dist/, as a production install runs, where tsx is not installed, and the
 * test runner) the thread loads the same hooks the CLI runs the sources
 * with (bin/source-hooks.js): Node's hooks are per thread, and its type
 * stripping alone cannot resolve the sources' `.js` specifiers.
 */
function workerScript(): { filename: string; execArgv?: string[] } {
  const compiled = new URL("./worker.js", import.meta.url);
  if (existsSync(fileURLToPath(compiled))) return { filename: compiled.href };
  const source = new URL("./worker.ts", import.meta.url).href;
  if (process.execArgv.includes("tsx")) return { filename: source };
  return { filename: source, execArgv: [...process.execArgv, "--import", new URL("../../bin/source-hooks.js", import.meta.url).href] };
}

const busy = () => new AppError("unavailable", "every verifier thread is taken; retry shortly", { retryAfterSeconds: 1, reason: "SERVER_BUSY" });

/** The policy fields of a request (VerifyBundleRequest, POST /v2/verify), as each edge reads them. */
export interface PolicyRequest {
  verifierKey?: string;
  witnessKeys: readonly string[];
  /** 0 (or absent) when no witness policy is given. */
  witnessK?: number;
  tsaRoots: readonly string[];
  requireAnchor: boolean;
}

/** Longest witness key (an Ed25519 cosignature key is under 200 characters) and TSA root (a PEM chain) a request may send. */
const MAX_WITNESS_KEY_CHARS = 1024;
const MAX_TSA_ROOT_CHARS = 65536;

/**
 * A request's policy, checked before the document is: a field that is not
 * usable (a key that does not parse, k out of range, a root that is neither
 * PEM nor DER) is refused as INVALID_ARGUMENT naming it, and nothing runs.
 */
export function requestPolicy(req: PolicyRequest): VerificationPolicy {
  const witnessK = req.witnessK ?? 0;
  if (req.witnessKeys.some((k) => k.length > MAX_WITNESS_KEY_CHARS)) throw invalidArgument("witness_keys", `each key is at most ${MAX_WITNESS_KEY_CHARS} characters`);
  if (req.tsaRoots.some((r) => r.length > MAX_TSA_ROOT_CHARS)) throw invalidArgument("tsa_roots", `each root is at most ${MAX_TSA_ROOT_CHARS} characters`);
  if (req.witnessKeys.length === 0 && witnessK !== 0) throw invalidArgument("witness_k", "is set without witness_keys");
  if (req.witnessKeys.length > 0 && witnessK === 0) throw invalidArgument("witness_k", "is required with witness_keys (how many of them must have cosigned)");
  const policy: VerificationPolicy = {
    pinnedKey: req.verifierKey || undefined,
    witnesses: req.witnessKeys.length > 0 ? { keys: req.witnessKeys, k: witnessK } : undefined,
    tsaRoots: req.tsaRoots.length > 0 ? req.tsaRoots : undefined,
    requireAnchor: req.requireAnchor,
  };
  // A pinned key that does not parse is the signature check's failure in the report, as it always was.
  const reading = readPolicy({ ...policy, pinnedKey: undefined });
  if ("field" in reading) throw invalidArgument(reading.field, reading.problem);
  return policy;
}
