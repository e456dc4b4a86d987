/**
 * Gathers the calls made within a moment (up to `max`) and runs them as one
 * statement: with many attempts in flight, claims and results reach Postgres
 * in batches instead of one statement (and one commit) each. A key asked for
 * twice in one batch gets undefined the second time.
 */
export class Batcher<I, R> {
  #waiting = new Map<string, { input: I; resolve: (r: R | undefined) => void; reject: (e: unknown) => void }>();
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly run: (inputs: Array<[string, I]>) => Promise<Map<string, R>>,
    private readonly max = 100,
    private readonly windowMs = 5,
  ) {}

  get(key: string, input: I): Promise<R | undefined> {
    if (this.#waiting.has(key)) return Promise.resolve(undefined);
    const result = new Promise<R | undefined>((resolve, reject) => this.#waiting.set(key, { input, resolve, reject }));
    if (this.#waiting.size >= this.max) this.#flush();
    else this.#timer ??= setTimeout(() => this.#flush(), this.windowMs);
    return result;
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#waiting;
    this.#waiting = new Map();
    if (batch.size === 0) return;
    this.run([...batch].map(([key, w]) => [key, w.input])).then(
      (results) => batch.forEach((w, key) => w.resolve(results.get(key))),
      (err: unknown) => batch.forEach((w) => w.reject(err)),
    );
  }
}
