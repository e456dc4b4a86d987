import { createHash } from "node:crypto";
import { invalidArgument, unknownField } from "../errors.js";
import { isObject, parseJsonObject } from "../json.js";
import type { JsonObject } from "./types.js";

/**
 * Turning verified provider bodies into what is committed. Only the
 * normalized fields are kept: raw provider bodies are never committed,
 * logged or echoed. Field errors name the body field (dotted path).
 */

const SOURCE_REF = /^[!-~]{1,256}$/;
const EVENT_TYPE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
/** 9999-12-31T23:59:59Z: later times are no timestamp anything here can store. */
const LAST_UNIX_SECOND = 253_402_300_799;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/i;

/** What a connector hands to the Appender. */
export interface NormalizedEvent {
  sourceRef: string;
  eventType: string;
  /** Undefined when the provider gives no time: the first receipt time is used. */
  occurredAt: Date | undefined;
  payload: JsonObject;
}

/** The raw body as a JSON object, read within the JSON limits of every public route. */
export { parseJsonObject };

export function parseTimestamp(value: unknown, field: string): Date {
  if (typeof value !== "string" || !RFC3339.test(value)) throw invalidArgument(field, "must be an RFC 3339 timestamp such as 2026-06-07T12:00:00Z");
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw invalidArgument(field, "must be an RFC 3339 timestamp such as 2026-06-07T12:00:00Z");
  return date;
}

/** The seed's signed-webhook body: {source_ref, event_type, occurred_at, payload}, committed as sent. */
export function signedWebhookEvent(raw: Buffer): NormalizedEvent {
  const body = parseJsonObject(raw);
  for (const key of Object.keys(body)) {
    if (!["source_ref", "event_type", "occurred_at", "payload"].includes(key)) throw unknownField(key);
  }
  const { source_ref: sourceRef, event_type: eventType, occurred_at: occurredAt, payload } = body;
  if (typeof sourceRef !== "string" || !SOURCE_REF.test(sourceRef)) throw invalidArgument("source_ref", "is required: 1 to 256 printable ASCII characters, no spaces");
  if (typeof eventType !== "string" || !EVENT_TYPE.test(eventType)) throw invalidArgument("event_type", "is required: up to 128 characters of [A-Za-z0-9_.:-]");
  if (!isObject(payload)) throw invalidArgument("payload", "is required and must be a JSON object");
  return { sourceRef, eventType, occurredAt: parseTimestamp(occurredAt, "occurred_at"), payload: payload as JsonObject };
}

function text(value: unknown, field: string, max = 1024): string {
  if (typeof value !== "string" || value.length === 0 || value.length > max) throw invalidArgument(field, `is required: a string of 1 to ${max} characters`);
  return value;
}

/** A provider delivery id usable in a source_ref. */
export function deliveryId(value: string | undefined, field: string): string {
  if (!value || !/^[!-~]{1,200}$/.test(value)) throw invalidArgument(field, "is required: 1 to 200 printable ASCII characters");
  return value;
}

/** The source_ref of a delivery known only by its signed content: the kind, then the hex SHA-256 of the content's fields. */
const contentRef = (prefix: string, fields: unknown[]) => `${prefix}:push:${createHash("sha256").update(JSON.stringify(fields)).digest("hex")}`;

/**
 * GitHub `push`: the seed's metadata and nothing else. GitHub signs the body
 * but neither X-GitHub-Delivery nor a time, so a delivery id proves nothing
 * and a signed body replays forever: the push is known by what is signed and
 * makes it unique (repository, ref, before, after and the push time), and a
 * replay of the same body, whatever its delivery id, is the same event.
 */
export function gitHubPush(body: Record<string, unknown>): NormalizedEvent {
  const repository = isObject(body.repository) ? body.repository : undefined;
  if (!repository) throw invalidArgument("repository", "is required");
  const payload = {
    provider: "github",
    event: "push",
    repository: text(repository.full_name, "repository.full_name", 256),
    ref: text(body.ref, "ref"),
    before: text(body.before, "before", 128),
    after: text(body.after, "after", 128),
  };
  const pushedAt = repository.pushed_at;
  if (typeof pushedAt === "number" && !(Number.isSafeInteger(pushedAt) && pushedAt > 0 && pushedAt <= LAST_UNIX_SECOND)) {
    throw invalidArgument("repository.pushed_at", "must be unix seconds (or an RFC 3339 timestamp) before the year 10000");
  }
  const occurredAt = typeof pushedAt === "number" ? new Date(pushedAt * 1000) : typeof pushedAt === "string" ? parseTimestamp(pushedAt, "repository.pushed_at") : undefined;
  const sourceRef = contentRef("github", [payload.repository, payload.ref, payload.before, payload.after, occurredAt?.toISOString() ?? null]);
  return { sourceRef, eventType: "github.push", occurredAt, payload };
}

/**
 * GitLab push hook: the seed's metadata and nothing else; the time is the
 * head commit's. `signedDeliveryId` is the signing token's webhook-id (signed
 * with the body, and the same on GitLab's retries): the event is keyed on it.
 * A legacy token signs nothing, so without one the push is known by its
 * content (project, ref, before, after) and no delivery id is committed.
 */
export function gitLabPush(body: Record<string, unknown>, signedDeliveryId: string | undefined): NormalizedEvent {
  const project = isObject(body.project) ? body.project : undefined;
  if (!project) throw invalidArgument("project", "is required");
  const after = text(body.after, "after", 128);
  const fields = {
    provider: "gitlab",
    event: "push",
    project_path: text(project.path_with_namespace, "project.path_with_namespace", 1024),
    ref: text(body.ref, "ref"),
    before: text(body.before, "before", 128),
    after,
  };
  const commits = Array.isArray(body.commits) ? body.commits.filter(isObject) : [];
  const head = commits.find((c) => c.id === after) ?? commits[commits.length - 1];
  const occurredAt = head && head.timestamp !== undefined ? parseTimestamp(head.timestamp, "commits.timestamp") : undefined;
  if (signedDeliveryId === undefined) {
    return { sourceRef: contentRef("gitlab", [fields.project_path, fields.ref, fields.before, after]), eventType: "gitlab.push", occurredAt, payload: fields };
  }
  return { sourceRef: `gitlab:${signedDeliveryId}`, eventType: "gitlab.push", occurredAt, payload: { ...fields, delivery_id: signedDeliveryId } };
}
