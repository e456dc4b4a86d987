import { invalidArgument } from "../errors.js";

/**
 * The fields an Update call's `update_mask` (AIP-134) names, checked
 * against the fields the call may change: an empty mask, an unknown path or
 * a path named twice answers INVALID_ARGUMENT naming update_mask.
 */
export function maskedFields<F extends string>(paths: readonly string[] | undefined, updatable: readonly F[]): Set<F> {
  if (!paths || paths.length === 0) throw invalidArgument("update_mask", `must name the fields to change: any of ${updatable.join(", ")}`);
  const named = new Set<F>();
  for (const path of paths) {
    if (!(updatable as readonly string[]).includes(path)) {
      throw invalidArgument("update_mask", `cannot change "${path.slice(0, 64)}"; the paths are ${updatable.join(", ")}`);
    }
    if (named.has(path as F)) throw invalidArgument("update_mask", `names "${path}" twice`);
    named.add(path as F);
  }
  return named;
}
