import { bodyInvalid, invalidArgument } from "./errors.js";
import { PUBLIC_JSON_LIMITS, readJsonObject, type JsonLimits } from "./verify/json.js";

/**
 * The server's JSON body reader: the verification library's bounded reader
 * (src/verify/json.ts, depth and size checked before anything is built)
 * with the domain's error. Every body and provider answer read as a JSON
 * object goes through here.
 */
export { ENVELOPE_JSON_LIMITS, isObject, MAX_JSON_DEPTH, PUBLIC_JSON_LIMITS } from "./verify/json.js";

const utf8 = new TextDecoder();

/**
 * The text (or UTF-8 bytes) as one JSON object, or invalid_argument naming
 * `field`: "must be a JSON object", or what is wrong with its shape.
 * `subject` names a part of the field in the message ("the JWS payload").
 * The limits default to the public routes' (depth 64, one object or array
 * per 16 characters).
 */
export function parseJsonObject(text: string | Uint8Array, field = "body", subject?: string, limits: JsonLimits = PUBLIC_JSON_LIMITS): Record<string, unknown> {
  const read = readJsonObject(typeof text === "string" ? text : utf8.decode(text), limits);
  if ("value" in read) return read.value;
  const shapeProblem = read.problem !== "is not JSON" && read.problem !== "is not a JSON object";
  const message = shapeProblem ? read.problem : "must be a JSON object";
  // The request body itself is a malformed message (BODY_INVALID); a part of it (a JWS payload) a malformed field.
  throw (field === "body" ? bodyInvalid : invalidArgument)(field, subject ? `${subject} ${message}` : message);
}

/** A provider's answer as a JSON object, or undefined when it is not one (the caller says what it expected). */
export function jsonObjectOrUndefined(text: string): Record<string, unknown> | undefined {
  const read = readJsonObject(text, PUBLIC_JSON_LIMITS);
  return "value" in read ? read.value : undefined;
}
