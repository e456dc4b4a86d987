import { flushStep } from "./flush-plan.js";

/**
 * Gathers concurrent calls (up to `max`) and runs them as one statement:
 * with many attempts in flight, claims and results reach Postgres in batches
 * instead of one statement (and one commit) each. Group commit rather than a
 * fixed window (flush-plan.ts): an idle batcher runs what it has at the end
 * of the event-loop turn; while `maxRunning` runs are in flight, calls gather
 * and the end of a run sends them. A key asked for twice in one batch gets
 * undefined the second time.
 */
export class Batcher<I, R> {
  #waiting = new Map<string, { input: I; resolve: (r: R | undefined) => void; reject: (e: unknown) => void }>();
  #running = 0;
  #scheduled = false;

  constructor(
    private readonly run: (inputs: Array<[string, I]>) => Promise<Map<string, R>>,
    private readonly max = 100,
    private readonly maxRunning = 1,
  ) {}

  get(key: string, input: I): Promise<R | undefined> {
    if (this.#waiting.has(key)) return Promise.resolve(undefined);
    const result = new Promise<R | undefined>((resolve, reject) => this.#waiting.set(key, { input, resolve, reject }));
    this.#plan();
    return result;
  }

  #step() {
    return flushStep({ waiting: this.#waiting.size, running: this.#running, max: this.max, maxRunning: this.maxRunning });
  }

  #plan(): void {
    const step = this.#step();
    if (step === "now") this.#flush();
    else if (step === "end-of-turn" && !this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        // A full batch may have gone meanwhile and filled the runs: then the end of a run sends the rest.
        const later = this.#step();
        if (later === "now" || later === "end-of-turn") this.#flush();
      });
    }
  }

  #flush(): void {
    const batch = this.#waiting;
    this.#waiting = new Map();
    if (batch.size === 0) return;
    this.#running++;
    this.run([...batch].map(([key, w]) => [key, w.input]))
      .then(
        (results) => batch.forEach((w, key) => w.resolve(results.get(key))),
        (err: unknown) => batch.forEach((w) => w.reject(err)),
      )
      .finally(() => {
        this.#running--;
        this.#plan();
      });
  }
}
