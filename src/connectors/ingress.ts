import { checkStorableJson, checkStorableText } from "../db/storable.js";
import { AppError } from "../errors.js";
import type { LiveConnector, LiveConnectors } from "./live.js";
import type { NormalizedEvent } from "./normalize.js";
import type { SignatureVerdict } from "./signatures.js";
import type { ConnectorStats } from "./stats.js";
import type { ConnectorStreams, IngressRequest, IngressResult } from "./types.js";

/** What every kind's ingress works with. */
export interface IngressDeps {
  live: LiveConnectors;
  stats: ConnectorStats;
  proofstreams: Pick<ConnectorStreams, "append" | "occurredAtOf">;
}

/** The one refusal of every failed signature check: 401 with no detail. */
const authFailed = () => new AppError("unauthenticated", "authentication failed", { reason: "SIGNATURE_INVALID" });

/** Unix seconds now, the clock signed timestamps are held to. */
export const nowSeconds = () => Math.floor(Date.now() / 1000);

/**
 * Checks a delivery with `verify` against the connector's valid secrets and
 * throws the one refusal every failure gets. Anyone can post to an ingress
 * URL, so a refusal only counts: the status a tenant acts on (auth_failed)
 * is set only by a delivery that verifies with the retired secret, which
 * only a sender holding that secret can make (the provider still set up
 * with the secret the tenant replaced). A valid signature with a stale
 * timestamp (the sender's clock, or a replay of a delivery someone saw) is
 * named as the last failure, without the status.
 */
export function authenticate(stats: ConnectorStats, c: LiveConnector, req: Pick<IngressRequest, "authenticated">, verify: (secrets: readonly string[]) => SignatureVerdict): void {
  const verdict = verify(c.secrets);
  if (verdict === "ok") {
    req.authenticated?.();
    return;
  }
  if (verdict === "stale_timestamp") stats.record(c.id, { kind: "unauthenticated", reason: "TIMESTAMP_STALE" });
  else if (c.retiredSecret !== undefined && verify([c.retiredSecret]) === "ok") stats.record(c.id, { kind: "auth_failed", reason: "SECRET_RETIRED" });
  else stats.record(c.id, { kind: "unauthenticated" });
  throw authFailed();
}

/** A refusal of a verified delivery's body: counted, then thrown. */
export function rejectBody(stats: ConnectorStats, c: LiveConnector, err: unknown): never {
  stats.record(c.id, { kind: "rejected", reason: "BODY_INVALID" });
  throw err;
}

/**
 * Normalizes and commits through the Proofstreams append; body errors and
 * replay conflicts are recorded. A provider event without a time of its own
 * takes the time of its first receipt, so a redelivery is a duplicate.
 */
export async function commit(deps: IngressDeps, c: LiveConnector, normalize: () => NormalizedEvent): Promise<IngressResult> {
  let event: NormalizedEvent;
  try {
    event = normalize();
    // Before the append's batch: a body Postgres would refuse answers 400 naming the value.
    checkStorableText(event.sourceRef, "source_ref");
    checkStorableText(event.eventType, "event_type");
    checkStorableJson(event.payload, "payload");
  } catch (err) {
    rejectBody(deps.stats, c, err);
  }
  try {
    const occurredAt = event.occurredAt ?? (await deps.proofstreams.occurredAtOf(c.streamId, event.sourceRef)) ?? new Date();
    const result = await deps.proofstreams.append({ tenantId: c.tenantId, streamId: c.streamId, ...event, occurredAt });
    deps.stats.record(c.id, { kind: result.duplicate ? "duplicate" : "accepted" });
    return { kind: "committed", result };
  } catch (err) {
    if (err instanceof AppError && err.code === "replay_conflict") {
      deps.stats.record(c.id, { kind: "replay_conflict" });
      throw new AppError("replay_conflict", "source_ref was already committed with different content", {
        field: c.kind === "s3_object" ? "metadata" : "source_ref",
        reason: "REPLAY_CONFLICT",
      });
    }
    throw err;
  }
}
