import type { Attempt, Delivery, Subscription } from "../webhooks/module.js";
import type { AttemptErrorKind, DeliveryStatus } from "../webhooks/schema.js";

/**
 * How an edge writes the values a webhook view leaves open: REST writes
 * times as ISO strings, absent values as null and enums as their names;
 * the RPC edge writes Timestamps, the proto3 zero values and its enums.
 */
export interface ViewFormat<Time, NoTime, NoText, NoNumber, Status, ErrorKind> {
  time: (d: Date) => Time;
  noTime: NoTime;
  noText: NoText;
  noNumber: NoNumber;
  status: (s: DeliveryStatus) => Status;
  errorKind: (k: AttemptErrorKind | null) => ErrorKind;
}

// The subscription, delivery and attempt as both edges show them: one field list, each edge's format.

export const subscriptionView = <T, NT, NX, NN, S, K>(s: Subscription, f: ViewFormat<T, NT, NX, NN, S, K>) => ({
  id: s.id,
  name: s.name,
  url: s.url,
  eventTypes: s.eventTypes,
  description: s.description,
  enabled: s.enabled,
  disabledReason: s.disabledReason ?? f.noText,
  createdAt: f.time(s.createdAt),
  updatedAt: f.time(s.updatedAt),
  secretRotatedAt: f.time(s.secretRotatedAt),
  previousSecretExpiresAt: s.previousSecretExpiresAt ? f.time(s.previousSecretExpiresAt) : f.noTime,
  etag: s.etag,
  maxDeliveriesPerSecond: s.maxDeliveriesPerSecond,
  ordered: s.ordered,
  orderingBoundSeconds: s.orderingBoundSeconds,
  consecutiveFailedDeliveries: s.consecutiveFailedDeliveries,
  failingSince: s.failingSince ? f.time(s.failingSince) : f.noTime,
});

export const attemptView = <T, NT, NX, NN, S, K>(a: Attempt, f: ViewFormat<T, NT, NX, NN, S, K>) => ({
  number: a.number,
  startedAt: f.time(a.startedAt),
  finishedAt: a.finishedAt ? f.time(a.finishedAt) : f.noTime,
  latencyMs: a.latencyMs ?? f.noNumber,
  statusCode: a.statusCode ?? f.noNumber,
  errorKind: f.errorKind(a.errorKind),
  responseExcerpt: a.responseExcerpt,
  urlHost: a.urlHost,
  bodySha256: a.bodySha256,
  responseSha256: a.responseSha256,
  proofStreamId: a.proofStreamId ?? f.noText,
  seqNo: a.seqNo ?? f.noNumber,
  tlogProof: a.tlogProof ?? f.noText,
});

export const deliveryView = <T, NT, NX, NN, S, K>(d: Delivery, f: ViewFormat<T, NT, NX, NN, S, K>) => ({
  id: d.id,
  subscriptionId: d.subscriptionId,
  eventType: d.eventType,
  status: f.status(d.status),
  failureReason: d.failureReason ?? f.noText,
  url: d.url,
  test: d.test,
  data: d.data,
  attemptCount: d.attemptCount,
  createdAt: f.time(d.createdAt),
  lastAttemptAt: d.lastAttemptAt ? f.time(d.lastAttemptAt) : f.noTime,
  nextAttemptAt: d.nextAttemptAt ? f.time(d.nextAttemptAt) : f.noTime,
  orderingKey: d.orderingKey ?? f.noText,
  ordering: d.ordering || f.noText,
  heldSince: d.heldSince ? f.time(d.heldSince) : f.noTime,
  attempts: d.attempts.map((a) => attemptView(a, f)),
});
