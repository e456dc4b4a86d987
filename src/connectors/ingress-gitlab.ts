import { invalidArgument } from "../errors.js";
import { authenticate, commit, nowSeconds, rejectBody, type IngressDeps } from "./ingress.js";
import { deliveryId, gitLabPush, parseJsonObject } from "./normalize.js";
import { SIGNING_TOKEN_PREFIX, verifyGitLabToken, verifyStandardWebhook } from "./signatures.js";
import type { IngressRequest, IngressResult } from "./types.js";

/** POST /v2/connectors/gitlab/{id}/events: push hooks committed, other hook kinds ignored. */
export async function ingestGitLab(deps: IngressDeps, id: string, req: IngressRequest): Promise<IngressResult> {
  const c = await deps.live.of(id, "gitlab");
  const legacy = c.settings.gitlab?.tokenMode === "legacy_token";
  const signed = { id: req.header("webhook-id"), timestamp: req.header("webhook-timestamp"), signature: req.header("webhook-signature") };
  // By the secret's form: a retired legacy token (hex) is checked as the token it was.
  authenticate(deps.stats, c, req, (secrets) =>
    secrets[0]?.startsWith(SIGNING_TOKEN_PREFIX) ? verifyStandardWebhook(secrets, signed, req.body, nowSeconds()) : verifyGitLabToken(secrets, req.header("x-gitlab-token")),
  );
  let body: Record<string, unknown>;
  try {
    body = parseJsonObject(req.body);
  } catch (err) {
    rejectBody(deps.stats, c, err);
  }
  const kind = typeof body.object_kind === "string" && /^[a-z_]{1,64}$/.test(body.object_kind) ? body.object_kind : undefined;
  if (!kind) rejectBody(deps.stats, c, invalidArgument("object_kind", "is required: a GitLab hook kind"));
  if (kind !== "push") {
    deps.stats.record(c.id, { kind: "ignored" });
    return { kind: "ignored", event: kind };
  }
  // The signed webhook-id (GitLab sends the Idempotency-Key's value, the same on every retry), never the
  // unsigned Idempotency-Key itself: a replay with a fresh one must not be new evidence.
  return commit(deps, c, () => gitLabPush(body, legacy ? undefined : deliveryId(signed.id, "webhook-id")));
}
