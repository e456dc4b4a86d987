import { createHmac, randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ConnectorKind, ConnectorService } from "../../gen/ts/attesto/v1/connector_pb.js";
import { ProofstreamService } from "../../gen/ts/attesto/v1/proofstream_pb.js";
import { loadConfig, type Config } from "../../src/config.js";
import { createLogger } from "../../src/logger.js";
import { startAttesto, type Attesto } from "../../src/server/app.js";
import { clientFor, newTenant, testEnv } from "./server.js";

/** Every log line the connector test servers wrote, for the leak check. */
export const capturedLogs: string[] = [];

/** Secrets and payload fragments a test file used: none may show up in a log line. */
export const sensitive = new Set<string>();

/** The registered values found in the captured log lines (expected: none). */
export function leakedIntoLogs(): string[] {
  return [...sensitive].filter((needle) => capturedLogs.some((line) => line.includes(needle)));
}

/** Records the secrets that pass through ConnectorService calls: returned ones and S3 keys sent. */
const recordSecrets: Interceptor = (next) => async (req) => {
  const sent = req.message as { config?: { case?: string; value?: { secretAccessKey?: string } }; secretAccessKey?: string };
  if (sent.config?.case === "s3Object" && sent.config.value?.secretAccessKey) sensitive.add(sent.config.value.secretAccessKey);
  if (sent.secretAccessKey) sensitive.add(sent.secretAccessKey);
  const res = await next(req);
  const secret = (res as { message?: { secret?: unknown } }).message?.secret;
  if (typeof secret === "string" && secret) sensitive.add(secret);
  return res;
};

const logSink = new Writable({
  write(chunk: Buffer, _enc, done) {
    capturedLogs.push(chunk.toString("utf8"));
    done();
  },
});

/** A server whose logs (debug and up) are captured; small pool, loopback S3 endpoints allowed. */
export async function startConnectorServer(overrides: Partial<Config> = {}, env: Record<string, string> = {}): Promise<Attesto> {
  const config = loadConfig(await testEnv({ ATTESTO_DB_POOL: "4", ATTESTO_CONNECTOR_ALLOW_LOOPBACK: "true", ...env }), { port: 0, ...overrides });
  // pino writes to any writable stream; its type names SonicBoom.
  return startAttesto(config, createLogger("debug", logSink as unknown as Parameters<typeof createLogger>[1]));
}

/** A tenant with a stream and the connector client. */
export async function tenantWithStream(app: Attesto) {
  const tenant = await newTenant(app.url);
  const ps = clientFor(ProofstreamService, app.url, tenant.key);
  const { stream } = await ps.createStream({ name: "connector target" });
  sensitive.add(tenant.key);
  const connectors = createClient(
    ConnectorService,
    createConnectTransport({
      baseUrl: app.url,
      httpVersion: "1.1",
      interceptors: [
        recordSecrets,
        (next) => (req) => {
          req.header.set("Authorization", `Bearer ${tenant.key}`);
          return next(req);
        },
      ],
    }),
  );
  return { ...tenant, streamId: stream!.id, ps, connectors };
}

export type TenantWithStream = Awaited<ReturnType<typeof tenantWithStream>>;

export async function signedWebhookConnector(t: TenantWithStream) {
  const res = await t.connectors.createConnector({ streamId: t.streamId, name: "hmac source", kind: ConnectorKind.SIGNED_WEBHOOK });
  return { id: res.connector!.id, secret: res.secret, connector: res.connector! };
}

/** The seed's signature: hex HMAC-SHA256 keyed with the secret over `timestamp + "." + raw body` (written here, apart from src/). */
export function signedHeaders(secret: string, body: string | Buffer, timestamp = Math.floor(Date.now() / 1000)): Record<string, string> {
  const signature = createHmac("sha256", secret).update(`${timestamp}.`).update(body).digest("hex");
  return {
    "content-type": "application/json",
    "x-attesto-connector-timestamp": String(timestamp),
    "x-attesto-connector-signature": signature,
  };
}

/** The seed's example body, with a fresh source_ref unless given. */
export function seedBody(sourceRef = `source-system-${randomBytes(4).toString("hex")}`, result = "passed") {
  sensitive.add("policy-2026-01");
  return JSON.stringify({
    source_ref: sourceRef,
    event_type: "source.observation",
    occurred_at: "2026-06-07T12:00:00Z",
    payload: { control: "policy-check", result, policy_id: "policy-2026-01" },
  });
}

export async function post(url: string, headers: Record<string, string>, body: string | Buffer) {
  const res = await fetch(url, { method: "POST", headers, body: typeof body === "string" ? body : new Uint8Array(body) });
  const text = await res.text();
  return { status: res.status, text, json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
}
