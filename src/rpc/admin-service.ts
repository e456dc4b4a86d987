import type { ServiceImpl } from "@connectrpc/connect";
import { AdminService } from "../../gen/ts/attesto/v1/admin_pb.js";
import { AppleEnvironment, Store } from "../../gen/ts/attesto/v1/common_pb.js";
import type { Keyring } from "../crypto/keyring.js";
import type { Db } from "../db/db.js";
import { invalidArgument } from "../errors.js";
import {
  deleteStoreCredentials,
  getStoreCredentialsInfo,
  putAppleCredentials,
  putGoogleCredentials,
  type AppleCredentialsInfo,
  type GoogleCredentialsInfo,
} from "../store/credentials.js";
import { issueApiKey, listApiKeys, revokeApiKey } from "../tenancy/api-keys.js";
import { createTenant, deactivateTenant, getTenant, listTenants } from "../tenancy/tenants.js";
import { apiKeyMsg, tenantMsg, ts } from "./convert.js";

export interface AdminDeps {
  db: Db;
  keyring: Keyring;
  /** Called after a key or tenant stops being valid, to drop cached credentials everywhere. */
  onCredentialsRevoked(keyHash?: string): void;
  /** Called after a tenant's store credentials were put or deleted, to drop their decrypted copies everywhere. */
  onStoreCredentialsChanged(tenantId: string): void;
}

export function adminService({ db, keyring, onCredentialsRevoked, onStoreCredentialsChanged }: AdminDeps): ServiceImpl<typeof AdminService> {
  return {
    async createTenant(req) {
      return { tenant: tenantMsg(await createTenant(db, req.name)) };
    },
    async getTenant(req) {
      return { tenant: tenantMsg(await getTenant(db, req.tenantId)) };
    },
    async listTenants(req) {
      const page = await listTenants(db, { pageSize: req.page?.pageSize, pageToken: req.page?.pageToken, includeInactive: req.includeInactive });
      return { tenants: page.tenants.map(tenantMsg), page: { nextPageToken: page.nextPageToken } };
    },
    async deactivateTenant(req) {
      const tenant = await deactivateTenant(db, req.tenantId);
      onCredentialsRevoked();
      return { tenant: tenantMsg(tenant) };
    },
    async issueApiKey(req) {
      const { apiKey, secret } = await issueApiKey(db, req.tenantId, req.name);
      return { apiKey: apiKeyMsg(apiKey), secret };
    },
    async listApiKeys(req) {
      await getTenant(db, req.tenantId);
      return { apiKeys: (await listApiKeys(db, req.tenantId, req.includeRevoked)).map(apiKeyMsg) };
    },
    async revokeApiKey(req) {
      const { keyHash, ...apiKey } = await revokeApiKey(db, req.apiKeyId);
      onCredentialsRevoked(keyHash);
      return { apiKey: apiKeyMsg(apiKey) };
    },
    async putAppleCredentials(req) {
      if (req.environment !== AppleEnvironment.PRODUCTION && req.environment !== AppleEnvironment.SANDBOX) {
        throw invalidArgument("environment", "must be APPLE_ENVIRONMENT_PRODUCTION or APPLE_ENVIRONMENT_SANDBOX");
      }
      const environment = req.environment === AppleEnvironment.SANDBOX ? "sandbox" : "production";
      const info = await putAppleCredentials(db, keyring, req.tenantId, {
        bundleId: req.bundleId,
        keyId: req.keyId,
        issuerId: req.issuerId,
        environment,
        privateKeyPem: req.privateKeyPem,
      });
      onStoreCredentialsChanged(req.tenantId);
      return { apple: appleMsg(info) };
    },
    async putGoogleCredentials(req) {
      const info = await putGoogleCredentials(db, keyring, req.tenantId, {
        packageName: req.packageName,
        serviceAccountJson: req.serviceAccountJson,
        pubsubAudience: req.pubsubAudience || null,
        pubsubPushEmail: req.pubsubPushEmail || null,
      });
      onStoreCredentialsChanged(req.tenantId);
      return { google: googleMsg(info) };
    },
    async getStoreCredentials(req) {
      await getTenant(db, req.tenantId);
      const { apple, google } = await getStoreCredentialsInfo(db, req.tenantId);
      return { apple: apple && appleMsg(apple), google: google && googleMsg(google) };
    },
    async deleteStoreCredentials(req) {
      if (req.store !== Store.APPLE && req.store !== Store.GOOGLE) throw invalidArgument("store", "must be STORE_APPLE or STORE_GOOGLE");
      await deleteStoreCredentials(db, req.tenantId, req.store === Store.APPLE ? "apple" : "google");
      onStoreCredentialsChanged(req.tenantId);
      return {};
    },
  };
}

const appleMsg = (i: AppleCredentialsInfo) => ({
  bundleId: i.bundleId,
  keyId: i.keyId,
  issuerId: i.issuerId,
  environment: i.environment === "sandbox" ? AppleEnvironment.SANDBOX : AppleEnvironment.PRODUCTION,
  updatedAt: ts(i.updatedAt),
});

const googleMsg = (i: GoogleCredentialsInfo) => ({
  packageName: i.packageName,
  clientEmail: i.clientEmail,
  pubsubAudience: i.pubsubAudience ?? "",
  pubsubPushEmail: i.pubsubPushEmail ?? "",
  updatedAt: ts(i.updatedAt),
});
