import type { Context, Hono } from "hono";
import type { Connectors, IngressRequest, IngressResult } from "../connectors/module.js";
import type { Authenticator } from "../tenancy/authenticator.js";

export interface ConnectorRouteDeps {
  connectors: Connectors;
  authenticator: Authenticator;
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
 * Connector ingress (seed 000, DESIGN section 4). Thin: hand the raw bytes
 * and headers to the domain, answer its outcome; errors are the JSON errors
 * of the plain HTTP routes (401 carries no detail, unknown and revoked
 * connectors answer the same 404).
 */
export function mountConnectorRoutes(app: Hono, { connectors }: ConnectorRouteDeps): void {
  app.post("/v2/connectors/signed-webhooks/:id/events", async (c) => answer(c, await connectors.ingestSignedWebhook(c.req.param("id"), await ingressRequest(c))));
  app.post("/v2/connectors/github/:id/events", async (c) => answer(c, await connectors.ingestGitHub(c.req.param("id"), await ingressRequest(c))));
  app.post("/v2/connectors/gitlab/:id/events", async (c) => answer(c, await connectors.ingestGitLab(c.req.param("id"), await ingressRequest(c))));
}
