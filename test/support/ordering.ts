import type { Received } from "./webhooks.js";

/** One request an ordered receiver got: which event of which stream, how it was answered, what it said of its order. */
export interface Seen {
  deliveryId: string;
  stream: string;
  n: number;
  ok: boolean;
  ordering: string;
}

/** What a request carries of its event (a proofstream.checkpointed body: stream_id, tree_size). */
export function seenOf(req: Received, ok: boolean): Seen {
  const body = JSON.parse(req.body.toString("utf8")) as { data: { stream_id: string; tree_size: number } };
  return {
    deliveryId: req.headers["x-attesto-delivery-id"] as string,
    stream: body.data.stream_id,
    n: body.data.tree_size,
    ok,
    ordering: (req.headers["x-attesto-ordering"] as string | undefined) ?? "",
  };
}

/**
 * The inversions in what a receiver saw, in arrival order: a request for
 * event n of a stream that came while an earlier event of that stream had
 * not been answered 2xx yet. Empty when the order held.
 */
export function inversions(seen: readonly Seen[]): string[] {
  const delivered = new Map<string, Set<number>>();
  const found: string[] = [];
  for (const s of seen) {
    const done = delivered.get(s.stream) ?? new Set<number>();
    delivered.set(s.stream, done);
    for (let earlier = 1; earlier < s.n; earlier++) {
      if (!done.has(earlier)) {
        found.push(`${s.stream} #${s.n} arrived before #${earlier} was delivered`);
        break;
      }
    }
    if (s.ok) done.add(s.n);
  }
  return found;
}
