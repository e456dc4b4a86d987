import type { Db } from "../db/db.js";
import type { PageRequest } from "../db/pagination.js";
import { ed25519FromSeed } from "../crypto/note-signing.js";
import type { JobRuntime } from "../jobs/runtime.js";
import type { Logger } from "../logger.js";
import { WitnessClient, type WitnessedStreams, type WitnessStats } from "./witness-client.js";
import { addWitnessedLog, listWitnessedLogs, WitnessServer, type AddCheckpointOutcome, type WitnessedLog } from "./witness-server.js";
import type { WitnessSettings } from "./settings.js";

export type { AddCheckpointOutcome, WitnessedLog } from "./witness-server.js";
export type { WitnessedStreams, WitnessStats } from "./witness-client.js";
export { MAX_ADD_CHECKPOINT_BYTES, TLOG_SIZE_CONTENT_TYPE, witnessPrivateKeyString } from "./protocol.js";

/**
 * Witnessing, both ways (C2SP tlog-witness and tlog-cosignature): the
 * client that gets this deployment's checkpoints cosigned by the witnesses
 * it is configured with, and Attesto as a witness for the logs an operator
 * trusts (`POST /witness/add-checkpoint`, when ATTESTO_WITNESS_KEY is set).
 */
export class Witnesses {
  readonly #client: WitnessClient;
  readonly #server: WitnessServer | undefined;

  constructor(
    private readonly deps: { db: Db; jobs: JobRuntime; logger: Logger; streams: WitnessedStreams },
    private readonly settings: WitnessSettings,
  ) {
    this.#client = new WitnessClient(deps, settings);
    const own = settings.ownKey;
    this.#server = own ? new WitnessServer(deps, { name: own.name, keyId: own.verifier.keyId, privateKey: ed25519FromSeed(own.seed) }) : undefined;
  }

  async start(): Promise<void> {
    this.#client.start();
    if (this.settings.witnesses.length > 0) {
      this.deps.logger.info({ witnesses: this.settings.witnesses.map((w) => w.name), quorum: this.settings.quorum || this.settings.witnesses.length }, "checkpoints are sent to witnesses");
    }
    if (this.settings.ownKey) this.deps.logger.info({ verifierKey: this.settings.ownKey.verifierKey }, "serving as a witness at /witness/add-checkpoint");
  }

  async close(): Promise<void> {}

  /** This deployment's witness verifier key, when it is a witness. */
  get verifierKey(): string | undefined {
    return this.settings.ownKey?.verifierKey;
  }

  /** add-checkpoint of this deployment's witness; `not_a_witness` when it has no witness key. */
  addCheckpoint(body: string): Promise<AddCheckpointOutcome | { kind: "not_a_witness" }> {
    return this.#server ? this.#server.addCheckpoint(body) : Promise.resolve({ kind: "not_a_witness" });
  }

  addWitnessedLog(verifierKey: string): Promise<WitnessedLog> {
    return addWitnessedLog(this.deps.db, verifierKey);
  }

  listWitnessedLogs(page: PageRequest): Promise<{ logs: WitnessedLog[]; nextPageToken: string }> {
    return listWitnessedLogs(this.deps.db, page);
  }

  /** Per configured witness: cosignatures, failures, latency, lag, whether it is failing (/metrics). */
  stats(): WitnessStats[] {
    return this.#client.stats();
  }
}
