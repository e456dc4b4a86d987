import { AppError } from "../errors.js";
import { commit, type IngressDeps } from "./ingress.js";
import { connectorNotFound } from "./live.js";
import { checkKey, checkMetadata, objectEvent, ObjectStore } from "./s3.js";
import type { ConnectorSettings } from "./settings.js";
import type { AppendResult, ObjectReceipt, S3Credentials } from "./types.js";

/**
 * CommitS3Object: a real HeadObject with the connector's credentials, then
 * the receipt and the caller's metadata committed through the Proofstreams
 * append. Object content is never read.
 */
export async function commitS3Object(
  deps: IngressDeps & { settings: Pick<ConnectorSettings, "policy" | "s3TimeoutMs"> },
  tenantId: string,
  id: string,
  input: { key: string; versionId: string; metadata: Record<string, unknown> },
): Promise<{ result: AppendResult; receipt: ObjectReceipt }> {
  const c = await deps.live.entry(id);
  if (c === "missing" || c.tenantId !== tenantId) throw connectorNotFound();
  if (c.kind !== "s3_object" || !c.settings.s3) {
    throw new AppError("failed_precondition", "connector is not an s3_object connector", { reason: "CONNECTOR_KIND_MISMATCH" });
  }
  const s3 = c.settings.s3;
  let metadata: Record<string, string>;
  try {
    checkKey(input.key, s3.keyPrefix);
    metadata = checkMetadata(input.metadata);
  } catch (err) {
    deps.stats.record(c.id, { kind: "rejected", reason: (err as AppError).details.reason ?? "BODY_INVALID" });
    throw err;
  }
  const { policy, s3TimeoutMs } = deps.settings;
  c.store ??= new ObjectStore({ ...s3, ...(JSON.parse(c.secrets[0]!) as S3Credentials) }, { policy, timeoutMs: s3TimeoutMs });
  let receipt: ObjectReceipt;
  try {
    receipt = await c.store.head(input.key, input.versionId);
  } catch (err) {
    const reason = err instanceof AppError ? (err.details.reason ?? "OBJECT_STORE_UNAVAILABLE") : "OBJECT_STORE_UNAVAILABLE";
    deps.stats.record(c.id, reason === "OBJECT_STORE_DENIED" ? { kind: "auth_failed", reason } : { kind: "rejected", reason });
    throw err;
  }
  const committed = await commit(deps, c, () => objectEvent(receipt, metadata));
  if (committed.kind !== "committed") throw new AppError("internal", "object commit did not commit");
  return { result: committed.result, receipt };
}
