/**
 * The one JSON reader for text from outside (the verifier's documents, and
 * through src/json.ts every unauthenticated route of the server): the shape
 * is checked by a linear scan of the characters before JSON.parse builds
 * anything. JSON.parse itself has no depth limit and recurses (8 M nested
 * arrays cost seconds and hundreds of MB), and an empty object costs it
 * about 70 bytes and half a microsecond: 16 MB of `{},` is 375 MB and
 * 2.5 s. The scan allocates nothing and skips strings, so a bracket inside
 * a string is text, not structure.
 */

export const MAX_JSON_DEPTH = 64;
const FREE_CONTAINERS = 1024;

export interface JsonLimits {
  /** Deepest nesting of objects and arrays (default 64). */
  maxDepth?: number;
  /**
   * Beyond the first 1,024, at most one object or array per this many
   * characters; unset: no such bound. A server that parses documents from
   * anyone sets it (its CPU per byte then stays bounded); the offline
   * verifier does not, so a tenant's payloads never make a bundle unreadable.
   */
  charsPerContainer?: number;
  /** At most this many objects and arrays in all, whatever the size (for documents whose shape is known to be small). */
  maxContainers?: number;
}

/**
 * The limits of the server's public routes: depth 64, and one object or
 * array per 16 characters (real documents hold one per tens to hundreds;
 * `{},` repeated holds one per 3 and costs JSON.parse 150 ms per MB).
 */
export const PUBLIC_JSON_LIMITS: Readonly<JsonLimits> = { maxDepth: MAX_JSON_DEPTH, charsPerContainer: 16 };

/**
 * The limits of a store's notification envelope (Apple's `{"signedPayload": …}`,
 * Google's Pub/Sub push and its DeveloperNotification): a handful of objects,
 * so a body holding more is refused by the scan before anything is built,
 * however dense (the densest 1 MB the public limits allow costs JSON.parse
 * ~15 ms of the event loop; refused here it costs the scan up to the 65th).
 */
export const ENVELOPE_JSON_LIMITS: Readonly<JsonLimits> = { maxDepth: 8, maxContainers: 64 };

/**
 * Why the text may not be parsed (too deep, or more objects and arrays than
 * its size allows), or undefined. UTF-8 bytes scan the same as the text:
 * no byte of a multi-byte sequence is a quote, backslash or bracket.
 */
export function jsonShapeProblem(text: string | Uint8Array, limits: JsonLimits = {}): string | undefined {
  const maxDepth = limits.maxDepth ?? MAX_JSON_DEPTH;
  const bySize = limits.charsPerContainer ? FREE_CONTAINERS + Math.floor(text.length / limits.charsPerContainer) : Number.POSITIVE_INFINITY;
  const cap = limits.maxContainers ?? Number.POSITIVE_INFINITY;
  const maxContainers = Math.min(bySize, cap);
  const found = typeof text === "string" ? scanText(text, maxDepth, maxContainers) : scanBytes(text, maxDepth, maxContainers);
  if (found === DEEP) return `is nested deeper than ${maxDepth} levels`;
  if (found === DENSE) return maxContainers === cap ? `holds more than ${cap} objects and arrays` : `holds more objects and arrays than its size allows (${maxContainers})`;
  return undefined;
}

const DEEP = 1;
const DENSE = 2;

/*
 * The two scans are one algorithm over a string and over bytes, kept apart so
 * each loop sees one type (a loop that reads either is several times slower).
 * A string is skipped with a native search for its next quote, which closes
 * it unless an odd run of backslashes stands before it: a document that is
 * mostly one long string (a checkpoint of 15 MB) costs a memchr, not a loop.
 */
function scanText(text: string, maxDepth: number, maxContainers: number): number {
  let depth = 0;
  let containers = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const open = i;
      for (;;) {
        i = text.indexOf('"', i + 1);
        if (i < 0) return 0; // unterminated: JSON.parse says so
        let slashes = 0;
        while (i - slashes - 1 > open && text.charCodeAt(i - slashes - 1) === 0x5c) slashes++;
        if (slashes % 2 === 0) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) return DEEP;
      if (++containers > maxContainers) return DENSE;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return 0;
}

function scanBytes(bytes: Uint8Array, maxDepth: number, maxContainers: number): number {
  let depth = 0;
  let containers = 0;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (c === 0x22) {
      const open = i;
      for (;;) {
        i = bytes.indexOf(0x22, i + 1);
        if (i < 0) return 0;
        let slashes = 0;
        while (i - slashes - 1 > open && bytes[i - slashes - 1] === 0x5c) slashes++;
        if (slashes % 2 === 0) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) return DEEP;
      if (++containers > maxContainers) return DENSE;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return 0;
}

/** Parses JSON text within the limits: the value, or why not (the shape, or "not JSON"). */
export function readJson(text: string, limits: JsonLimits = {}): { value: unknown } | { problem: string } {
  const problem = jsonShapeProblem(text, limits);
  if (problem !== undefined) return { problem };
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    // V8's message quotes the input: it is not repeated.
    return { problem: "is not JSON" };
  }
}

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** readJson for a document that must be one JSON object. */
export function readJsonObject(text: string, limits: JsonLimits = {}): { value: Record<string, unknown> } | { problem: string } {
  const read = readJson(text, limits);
  if ("problem" in read) return read;
  return isObject(read.value) ? { value: read.value } : { problem: "is not a JSON object" };
}
