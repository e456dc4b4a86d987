import type { ServiceImpl } from "@connectrpc/connect";
import { AdminService } from "../../gen/ts/attesto/admin/v1/admin_pb.js";
import { AppleEnvironment, Store } from "../../gen/ts/attesto/v1/common_pb.js";
import { invalidArgument } from "../errors.js";
import type { AppleCredentialsInfo, GoogleCredentialsInfo } from "../store/module.js";
import type { StoreVerification } from "../store/module.js";
import type { Tenancy } from "../tenancy/module.js";
import type { Witnesses, WitnessedLog } from "../witness/module.js";
import { apiKeyMsg, tenantMsg, ts } from "./convert.js";

export interface AdminDeps {
  tenancy: Tenancy;
  /** Store credentials are put and deleted through it (it drops their cached copies everywhere). */
  store: StoreVerification;
  /** The logs this deployment's witness trusts. */
  witnesses: Pick<Witnesses, "addWitnessedLog" | "listWitnessedLogs">;
}

const witnessedLogMsg = (l: WitnessedLog) => ({ origin: l.origin, verifierKeys: l.verifierKeys, treeSize: BigInt(l.treeSize) });

/** The operator's surface: tenants, their API keys and store credentials. */
export function adminService({ tenancy, store, witnesses }: AdminDeps): ServiceImpl<typeof AdminService> {
  return {
    async addWitnessedLog(req) {
      return { log: witnessedLogMsg(await witnesses.addWitnessedLog(req.verifierKey)) };
    },
    async listWitnessedLogs(req) {
      const page = await witnesses.listWitnessedLogs({ pageSize: req.pageSize, pageToken: req.pageToken });
      return { logs: page.logs.map(witnessedLogMsg), nextPageToken: page.nextPageToken };
    },
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
      const info = await store.putAppleCredentials(req.tenantId, {
        bundleId: req.bundleId,
        keyId: req.keyId,
        issuerId: req.issuerId,
        environment,
        privateKeyPem: req.privateKeyPem,
        acceptedEnvironments: req.acceptedEnvironments.map((e, i) => {
          if (e === AppleEnvironment.PRODUCTION) return "production" as const;
          if (e === AppleEnvironment.SANDBOX) return "sandbox" as const;
          throw invalidArgument(`accepted_environments[${i}]`, "must be APPLE_ENVIRONMENT_PRODUCTION or APPLE_ENVIRONMENT_SANDBOX (Xcode and local testing data is not Apple-signed)");
        }),
      });
      return { apple: appleMsg(info) };
    },
    async putGoogleCredentials(req) {
      const info = await store.putGoogleCredentials(req.tenantId, {
        packageName: req.packageName,
        serviceAccountJson: req.serviceAccountJson,
        pubsubAudience: req.pubsubAudience || null,
        pubsubPushEmail: req.pubsubPushEmail || null,
        autoAcknowledge: req.autoAcknowledge,
      });
      return { google: googleMsg(info) };
    },
    async getStoreCredentials(req) {
      await tenancy.getTenant(req.tenantId);
      const { apple, google } = await store.credentialsInfo(req.tenantId);
      return { apple: apple && appleMsg(apple), google: google && googleMsg(google) };
    },
    async deleteStoreCredentials(req) {
      if (req.store !== Store.APPLE && req.store !== Store.GOOGLE) throw invalidArgument("store", "must be STORE_APPLE or STORE_GOOGLE");
      await store.deleteCredentials(req.tenantId, req.store === Store.APPLE ? "apple" : "google");
      return {};
    },
  };
}

const appleMsg = (i: AppleCredentialsInfo) => ({
  bundleId: i.bundleId,
  keyId: i.keyId,
  issuerId: i.issuerId,
  environment: i.environment === "sandbox" ? AppleEnvironment.SANDBOX : AppleEnvironment.PRODUCTION,
  acceptedEnvironments: i.acceptedEnvironments.map((e) => (e === "sandbox" ? AppleEnvironment.SANDBOX : AppleEnvironment.PRODUCTION)),
  updatedAt: ts(i.updatedAt),
});

const googleMsg = (i: GoogleCredentialsInfo) => ({
  packageName: i.packageName,
  clientEmail: i.clientEmail,
  pubsubAudience: i.pubsubAudience ?? "",
  pubsubPushEmail: i.pubsubPushEmail ?? "",
  autoAcknowledge: i.autoAcknowledge,
  updatedAt: ts(i.updatedAt),
});
