import type { Config } from "../config.js";

/** What a differing value does at start: `refuse` stops the instance, `warn` logs and starts. */
export type OnDiffer = "refuse" | "warn";

/** One setting that changes behaviour across the instances sharing a database and queues. */
export interface SharedSetting {
  /** Its name in the stored row. */
  name: string;
  /** The environment variable that sets it. */
  env: string;
  value: string | number | boolean;
  onDiffer: OnDiffer;
  /** Why it must agree (said in the refusal or warning). */
  why: string;
}

export interface DeploymentSettings {
  /** The queue prefix in force: with the database, what instances share. */
  queuePrefix: string;
  /** Store this instance's settings as the deployment's instead of checking them (ATTESTO_RECONFIGURE). */
  reconfigure: boolean;
  shared: SharedSetting[];
}

/**
 * The settings checked at start. Refused: those that decide what a job or
 * request does on whichever instance takes it, so a differing value fails
 * work another instance accepted (deliveries to loopback receivers, S3
 * objects on loopback, proofs of attempts, public tiles). Warned: the
 * schedules of periodic jobs, which all instances share (the last one to
 * start sets them), so a differing value changes timing, not outcomes.
 */
export function deploymentSettings(config: Config, queuePrefix: string): DeploymentSettings {
  const refuse = "refuse" as const;
  const warn = "warn" as const;
  const jobs = "every instance takes jobs from the shared queues";
  const schedule = "the periodic job is shared; the last instance to start sets its interval for all";
  return {
    queuePrefix,
    reconfigure: config.reconfigure,
    shared: [
      {
        // Named anew when the embedded default's loopback went from every tenant to the development tenant's
        // only: a deployment that stored the old boolean adds this name instead of refusing its own upgrade.
        name: "webhook_loopback_receivers",
        env: "ATTESTO_WEBHOOK_ALLOW_LOOPBACK",
        value: config.webhookAllowLoopback ? "on (every tenant)" : config.webhookDevTenantLoopback && config.devTenant ? "on (the development tenant only)" : "off",
        onDiffer: refuse,
        why: `${jobs}, so a delivery accepted by one fails on another as blocked_address`,
      },
      {
        name: "connector_allow_loopback",
        env: "ATTESTO_CONNECTOR_ALLOW_LOOPBACK",
        value: config.connectorAllowLoopback,
        onDiffer: refuse,
        why: "S3 endpoints one instance accepts would fail on another",
      },
      {
        name: "webhook_delivery_proofs",
        env: "ATTESTO_WEBHOOK_DELIVERY_PROOFS",
        value: config.webhookDeliveryProofs,
        onDiffer: refuse,
        why: `${jobs}, so only some attempts would be committed to the deliveries Proofstream`,
      },
      { name: "tiles_public", env: "ATTESTO_TILES_PUBLIC", value: config.tilesPublic, onDiffer: refuse, why: "whether tiles and bundles are public would depend on the instance that answers" },
      { name: "checkpoint_interval_ms", env: "ATTESTO_CHECKPOINT_INTERVAL_MS", value: config.checkpointIntervalMs, onDiffer: warn, why: schedule },
      { name: "self_audit_interval_ms", env: "ATTESTO_SELF_AUDIT_INTERVAL_MS", value: config.selfAuditIntervalMs, onDiffer: warn, why: schedule },
      { name: "store_reconcile_interval_ms", env: "ATTESTO_STORE_RECONCILE_INTERVAL_MS", value: config.storeReconcileIntervalMs, onDiffer: warn, why: schedule },
      { name: "anchor_interval_ms", env: "ATTESTO_ANCHOR_INTERVAL_MS", value: config.anchorIntervalMs, onDiffer: warn, why: schedule },
    ],
  };
}
