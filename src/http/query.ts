import type { Context } from "hono";
import { invalidArgument } from "../errors.js";

/** `pageSize` → `page_size`; a name already in snake_case is unchanged. */
export const snakeCase = (name: string): string => name.replace(/[A-Z]/g, (upper) => `_${upper.toLowerCase()}`);

/**
 * The request's query parameters by their canonical snake_case names (the
 * contract's field names: `page_size`, `wait_for_proof`), each given at most
 * once. The camelCase spelling of a name (`pageSize`, the JSON name the
 * RPCs and the REST bodies use) is read as the same parameter: a client
 * that writes its bodies in camelCase is not refused for writing its query
 * the same way. Both spellings at once, or one twice, is an error naming it.
 * With `only`, other parameters are left alone (a provider's webhook URL
 * may carry its own).
 */
export function queryOf(c: Context, only?: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, values] of Object.entries(c.req.queries())) {
    const canonical = snakeCase(name);
    if (only && !only.includes(canonical)) continue;
    if (values.length > 1 || canonical in out) throw invalidArgument(canonical, "must be given once");
    out[canonical] = values[0]!;
  }
  return out;
}
