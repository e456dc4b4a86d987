import type { Config } from "../config.js";
import type { OutboundPolicy } from "../net/outbound.js";

/** What the webhooks module is configured with (ATTESTO_WEBHOOK_* variables). */
export interface WebhookSettings {
  /** The deployment's outbound policy: every tenant's receivers are held to it... */
  policy: OutboundPolicy;
  /** ...except this tenant's (the development tenant's), which may be on loopback too (ReceiverPolicies). */
  loopbackTenantId?: string;
  /** Delay before each attempt, ms; its length is the number of attempts. */
  retrySchedule: number[];
  timeoutMs: number;
  retryAfterMaxMs: number;
  concurrency: number;
  secretOverlapMs: number;
  relayIntervalMs: number;
  relayGraceMs: number;
  jobLockMs: number;
  /** How often each instance looks for new outbox rows written by other processes. */
  outboxPollMs: number;
  /** When a subscription is disabled for sustained failure. */
  autoDisable: { failedDeliveries: number; failingForMs: number };
  /** How often (and after how long) attempts missing from the deliveries Proofstream are committed by the sweep. */
  proofSweepMs: number;
  /** W3C traceparent on outbound deliveries (only while tracing is on). */
  traceparent: boolean;
  /** This server's public base URL (links in test events); read when used, since with port 0 it is known only after listening. */
  publicBaseUrl: () => string;
}

/** `devTenantId`: the development tenant, when this deployment has one (config.devTenant). */
export function webhookSettings(config: Config, publicBaseUrl: () => string = () => config.publicBaseUrl, devTenantId?: string): WebhookSettings {
  return {
    policy: { allowLoopback: config.webhookAllowLoopback, loopbackSetting: "ATTESTO_WEBHOOK_ALLOW_LOOPBACK" },
    loopbackTenantId: config.webhookDevTenantLoopback ? devTenantId : undefined,
    retrySchedule: config.webhookRetrySchedule,
    timeoutMs: config.webhookTimeoutMs,
    retryAfterMaxMs: config.webhookRetryAfterMaxMs,
    concurrency: config.webhookConcurrency,
    secretOverlapMs: config.webhookSecretOverlapMs,
    relayIntervalMs: config.webhookRelayIntervalMs,
    relayGraceMs: config.webhookRelayGraceMs,
    jobLockMs: config.webhookJobLockMs,
    outboxPollMs: config.webhookOutboxPollMs,
    autoDisable: { failedDeliveries: config.webhookDisableAfterFailedDeliveries, failingForMs: config.webhookDisableAfterFailingMs },
    proofSweepMs: config.webhookProofSweepMs,
    traceparent: config.webhookTraceparent,
    publicBaseUrl,
  };
}
