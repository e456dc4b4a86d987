import type { JobRuntime } from "../jobs/runtime.js";
import type { Logger } from "../logger.js";
import type { TimestampSettings } from "./settings.js";
import { tsaLabel } from "./settings.js";
import { TimestampClient, type TimestampedStreams, type TokenVerifier, type TsaStats } from "./tsa-client.js";

export type { TimestampedStreams, TokenVerifier, TsaStats } from "./tsa-client.js";

/**
 * RFC 3161 timestamps of this deployment's checkpoints (issue 23, item 3):
 * each signed checkpoint's note gets a token from a configured TSA, from a
 * job, verified on receipt and stored on the checkpoint, which then carries
 * it (GetCheckpoint, bundles).
 */
export class Timestamps {
  readonly #client: TimestampClient;

  constructor(
    private readonly deps: { jobs: JobRuntime; logger: Logger; streams: TimestampedStreams; verifyToken: TokenVerifier },
    private readonly settings: TimestampSettings,
  ) {
    this.#client = new TimestampClient(deps, settings);
  }

  async start(): Promise<void> {
    this.#client.start();
    if (this.settings.tsaUrls.length > 0) this.deps.logger.info({ tsas: this.settings.tsaUrls.map(tsaLabel), roots: this.settings.roots.length }, "checkpoints are timestamped (RFC 3161)");
  }

  async close(): Promise<void> {}

  /** Per configured TSA: tokens, failures, latency, whether it is failing (/metrics). */
  stats(): TsaStats[] {
    return this.#client.stats();
  }
}
