import type { ServiceImpl } from "@connectrpc/connect";
import { AdminService } from "../../gen/ts/attesto/admin/v1/admin_pb.js";
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
import type { Tenancy } from "../tenancy/module.js";
import { apiKeyMsg, tenantMsg, ts } from "./convert.js";

export interface AdminDeps {
  db: Db;
  keyring: Keyring;
  tenancy: Tenancy;
  /** Called after a tenant's store credentials were put or deleted, to drop their decrypted copies everywhere. */
  onStoreCredentialsChanged(tenantId: string): void;
}

/** The operator's surface: tenants, their API keys and store credentials. */
export function adminService({ db, keyring, tenancy, onStoreCredentialsChanged }: AdminDeps): ServiceImpl<typeof AdminService> {
  return {
    async createTenant(req) {
      return { tenant: tenantMsg(await tenancy.createTenant(req.name, req.requestId)) };
    },
    async getTenant(req) {
      return { tenant: tenantMsg(await tenancy.getTenant(req.tenantId)) };
    },
    async listTenants(req) {
      const page = await tenancy.listTenants({ pageSize: req.pageSize, pageToken: req.pageToken, includeInactive: req.includeInactive });
      return { tenants: page.tenants.map(tenantMsg), nextPageToken: page.nextPageToken };
    },
    async deactivateTenant(req) {
      return { tenant: tenantMsg(await tenancy.deactivateTenant(req.tenantId)) };
    },
    async createApiKey(req) {
      const { apiKey, secret } = await tenancy.createApiKey(req.tenantId, req.name, { caller: "operator", requestId: req.requestId });
      return { apiKey: apiKeyMsg(apiKey), secret };
    },
    async listApiKeys(req) {
      const page = await tenancy.listApiKeys(req.tenantId, { includeRevoked: req.includeRevoked, pageSize: req.pageSize, pageToken: req.pageToken });
      return { apiKeys: page.apiKeys.map(apiKeyMsg), nextPageToken: page.nextPageToken };
    },
    async revokeApiKey(req) {
      return { apiKey: apiKeyMsg(await tenancy.revokeApiKey(req.apiKeyId)) };
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
      await tenancy.getTenant(req.tenantId);
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
