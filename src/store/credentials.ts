import { createPrivateKey } from "node:crypto";
import { eq } from "drizzle-orm";
import type { Keyring } from "../crypto/keyring.js";
import type { Db } from "../db/db.js";
import { withDbErrors } from "../db/errors.js";
import { appleCredentials, googleCredentials } from "./schema.js";
import { invalidArgument, notFound } from "../errors.js";
import { requireActiveTenant } from "../tenancy/module.js";

/** Encryption contexts of the sealed columns (HKDF info). */
export const APPLE_KEY_CONTEXT = "apple_credentials.private_key";
export const GOOGLE_ACCOUNT_CONTEXT = "google_credentials.service_account";

export interface AppleCredentialsInfo {
  bundleId: string;
  keyId: string;
  issuerId: string;
  environment: "production" | "sandbox";
  /** The environments whose signed data and notifications the tenant accepts. */
  acceptedEnvironments: AppleApiEnvironmentName[];
  updatedAt: Date;
}

export interface GoogleCredentialsInfo {
  packageName: string;
  clientEmail: string;
  pubsubAudience: string | null;
  pubsubPushEmail: string | null;
  /** Verified, unacknowledged purchases are acknowledged at once (default off). */
  autoAcknowledge: boolean;
  updatedAt: Date;
}

export type AppleApiEnvironmentName = "production" | "sandbox";

export interface PutAppleCredentials extends Omit<AppleCredentialsInfo, "updatedAt" | "acceptedEnvironments"> {
  privateKeyPem: string;
  /** Unset or empty: both. */
  acceptedEnvironments?: AppleApiEnvironmentName[];
}

export interface PutGoogleCredentials {
  packageName: string;
  serviceAccountJson: string;
  pubsubAudience: string | null;
  pubsubPushEmail: string | null;
  /** Unset: off. */
  autoAcknowledge?: boolean;
}

/** Stores (or replaces) a tenant's Apple credentials; the key is sealed to the tenant. */
export async function putAppleCredentials(db: Db, keyring: Keyring, tenantId: string, input: PutAppleCredentials): Promise<AppleCredentialsInfo> {
  assertEcPrivateKey(input.privateKeyPem);
  await requireActiveTenant(db, tenantId);
  const { privateKeyPem, acceptedEnvironments, ...info } = input;
  const accepted: AppleApiEnvironmentName[] = acceptedEnvironments?.length ? [...new Set(acceptedEnvironments)].sort() : ["production", "sandbox"];
  const values = { ...info, acceptedEnvironments: accepted, tenantId, privateKeyEnc: keyring.encrypt(APPLE_KEY_CONTEXT, privateKeyPem, tenantId), updatedAt: new Date() };
  const [row] = await withDbErrors(() => db.insert(appleCredentials).values(values).onConflictDoUpdate({ target: appleCredentials.tenantId, set: values }).returning());
  return appleInfo(row!);
}

export async function putGoogleCredentials(db: Db, keyring: Keyring, tenantId: string, input: PutGoogleCredentials): Promise<GoogleCredentialsInfo> {
  const clientEmail = serviceAccountEmail(input.serviceAccountJson);
  await requireActiveTenant(db, tenantId);
  const values = {
    tenantId,
    packageName: input.packageName,
    clientEmail,
    pubsubAudience: input.pubsubAudience,
    pubsubPushEmail: input.pubsubPushEmail,
    autoAcknowledge: input.autoAcknowledge ?? false,
    serviceAccountEnc: keyring.encrypt(GOOGLE_ACCOUNT_CONTEXT, input.serviceAccountJson, tenantId),
    updatedAt: new Date(),
  };
  const [row] = await withDbErrors(() => db.insert(googleCredentials).values(values).onConflictDoUpdate({ target: googleCredentials.tenantId, set: values }).returning());
  return googleInfo(row!);
}

export async function getStoreCredentialsInfo(db: Db, tenantId: string): Promise<{ apple?: AppleCredentialsInfo; google?: GoogleCredentialsInfo }> {
  const [apple, google] = await Promise.all([
    db
      .select()
      .from(appleCredentials)
      .where(eq(appleCredentials.tenantId, tenantId))
      .limit(1)
      .then((rows) => rows[0]),
    db
      .select()
      .from(googleCredentials)
      .where(eq(googleCredentials.tenantId, tenantId))
      .limit(1)
      .then((rows) => rows[0]),
  ]);
  return { apple: apple && appleInfo(apple), google: google && googleInfo(google) };
}

export async function deleteStoreCredentials(db: Db, tenantId: string, store: "apple" | "google"): Promise<void> {
  const table = store === "apple" ? appleCredentials : googleCredentials;
  const deleted = await db.delete(table).where(eq(table.tenantId, tenantId)).returning({ tenantId: table.tenantId });
  if (deleted.length === 0) throw notFound(`${store} credentials`);
}

/** The decrypted Apple .p8 key, for the store verification path only. */
export async function openApplePrivateKey(db: Db, keyring: Keyring, tenantId: string): Promise<string> {
  const [row] = await db.select().from(appleCredentials).where(eq(appleCredentials.tenantId, tenantId)).limit(1);
  if (!row) throw notFound("apple credentials");
  return keyring.decryptText(APPLE_KEY_CONTEXT, row.privateKeyEnc, tenantId);
}

const appleInfo = ({ privateKeyEnc: _k, tenantId: _t, ...info }: typeof appleCredentials.$inferSelect): AppleCredentialsInfo => info;
const googleInfo = ({ serviceAccountEnc: _s, tenantId: _t, ...info }: typeof googleCredentials.$inferSelect): GoogleCredentialsInfo => info;

function assertEcPrivateKey(pem: string): void {
  let ok: boolean;
  try {
    const key = createPrivateKey({ key: pem, format: "pem" });
    ok = key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1";
  } catch {
    ok = false;
  }
  if (!ok) throw invalidArgument("private_key_pem", "must be an App Store Connect .p8 key (PKCS#8 PEM, EC P-256)");
}

function serviceAccountEmail(json: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw invalidArgument("service_account_json", "is not valid JSON");
  }
  const { client_email, private_key, type } = (parsed ?? {}) as Record<string, unknown>;
  if (type !== "service_account" || typeof client_email !== "string" || typeof private_key !== "string") {
    throw invalidArgument("service_account_json", "must be a service account key file (type, client_email, private_key)");
  }
  return client_email;
}
