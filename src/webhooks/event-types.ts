/**
 * The event types a tenant can subscribe to, and the shape of each one's
 * `data` (also documented in proto/attesto/v1/webhook.proto and the README).
 * Timestamps are RFC 3339 UTC strings, hashes lowercase hex, chain values
 * 0x-prefixed hex.
 */
export const WEBHOOK_EVENT_TYPES = [
  "batch.confirmed",
  "batch.failed",
  "event.anchored",
  "proofstream.checkpointed",
  "proofstream.witnessed",
  "proofstream.fork_detected",
  "proofstream.bundle_ready",
  "apple.notification",
  "google.notification",
  "google.voided",
  "subscription.disabled",
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export const isWebhookEventType = (value: string): value is WebhookEventType => (WEBHOOK_EVENT_TYPES as readonly string[]).includes(value);

export interface CheckpointRef {
  stream_id: string;
  tree_size: number;
}

/** `data` of each event type. */
export interface WebhookEventData {
  /** A Merkle batch holding checkpoints of the tenant's streams is final on chain. */
  "batch.confirmed": {
    batch_id: string;
    chain_id: number;
    tx_hash: string;
    block_number: number;
    block_hash: string;
    root: string;
    checkpoints: CheckpointRef[];
    confirmed_at: string;
  };
  /** The batch was dropped, reorged out, or not confirmed in time; its checkpoints go into the next one. */
  "batch.failed": {
    batch_id: string;
    chain_id: number;
    /** "" when no transaction was sent. */
    tx_hash: string;
    reason: "dropped" | "reorged" | "orphan_window" | "submit_failed" | "chain_lost";
    checkpoints: CheckpointRef[];
    failed_at: string;
  };
  /**
   * The events of one stream that a confirmed batch newly covers: seq_no
   * from_seq_no..to_seq_no (every event after the stream's previously
   * confirmed anchor). One delivery per stream, whatever the range's length.
   */
  "event.anchored": {
    stream_id: string;
    from_seq_no: number;
    to_seq_no: number;
    checkpoint_size: number;
    batch_id: string;
    chain_id: number;
    tx_hash: string;
    block_number: number;
  };
  /** A checkpoint was signed. */
  "proofstream.checkpointed": {
    stream_id: string;
    origin: string;
    tree_size: number;
    root_hash: string;
    note: string;
    signed_at: string;
  };
  /** A checkpoint gathered the cosignatures its witness policy asks for (k of the deployment's witnesses). */
  "proofstream.witnessed": {
    stream_id: string;
    tree_size: number;
    root_hash: string;
    /** The note with its cosignature lines. */
    note: string;
    /** The names of the witnesses whose cosignatures it carries. */
    witnesses: string[];
    witnessed_at: string;
  };
  /** Fork evidence was stored. */
  "proofstream.fork_detected": {
    stream_id: string;
    fork_evidence_id: string;
    kind: "same_size_different_root" | "inconsistent" | "anchor_contradiction" | "self_audit_mismatch";
    source: "submitted_checkpoint" | "anchor" | "self_audit";
    history_size: number;
    conflicting_size: number;
    detected_at: string;
  };
  /** A verifier bundle is ready. */
  "proofstream.bundle_ready": {
    stream_id: string;
    bundle_id: string;
    from_seq_no: number;
    to_seq_no: number;
    /** A share link when CreateBundle asked for one and it still works, else the /verify page that needs the tenant's key. */
    verification_url: string;
    /** Whether verification_url is a share link anyone can open (without an API key). */
    verification_url_shared: boolean;
    /** With a share link: its id (RevokeBundleShareLink) and when it expires. */
    share_link_id?: string;
    share_expires_at?: string;
  };
  /** A verified App Store Server Notification V2, relayed once per notificationUUID. */
  "apple.notification": {
    notification_uuid: string;
    notification_type: string;
    subtype: string;
    environment: string;
    bundle_id: string;
    signed_date: string;
    payload: Record<string, unknown>;
    transaction_info: Record<string, unknown> | null;
    renewal_info: Record<string, unknown> | null;
    /** The tenant's store Proofstream and the event that commits to the notification. */
    stream_id: string;
    seq_no: number;
  };
  /** A verified Google Play RTDN, relayed once per Pub/Sub messageId. */
  "google.notification": {
    message_id: string;
    publish_time: string;
    package_name: string;
    notification_kind: "subscription" | "one_time_product" | "voided_purchase" | "test";
    payload: Record<string, unknown>;
    stream_id: string;
    seq_no: number;
  };
  /** A purchase Google voided (refund, cancellation, chargeback), found in voidedpurchases.list; relayed once per voided order. */
  "google.voided": {
    package_name: string;
    purchase_token: string;
    order_id: string;
    purchase_time: string | null;
    voided_time: string;
    voided_source: number;
    voided_reason: number;
    voided_quantity: number;
    /** Google's VoidedPurchase resource (its field names). */
    payload: Record<string, unknown>;
    stream_id: string;
    seq_no: number;
  };
  /** Another subscription of the tenant was disabled because its deliveries kept failing. */
  "subscription.disabled": {
    subscription_id: string;
    name: string;
    /** The host (and port) of its URL: a path or query may carry a token. */
    url_host: string;
    reason: "failing";
    consecutive_failed_deliveries: number;
    /** The first failed attempt since the last success; null when unknown. */
    failing_since: string | null;
    disabled_at: string;
  };
}

const HASH = "0".repeat(64);

/**
 * The `data` that SendTestEvent sends: the type's shape, with ids that refer
 * to nothing, marked `"test": true` so that a receiver can tell it from a real
 * event. URLs point at this server (`publicBaseUrl`), never at another host.
 */
export function sampleEventData(type: WebhookEventType, publicBaseUrl: string, now = new Date()): WebhookEventData[WebhookEventType] & { test: true } {
  const at = rfc3339(now);
  const base = publicBaseUrl.replace(/\/+$/, "");
  const checkpoints = [{ stream_id: "str_TEST0000000000000000000000", tree_size: 250 }];
  const samples: { [K in WebhookEventType]: WebhookEventData[K] } = {
    "batch.confirmed": {
      batch_id: "bat_TEST0000000000000000000000",
      chain_id: 1,
      tx_hash: `0x${HASH}`,
      block_number: 123,
      block_hash: `0x${HASH}`,
      root: `0x${HASH}`,
      checkpoints,
      confirmed_at: at,
    },
    "batch.failed": {
      batch_id: "bat_TEST0000000000000000000000",
      chain_id: 1,
      tx_hash: "",
      reason: "submit_failed",
      checkpoints,
      failed_at: at,
    },
    "event.anchored": {
      stream_id: "str_TEST0000000000000000000000",
      from_seq_no: 1,
      to_seq_no: 250,
      checkpoint_size: 250,
      batch_id: "bat_TEST0000000000000000000000",
      chain_id: 1,
      tx_hash: `0x${HASH}`,
      block_number: 123,
    },
    "proofstream.checkpointed": {
      stream_id: "str_TEST0000000000000000000000",
      origin: "attesto.test/proofstreams/str_TEST0000000000000000000000",
      tree_size: 250,
      root_hash: HASH,
      note: "",
      signed_at: at,
    },
    "proofstream.witnessed": {
      stream_id: "str_TEST0000000000000000000000",
      tree_size: 250,
      root_hash: HASH,
      note: "",
      witnesses: ["witness.example/w1"],
      witnessed_at: at,
    },
    "proofstream.fork_detected": {
      stream_id: "str_TEST0000000000000000000000",
      fork_evidence_id: "fork_TEST0000000000000000000000",
      kind: "same_size_different_root",
      source: "submitted_checkpoint",
      history_size: 250,
      conflicting_size: 250,
      detected_at: at,
    },
    "proofstream.bundle_ready": {
      stream_id: "str_TEST0000000000000000000000",
      bundle_id: "bundle_TEST0000000000000000000000",
      from_seq_no: 1,
      to_seq_no: 250,
      verification_url: `${base}/verify?bundle=bundle_TEST0000000000000000000000`,
      verification_url_shared: false,
    },
    "apple.notification": {
      notification_uuid: "00000000-0000-0000-0000-000000000000",
      notification_type: "TEST",
      subtype: "",
      environment: "Sandbox",
      bundle_id: "com.example.app",
      signed_date: at,
      payload: { notificationType: "TEST" },
      transaction_info: null,
      renewal_info: null,
      stream_id: "str_TEST0000000000000000000000",
      seq_no: 1,
    },
    "google.notification": {
      message_id: "0",
      publish_time: at,
      package_name: "com.example.app",
      notification_kind: "test",
      payload: { version: "1.0", packageName: "com.example.app", testNotification: { version: "1.0" } },
      stream_id: "str_TEST0000000000000000000000",
      seq_no: 2,
    },
    "google.voided": {
      package_name: "com.example.app",
      purchase_token: "test-purchase-token",
      order_id: "GPA.0000-0000-0000-00000",
      purchase_time: at,
      voided_time: at,
      voided_source: 0,
      voided_reason: 1,
      voided_quantity: 0,
      payload: { kind: "androidpublisher#voidedPurchase", purchaseToken: "test-purchase-token", orderId: "GPA.0000-0000-0000-00000" },
      stream_id: "str_TEST0000000000000000000000",
      seq_no: 3,
    },
    "subscription.disabled": {
      subscription_id: "sub_TEST0000000000000000000000",
      name: "orders endpoint",
      url_host: "hooks.example.com",
      reason: "failing",
      consecutive_failed_deliveries: 20,
      failing_since: at,
      disabled_at: at,
    },
  };
  return { ...samples[type], test: true };
}

/** RFC 3339 UTC to the second, as every event's times are written: 2026-06-07T12:00:00Z. */
export const rfc3339 = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, "Z");
