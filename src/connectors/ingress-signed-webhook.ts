import { authenticate, commit, nowSeconds, type IngressDeps } from "./ingress.js";
import { signedWebhookEvent } from "./normalize.js";
import { verifySignedWebhook } from "./signatures.js";
import type { IngressRequest, IngressResult } from "./types.js";

/** POST /v2/connectors/signed-webhooks/{id}/events: the seed's body, committed as sent once its HMAC verifies. */
export async function ingestSignedWebhook(deps: IngressDeps, id: string, req: IngressRequest): Promise<IngressResult> {
  const c = await deps.live.of(id, "signed_webhook");
  const headers = { timestamp: req.header("x-attesto-connector-timestamp"), signature: req.header("x-attesto-connector-signature") };
  authenticate(deps.stats, c, req, (secrets) => verifySignedWebhook(secrets, headers, req.body, nowSeconds()));
  return commit(deps, c, () => signedWebhookEvent(req.body));
}
