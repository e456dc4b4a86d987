import { AppError } from "../errors.js";

/** Pairs of a contract field path and how an edge names it. */
export type FieldNames = ReadonlyArray<readonly [contract: string, edge: string]>;

/**
 * The same error naming its field the way an edge does: the domain reports
 * fields by their contract path (`event_types[1]`), REST answers
 * `eventTypes[1]`, UpdateSubscription `event_types.values[1]`. A path
 * matches a pair exactly or as its prefix (followed by `[` or `.`); the
 * first pair that matches wins. Anything else passes through unchanged.
 */
export function renderField(err: unknown, names: FieldNames): unknown {
  if (!(err instanceof AppError) || !err.details.field) return err;
  const field = err.details.field;
  const pair = names.find(([from]) => field === from || field.startsWith(`${from}[`) || field.startsWith(`${from}.`));
  return pair ? err.withField(pair[1] + field.slice(pair[0].length)) : err;
}
