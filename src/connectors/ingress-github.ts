import { invalidArgument } from "../errors.js";
import { authenticate, commit, rejectBody, type IngressDeps } from "./ingress.js";
import { gitHubPush, parseJsonObject } from "./normalize.js";
import { verifyGitHub } from "./signatures.js";
import type { IngressRequest, IngressResult } from "./types.js";

/** POST /v2/connectors/github/{id}/events: `ping` answered, `push` committed, other events ignored. */
export async function ingestGitHub(deps: IngressDeps, id: string, req: IngressRequest): Promise<IngressResult> {
  const c = await deps.live.of(id, "github");
  authenticate(deps.stats, c, req, (secrets) => verifyGitHub(secrets, req.header("x-hub-signature-256"), req.body));
  const event = req.header("x-github-event");
  if (!event || !/^[a-z_]{1,64}$/.test(event)) rejectBody(deps.stats, c, invalidArgument("X-GitHub-Event", "is required: a GitHub event name"));
  if (event === "ping") {
    deps.stats.record(c.id, { kind: "ping" });
    return { kind: "ping" };
  }
  const allowed = c.settings.github?.events ?? [];
  if (event !== "push" || (allowed.length > 0 && !allowed.includes(event))) {
    deps.stats.record(c.id, { kind: "ignored" });
    return { kind: "ignored", event };
  }
  return commit(deps, c, () => gitHubPush(parseJsonObject(req.body)));
}
