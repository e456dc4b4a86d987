import { randomBytes } from "node:crypto";
import type { Keyring } from "../crypto/keyring.js";
import { invalidArgument } from "../errors.js";
import { checkOutboundUrl, type OutboundPolicy } from "../net/outbound.js";
import type { ConnectorKind } from "./schema.js";
import { SIGNING_TOKEN_PREFIX } from "./signatures.js";
import type { CreateConnectorInput, GitLabTokenMode, KindSettings, S3Credentials } from "./types.js";

/** Encryption context (HKDF info) of sealed connector secrets and credentials. */
export const CONNECTOR_SECRET_CONTEXT = "connectors.secret";

/** A random secret of the kind's form: hex, or "whsec_" + base64 for Standard Webhooks. */
export function newConnectorSecret(kind: ConnectorKind, tokenMode?: GitLabTokenMode): string {
  const bytes = randomBytes(32);
  return kind === "gitlab" && tokenMode !== "legacy_token" ? SIGNING_TOKEN_PREFIX + bytes.toString("base64") : bytes.toString("hex");
}

/** Seals a tenant's connector secret (the tenant id as associated data). */
export const sealSecret = (keyring: Keyring, tenantId: string, text: string): Buffer => keyring.encrypt(CONNECTOR_SECRET_CONTEXT, text, tenantId);

/** Checks a new connector's kind-specific config and makes its secret (S3: seals the given credentials, shows nothing). */
export async function configureKind(keyring: Keyring, policy: OutboundPolicy, tenantId: string, input: CreateConnectorInput): Promise<{ settings: KindSettings; sealed: Buffer; secret: string }> {
  const seal = (text: string) => sealSecret(keyring, tenantId, text);
  const refuse = (field: string) => {
    throw invalidArgument(field, `does not apply to ${input.kind} connectors`);
  };
  if (input.github && input.kind !== "github") refuse("github");
  if (input.gitlab && input.kind !== "gitlab") refuse("gitlab");
  if (input.s3 && input.kind !== "s3_object") refuse("s3_object");
  switch (input.kind) {
    case "signed_webhook": {
      const secret = newConnectorSecret("signed_webhook");
      return { settings: {}, sealed: seal(secret), secret };
    }
    case "github": {
      const secret = newConnectorSecret("github");
      return { settings: { github: { events: [...new Set(input.github?.events ?? [])] } }, sealed: seal(secret), secret };
    }
    case "gitlab": {
      const tokenMode = input.gitlab?.tokenMode ?? "signing_token";
      const secret = newConnectorSecret("gitlab", tokenMode);
      return { settings: { gitlab: { tokenMode } }, sealed: seal(secret), secret };
    }
    case "s3_object": {
      const s3 = input.s3;
      if (!s3) throw invalidArgument("s3_object", "is required for s3_object connectors");
      // The contract's rules, again here: the operator CLI reaches this without the RPC validator.
      if (!/^[a-z0-9-]{1,64}$/.test(s3.region)) throw invalidArgument("s3_object.region", "must be 1 to 64 characters of [a-z0-9-] (auto for R2)");
      if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(s3.bucket)) throw invalidArgument("s3_object.bucket", "must be a bucket name of 3 to 63 characters");
      if (s3.keyPrefix.length > 1024) throw invalidArgument("s3_object.key_prefix", "must be at most 1024 characters");
      if (!s3.accessKeyId || s3.accessKeyId.length > 128) throw invalidArgument("s3_object.access_key_id", "is required: up to 128 characters");
      if (!s3.secretAccessKey || s3.secretAccessKey.length > 256) throw invalidArgument("s3_object.secret_access_key", "is required: up to 256 characters");
      const endpoint = s3.endpoint ? (await checkOutboundUrl(s3.endpoint, policy, "s3_object.endpoint")).href.replace(/\/$/, "") : "";
      const credentials: S3Credentials = { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey };
      return {
        settings: { s3: { endpoint, region: s3.region, bucket: s3.bucket, keyPrefix: s3.keyPrefix, forcePathStyle: s3.forcePathStyle } },
        sealed: seal(JSON.stringify(credentials)),
        secret: "",
      };
    }
    default:
      throw invalidArgument("kind", "must be set to a known value");
  }
}
