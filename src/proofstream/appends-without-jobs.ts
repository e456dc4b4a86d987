import type { Db } from "../db/db.js";
import { Appender, type AppendInput, type AppendResult } from "./append.js";
import { getStream, type Stream } from "./streams.js";

/** The part of the Proofstreams facade a process without jobs gets (the same signatures). */
export interface AppendsWithoutJobs {
  append(input: AppendInput): Promise<AppendResult>;
  occurredAtOf(streamId: string, sourceRef: string): Promise<Date | undefined>;
  getStream(tenantId: string, streamId: string): Promise<Stream>;
}

/**
 * Appends and stream reads alone, for a process that runs no jobs and so
 * builds no Proofstreams (the operator CLI, whose connector commands name a
 * stream): the same Appender and reads the facade uses.
 */
export function appendsWithoutJobs(db: Db): AppendsWithoutJobs {
  const appender = new Appender(db);
  return {
    append: (input) => appender.append(input),
    occurredAtOf: (streamId, sourceRef) => appender.occurredAtOf(streamId, sourceRef),
    getStream: (tenantId, streamId) => getStream(db, tenantId, streamId),
  };
}
