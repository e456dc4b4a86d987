import type { Context, Hono } from "hono";
import { receiptJson, type Connectors, type IngressRequest, type IngressResult } from "../connectors/module.js";
import { invalidArgument } from "../errors.js";
import type { Tenancy } from "../tenancy/module.js";
import { jsonObject } from "./webhooks.js";

/** What the ingress routes need: the Connectors facade's ingress calls and the tenant's key. */
export interface ConnectorRouteDeps {
  connectors: Pick<Connectors, "ingestSignedWebhook" | "ingestGitHub" | "ingestGitLab" | "commitS3Object">;
  authenticator: Pick<Tenancy["authenticator"], "requireTenant">;
}

/** The raw request for the domain: signatures are checked over these exact bytes, before any parsing. */
async function ingressRequest(c: Context): Promise<IngressRequest> {
  const body = Buffer.from(await c.req.arrayBuffer());
  return { header: (name) => c.req.header(name), body };
}

/** 201 for a new event, 200 for an identical replay; ping 200; ignored events 202. */
function answer(c: Context, outcome: IngressResult) {
  switch (outcome.kind) {
    case "committed": {
      const { event, duplicate } = outcome.result;
      return c.json({ stream_id: event.streamId, seq_no: event.seqNo, leaf_hash: event.leafHash.toString("hex"), duplicate }, duplicate ? 200 : 201);
    }
    case "ping":
      return c.json({ ping: "ok" }, 200);
    case "ignored":
      return c.json({ ignored: outcome.event }, 202);
  }
}

/**
 * Connector ingress. Thin: hand the raw bytes
 * and headers to the domain, answer its outcome; errors are the JSON errors
 * of the plain HTTP routes (401 carries no detail, unknown and revoked
 * connectors answer the same 404).
 */
export function mountConnectorRoutes(app: Hono, { connectors, authenticator }: ConnectorRouteDeps): void {
  app.post("/v2/connectors/signed-webhooks/:id/events", async (c) => answer(c, await connectors.ingestSignedWebhook(c.req.param("id"), await ingressRequest(c))));
  app.post("/v2/connectors/github/:id/events", async (c) => answer(c, await connectors.ingestGitHub(c.req.param("id"), await ingressRequest(c))));
  // Tenant API key; the seed's body {key, versionId, metadata}.
  app.post("/v2/tenant/connectors/s3-objects/:id/commit", async (c) => {
    const { tenantId } = await authenticator.requireTenant(c.req.header("authorization"));
    const body = await s3CommitBody(c);
    const { result, receipt } = await connectors.commitS3Object(tenantId, c.req.param("id"), body);
    const { event, duplicate } = result;
    return c.json(
      {
        stream_id: event.streamId,
        seq_no: event.seqNo,
        leaf_hash: event.leafHash.toString("hex"),
        duplicate,
        receipt: receiptJson(receipt),
      },
      duplicate ? 200 : 201,
    );
  });
  app.post("/v2/connectors/gitlab/:id/events", async (c) => answer(c, await connectors.ingestGitLab(c.req.param("id"), await ingressRequest(c))));
}

/** {key, versionId?, metadata?}: JSON types checked here, the rules in the domain. */
async function s3CommitBody(c: Context): Promise<{ key: string; versionId: string; metadata: Record<string, unknown> }> {
  const body = await jsonObject(c);
  const { key, versionId, metadata, ...rest } = body;
  const unknownField = Object.keys(rest)[0];
  if (unknownField !== undefined) throw invalidArgument(unknownField, "unknown field");
  if (typeof key !== "string" || key.length === 0 || key.length > 1024) throw invalidArgument("key", "is required: 1 to 1024 characters");
  if (versionId !== undefined && versionId !== null && (typeof versionId !== "string" || versionId.length > 1024)) {
    throw invalidArgument("versionId", "must be a string of at most 1024 characters");
  }
  if (metadata !== undefined && metadata !== null && (typeof metadata !== "object" || Array.isArray(metadata))) {
    throw invalidArgument("metadata", "must be an object of strings");
  }
  return { key, versionId: (versionId as string | undefined) ?? "", metadata: (metadata as Record<string, unknown> | undefined) ?? {} };
}
