import type { Keyring } from "../crypto/keyring.js";
import type { Db } from "../db/db.js";
import type { DomainEventSink } from "../events.js";
import type { JobRuntime } from "../jobs/runtime.js";
import type { Logger } from "../logger.js";
import { Appender } from "./append.js";
import { Checkpointer } from "./checkpoints.js";
import { selfAudit } from "./forks.js";
import { StreamHeads } from "./heads.js";
import { StreamKeys } from "./keys.js";
import { TileStore } from "./tile-store.js";

export interface ProofstreamOptions {
  /** Read when a stream is created: its origin is fixed then. */
  publicBaseUrl: () => string;
  tileCacheBytes: number;
  /** How long the proof path trusts its cached "latest checkpoint" of a stream. */
  headCacheMs: number;
  checkpointIntervalMs: number;
  selfAuditIntervalMs: number;
  selfAuditSample: number;
  selfAuditMaxLeaves: number;
}

/** The Proofstream domain of one process: appends, tiles, keys, checkpoints and its periodic jobs. */
export class Proofstreams {
  readonly tileStore: TileStore;
  readonly keys: StreamKeys;
  readonly appender: Appender;
  readonly checkpointer: Checkpointer;
  readonly heads: StreamHeads;

  constructor(
    readonly deps: { db: Db; keyring: Keyring; events: DomainEventSink; logger: Logger },
    readonly options: ProofstreamOptions,
  ) {
    this.tileStore = new TileStore(options.tileCacheBytes);
    this.heads = new StreamHeads(options.headCacheMs);
    this.keys = new StreamKeys(deps.keyring);
    this.appender = new Appender(deps.db);
    this.checkpointer = new Checkpointer({
      db: deps.db,
      tileStore: this.tileStore,
      keys: this.keys,
      events: deps.events,
      logger: deps.logger,
      onSigned: (streamId) => this.heads.forget(streamId),
    });
  }

  /** Checkpoint closing and the self-audit, once per tick across all instances. */
  async scheduleJobs(jobs: JobRuntime): Promise<void> {
    await jobs.every("proofstream.checkpoint", this.options.checkpointIntervalMs, () => this.checkpointer.closeGrown());
    await jobs.every("proofstream.self-audit", this.options.selfAuditIntervalMs, () =>
      selfAudit(this.deps, { sample: this.options.selfAuditSample, maxLeaves: this.options.selfAuditMaxLeaves }),
    );
  }
}
