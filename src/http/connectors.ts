import type { Context, Hono } from "hono";
import { receiptJson, type Connectors, type IngressRequest, type IngressResult } from "../connectors/module.js";
import { leavePublicShare } from "../contract/public-share.js";
import { invalidArgument, unknownField } from "../errors.js";
import type { Tenancy } from "../tenancy/module.js";
import { jsonObject } from "./webhooks.js";
import type { Proofstreams } from "../proofstream/module.js";
import { proofReceiptJson, proofWaitOf } from "./proof-wait.js";

/** What the ingress routes need: the Connectors facade's ingress calls, the tenant's key, and receipts for senders that wait for proof. */
export interface ConnectorRouteDeps {
  connectors: Pick<Connectors, "ingestSignedWebhook" | "ingestGitHub" | "ingestGitLab" | "commitS3Object">;
  authenticator: Pick<Tenancy["authenticator"], "requireTenant">;
  proofstreams: Pick<Proofstreams, "receipt">;
}

/** The raw request for the domain: signatures are checked over these exact bytes, before any parsing. */
async function ingressRequest(c: Context): Promise<IngressRequest> {
  const body = Buffer.from(await c.req.arrayBuffer());
  // A verified delivery stops holding one of the process's few public places while it commits.
  const incoming = (c.env as { incoming?: object } | undefined)?.incoming;
  return { header: (name) => c.req.header(name), body, authenticated: () => leavePublicShare(incoming) };
}

/**
 * The leaf hash in both encodings: `leaf_hash` in hex (as these answers have
 * always carried it, and as C2SP tiles and tlog-proofs are read by people),
 * `leaf_hash_base64` as the RPCs' JSON carries bytes (protobuf JSON), ready to
 * be sent as GetInclusionProof's `leafHash`.
 */
const leafHashJson = (leafHash: Buffer) => ({ leaf_hash: leafHash.toString("hex"), leaf_hash_base64: leafHash.toString("base64") });

/** 201 for a new event, 200 for an identical replay; ping 200; ignored events 202. With `wait_for_proof`, a committed event's answer carries its proof_receipt. */
async function answer(c: Context, proofstreams: ConnectorRouteDeps["proofstreams"], proofWait: number | undefined, outcome: IngressResult) {
  switch (outcome.kind) {
    case "committed": {
      const { event, duplicate } = outcome.result;
      const proof = proofWait === undefined ? {} : { proof_receipt: proofReceiptJson(await proofstreams.receipt(outcome.result, proofWait)) };
      return c.json({ stream_id: event.streamId, seq_no: event.seqNo, ...leafHashJson(event.leafHash), duplicate, ...proof }, duplicate ? 200 : 201);
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
export function mountConnectorRoutes(app: Hono, { connectors, authenticator, proofstreams }: ConnectorRouteDeps): void {
  // The query is read before the event is committed, so a malformed wait_for_proof or proof_timeout writes nothing.
  const ingress = (ingest: (id: string, req: IngressRequest) => Promise<IngressResult>) => async (c: Context) => {
    const proofWait = proofWaitOf(c);
    return answer(c, proofstreams, proofWait, await ingest(c.req.param("id")!, await ingressRequest(c)));
  };
  app.post(
    "/v2/connectors/signed-webhooks/:id/events",
    ingress((id, req) => connectors.ingestSignedWebhook(id, req)),
  );
  app.post(
    "/v2/connectors/github/:id/events",
    ingress((id, req) => connectors.ingestGitHub(id, req)),
  );
  // Tenant API key; the seed's body {key, versionId, metadata}.
  app.post("/v2/tenant/connectors/s3-objects/:id/commit", async (c) => {
    const { tenantId } = await authenticator.requireTenant(c.req.header("authorization"));
    const proofWait = proofWaitOf(c);
    const body = await s3CommitBody(c);
    const { result, receipt } = await connectors.commitS3Object(tenantId, c.req.param("id"), body);
    const { event, duplicate } = result;
    const proof = proofWait === undefined ? {} : { proof_receipt: proofReceiptJson(await proofstreams.receipt(result, proofWait)) };
    return c.json(
      {
        stream_id: event.streamId,
        seq_no: event.seqNo,
        ...leafHashJson(event.leafHash),
        duplicate,
        receipt: receiptJson(receipt),
        ...proof,
      },
      duplicate ? 200 : 201,
    );
  });
  app.post(
    "/v2/connectors/gitlab/:id/events",
    ingress((id, req) => connectors.ingestGitLab(id, req)),
  );
}

/** {key, versionId?, metadata?}: JSON types checked here, the rules in the domain. */
async function s3CommitBody(c: Context): Promise<{ key: string; versionId: string; metadata: Record<string, unknown> }> {
  const body = await jsonObject(c);
  const { key, versionId, metadata, ...rest } = body;
  const extra = Object.keys(rest)[0];
  if (extra !== undefined) throw unknownField(extra);
  if (typeof key !== "string" || key.length === 0 || key.length > 1024) throw invalidArgument("key", "is required: 1 to 1024 characters");
  if (versionId !== undefined && versionId !== null && (typeof versionId !== "string" || versionId.length > 1024)) {
    throw invalidArgument("versionId", "must be a string of at most 1024 characters");
  }
  if (metadata !== undefined && metadata !== null && (typeof metadata !== "object" || Array.isArray(metadata))) {
    throw invalidArgument("metadata", "must be an object of strings");
  }
  return { key, versionId: (versionId as string | undefined) ?? "", metadata: (metadata as Record<string, unknown> | undefined) ?? {} };
}
