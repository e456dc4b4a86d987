/** One ended attempt as the subscription's health counts it. */
export interface AttemptHealth {
  subscriptionId: string;
  /** The attempt got a 2xx. */
  ok: boolean;
  /** The attempt ended its delivery as failed (the schedule used up). */
  deliveryFailed: boolean;
  at: Date;
}

/** How a batch of attempts changes one subscription's counters. */
export interface HealthChange {
  subscriptionId: string;
  /** A success was among them: the counters start again from what followed it. */
  reset: boolean;
  /** Deliveries that ended failed (after the last success, when there was one). */
  failedDeliveries: number;
  /** The first failed attempt (after the last success); null when none. */
  failingSince: Date | null;
}

/**
 * Folds a batch of attempts, in the order they ended, into each
 * subscription's change: a success resets "failed deliveries in a row" and
 * "failing since"; failures after it count again.
 */
export function healthChanges(attempts: readonly AttemptHealth[]): HealthChange[] {
  const bySubscription = new Map<string, HealthChange>();
  const ordered = [...attempts].sort((a, b) => a.at.getTime() - b.at.getTime());
  for (const a of ordered) {
    let change = bySubscription.get(a.subscriptionId);
    if (!change) {
      change = { subscriptionId: a.subscriptionId, reset: false, failedDeliveries: 0, failingSince: null };
      bySubscription.set(a.subscriptionId, change);
    }
    if (a.ok) {
      change.reset = true;
      change.failedDeliveries = 0;
      change.failingSince = null;
      continue;
    }
    change.failingSince ??= a.at;
    if (a.deliveryFailed) change.failedDeliveries++;
  }
  return [...bySubscription.values()];
}
