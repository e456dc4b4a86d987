/**
 * A public request's share of the process (the gate in
 * `server/public-gate.ts`: a place among the few public requests in
 * progress, and its charge against the public CPU budget), given back by
 * the edge that serves it once the caller has authenticated. The share
 * bounds what unauthenticated callers cost; once a connector delivery's
 * signature verifies, the rest of its work (the durable commit) is its
 * tenant's, as an authenticated request's is: it neither holds a public
 * place while it waits on the database nor counts against the budget that
 * refuses anonymous floods.
 *
 * Keyed by the Node request object, which the gate and the edges both see.
 */
const places = new WeakMap<object, () => void>();

/** The gate: `authenticated` gives the request's place and charge back (called at most once, from here). */
export function holdPublicPlace(req: object, authenticated: () => void): void {
  places.set(req, authenticated);
}

/** An edge: the request is authenticated now; a request the gate did not admit (or a test's) has nothing to give back. */
export function leavePublicShare(req: object | undefined): void {
  if (!req) return;
  const leave = places.get(req);
  if (!leave) return;
  places.delete(req);
  leave();
}
