import { FeatureSet_FieldPresence } from "@bufbuild/protobuf/wkt";
import { getOption, hasOption, type DescField, type DescMessage, type Message } from "@bufbuild/protobuf";
import { reflect, type ReflectMessage } from "@bufbuild/protobuf/reflect";
import { rules as rulesExt, type FieldRules } from "../../gen/ts/attesto/v1/validate_pb.js";
import { isWebhookEventType, WEBHOOK_EVENT_TYPES } from "../webhooks/event-types.js";
import { invalidArgument } from "../errors.js";
import { checkRequestRules } from "./request-rules.js";
import { checkStorableTime, jsonProblem, textProblem } from "../db/storable.js";

/**
 * The one request validator. Rules are declared in the contracts with the
 * `(attesto.v1.rules)` field option; this walks a message against them and
 * throws invalid_argument naming the first offending field by its proto path
 * (e.g. `s3_object.bucket`). Compiled rules are cached per message type.
 * Then the rules no field option can state (request-rules.ts) run.
 *
 * Two rules hold for every field whether or not it declares rules: a string
 * (map keys too) never holds NUL or a lone UTF-16 surrogate, and a JSON
 * field (google.protobuf.Struct, Value, ListValue) holds only what JCS and
 * PostgreSQL accept, its offending value named by JSON path
 * (`payload.items[2]`), and a google.protobuf.Timestamp lies within years
 * 0001 to 9999: see src/db/storable.ts.
 */
export function validateMessage(schema: DescMessage, message: Message): void {
  check(reflect(schema, message), "");
  checkRequestRules(schema, message);
}

const IMPLICIT = FeatureSet_FieldPresence.IMPLICIT;

type Check = (r: ReflectMessage, prefix: string) => void;
const compiled = new WeakMap<DescMessage, Check>();

function check(r: ReflectMessage, prefix: string): void {
  let fn = compiled.get(r.desc);
  if (!fn) {
    fn = compile(r.desc);
    compiled.set(r.desc, fn);
  }
  fn(r, prefix);
}

function compile(desc: DescMessage): Check {
  const checks = desc.fields.map((field) => compileField(field, hasOption(field, rulesExt) ? getOption(field, rulesExt) : undefined));
  return (r, prefix) => {
    for (const c of checks) c(r, prefix);
  };
}

/** The JSON well-known types: protobuf-es holds them as plain JSON values on the message. */
const JSON_TYPES = new Set(["google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"]);

function compileField(field: DescField, rules: FieldRules | undefined): Check {
  const pattern = rules?.pattern ? new RegExp(`^(?:${rules.pattern})$`, "u") : undefined;
  if (field.fieldKind === "message" && JSON_TYPES.has(field.message.typeName)) {
    return (r, prefix) => {
      const path = prefix + field.name;
      if (!r.isSet(field)) {
        if (rules?.required) throw invalidArgument(path, "is required");
        return;
      }
      const problem = jsonProblem((r.message as unknown as Record<string, unknown>)[field.localName], path);
      if (problem) throw problem;
    };
  }
  if (field.fieldKind === "message" && field.message.typeName === "google.protobuf.Timestamp") {
    // JSON parsing enforces the range; binary carries any seconds and nanos.
    return (r, prefix) => {
      const path = prefix + field.name;
      if (!r.isSet(field)) {
        if (rules?.required) throw invalidArgument(path, "is required");
        return;
      }
      const t = (r.message as unknown as Record<string, { seconds: bigint; nanos: number }>)[field.localName]!;
      if (t.nanos < 0 || t.nanos > 999_999_999) throw invalidArgument(path, "nanos must be from 0 to 999999999");
      const seconds = Number(t.seconds);
      checkStorableTime(new Date(Number.isSafeInteger(seconds) ? seconds * 1000 : NaN), path);
    };
  }
  return (r, prefix) => {
    const path = prefix + field.name;
    const set = r.isSet(field);
    if (rules?.required && !set) {
      throw invalidArgument(path, field.fieldKind === "enum" ? "must be set to a known value" : "is required");
    }
    if (!set) {
      // Implicit-presence numbers are checked at their zero value too: a
      // `gte: 1` field left at 0 is out of range, not absent.
      if (rules && field.fieldKind === "scalar" && field.presence === IMPLICIT && typeof r.get(field) !== "string") {
        checkScalar(path, r.get(field), rules, pattern);
      }
      return;
    }
    switch (field.fieldKind) {
      case "scalar": {
        const value: unknown = r.get(field);
        checkText(path, value);
        if (rules) checkScalar(path, value, rules, pattern);
        return;
      }
      case "enum": {
        const value = r.get(field) as number;
        if (!field.enum.values.some((v) => v.number === value)) throw invalidArgument(path, "unknown enum value");
        return;
      }
      case "message":
        check(r.get(field) as ReflectMessage, path + ".");
        return;
      case "list": {
        const list = r.get(field);
        if (rules) checkLength(path, list.size, rules, "items");
        let i = 0;
        for (const item of list) {
          const itemPath = `${path}[${i++}]`;
          if (field.listKind === "message") check(item as ReflectMessage, itemPath + ".");
          else if (field.listKind === "scalar") {
            checkText(itemPath, item);
            if (rules) checkScalar(itemPath, item, rules, pattern, true);
          }
        }
        return;
      }
      case "map": {
        const map = r.get(field);
        if (rules) checkLength(path, map.size, rules, "entries");
        for (const [k, v] of map) {
          checkText(`${path} key`, k);
          if (field.mapKind === "message") check(v as ReflectMessage, `${path}[${String(k)}].`);
          else checkText(`${path}[${String(k)}]`, v);
        }
        return;
      }
    }
  };
}

function checkText(path: string, value: unknown): void {
  if (typeof value !== "string") return;
  const problem = textProblem(value);
  if (problem) throw invalidArgument(path, problem);
}

function checkScalar(path: string, value: unknown, rules: FieldRules, pattern: RegExp | undefined, item = false): void {
  if (typeof value === "string") {
    // Lengths of repeated fields count items; their items are only pattern-checked.
    if (!item) checkCharacters(path, value, rules);
    if (pattern && !pattern.test(value)) throw invalidArgument(path, `must match ${rules.pattern}`);
    if (rules.in.length > 0 && !rules.in.includes(value)) throw invalidArgument(path, `must be one of ${rules.in.join(", ")}`);
    if (rules.url && !isAbsoluteUrl(value)) throw invalidArgument(path, "must be an absolute URL");
    if (rules.webhookEventType && !isWebhookEventType(value)) throw invalidArgument(path, `must be one of ${WEBHOOK_EVENT_TYPES.join(", ")}`);
  } else if (value instanceof Uint8Array) {
    if (!item) checkLength(path, value.length, rules, "bytes");
  } else if (typeof value === "number" || typeof value === "bigint") {
    const n = BigInt(value);
    if (rules.gte !== undefined && n < rules.gte) throw invalidArgument(path, `must be at least ${rules.gte}`);
    if (rules.lte !== undefined && n > rules.lte) throw invalidArgument(path, `must be at most ${rules.lte}`);
  }
}

/**
 * A string's length in code points against its bounds. Its UTF-16 length
 * brackets the count (each code point is one or two units), so the count is
 * taken only when a bound falls inside that bracket: a 1 MB bundle_json with
 * no bound near its size is not walked.
 */
function checkCharacters(path: string, value: string, rules: FieldRules): void {
  const most = value.length;
  const least = Math.ceil(value.length / 2);
  if ((!rules.maxLen || most <= rules.maxLen) && (!rules.minLen || least >= rules.minLen)) return;
  checkLength(path, codePoints(value), rules, "characters");
}

/** Unicode code points of a string, counted without building them ([...value] costs 25 ms for a 1 MB public VerifyBundle). */
function codePoints(value: string): number {
  let pairs = 0;
  for (let i = 0; i + 1 < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = value.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        pairs++;
        i++;
      }
    }
  }
  return value.length - pairs;
}

function checkLength(path: string, length: number, rules: FieldRules, unit: string): void {
  if (rules.minLen && length < rules.minLen) throw invalidArgument(path, `must have at least ${rules.minLen} ${unit}`);
  if (rules.maxLen && length > rules.maxLen) throw invalidArgument(path, `must have at most ${rules.maxLen} ${unit}`);
}

function isAbsoluteUrl(value: string): boolean {
  try {
    return Boolean(new URL(value).protocol);
  } catch {
    return false;
  }
}
