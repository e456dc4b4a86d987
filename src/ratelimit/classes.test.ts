import { describe, expect, it } from "vitest";
import { classifyHttp, classifyRpc } from "./classes.js";

describe("classifyRpc", () => {
  it.each([
    ["attesto.v1.StoreVerificationService", "VerifyAppleTransaction", "verification"],
    ["attesto.v1.StoreVerificationService", "VerifyGooglePurchase", "verification"],
    ["attesto.v1.StoreVerificationService", "VerifyAppleSignedData", "verification"],
    ["attesto.v1.VerifierService", "VerifyBundle", "verification"],
    ["attesto.v1.ProofstreamService", "AppendEvent", "ingest"],
    ["attesto.v1.ConnectorService", "CommitS3Object", "ingest"],
    ["attesto.v1.StoreNotificationService", "ListNotifications", "reads"],
    ["attesto.v1.StoreNotificationService", "GetNotification", "reads"],
    ["attesto.v1.TenantService", "GetCurrentTenant", "reads"],
    ["attesto.v1.ProofstreamService", "GetInclusionProof", "reads"],
    ["attesto.v1.WebhookService", "ListDeliveries", "reads"],
    ["attesto.v1.AnchorService", "GetAnchorReceipt", "reads"],
    ["attesto.v1.ConnectorService", "GetConnectorDiagnostics", "reads"],
    ["attesto.v1.ProofstreamService", "CreateStream", "default"],
    ["attesto.v1.ProofstreamService", "CreateBundle", "default"],
    ["attesto.v1.WebhookService", "RedeliverDelivery", "default"],
    ["attesto.v1.TenantService", "RevokeOwnApiKey", "default"],
    ["attesto.admin.v1.AdminService", "CreateTenant", "exempt"],
    ["attesto.admin.v1.AdminService", "GetTenant", "exempt"],
  ])("%s/%s is %s", (service, method, expected) => {
    expect(classifyRpc(service, method).routeClass).toBe(expected);
  });

  it("does not take a word that merely starts with Get or List for a read", () => {
    expect(classifyRpc("attesto.v1.X", "Getaway").routeClass).toBe("default");
    expect(classifyRpc("attesto.v1.X", "Listen").routeClass).toBe("default");
  });
});

describe("classifyHttp", () => {
  it.each([
    ["POST", "/v1/apple/verify", "verification"],
    ["POST", "/v1/apple/verify-signed", "verification"],
    ["POST", "/v1/google/verify", "verification"],
    ["POST", "/v2/verify", "verification"],
    ["POST", "/v2/tenant/connectors/s3-objects/con_1/commit", "ingest"],
    ["GET", "/v1/webhooks", "reads"],
    ["GET", "/v1/webhooks/whs_1", "reads"],
    ["GET", "/proofstreams/str_1/checkpoint", "reads"],
    ["GET", "/proofstreams/str_1/tile/0/000", "reads"],
    ["POST", "/v1/webhooks", "default"],
    ["PATCH", "/v1/webhooks/whs_1", "default"],
    ["DELETE", "/v1/webhooks/whs_1", "default"],
    ["GET", "/verify", "default"],
    ["GET", "/no/such/route", "default"],
    ["GET", "/v1/apple/verify", "default"],
    ["GET", "/healthz", "exempt"],
    ["GET", "/readyz", "exempt"],
    ["GET", "/metrics", "exempt"],
    ["GET", "/admin/queues", "exempt"],
    ["GET", "/admin/queues/api/queues", "exempt"],
  ])("%s %s is %s, paid by the caller", (method, path, expected) => {
    const c = classifyHttp(method, path);
    expect(c.routeClass).toBe(expected);
    if (c.routeClass !== "exempt") expect(c.payer).toEqual({ kind: "caller" });
  });

  it("charges inbound provider notifications to the tenant in the path", () => {
    expect(classifyHttp("POST", "/v1/webhooks/apple/tnt_abc")).toEqual({ routeClass: "ingest", payer: { kind: "path", scope: "tenant", id: "tnt_abc" } });
    expect(classifyHttp("post", "/v1/webhooks/google/tnt_x%2Dy")).toEqual({ routeClass: "ingest", payer: { kind: "path", scope: "tenant", id: "tnt_x-y" } });
    expect(classifyHttp("POST", "/v1/store-notifications/apple/tnt_abc")).toEqual({ routeClass: "ingest", payer: { kind: "path", scope: "tenant", id: "tnt_abc" } });
    expect(classifyHttp("POST", "/v1/store-notifications/google/tnt_abc")).toEqual({ routeClass: "ingest", payer: { kind: "path", scope: "tenant", id: "tnt_abc" } });
  });

  it("charges connector ingress to the connector in the path", () => {
    for (const kind of ["signed-webhooks", "github", "gitlab"]) {
      expect(classifyHttp("POST", `/v2/connectors/${kind}/con_9/events`)).toEqual({ routeClass: "ingest", payer: { kind: "path", scope: "connector", id: "con_9" } });
    }
  });

  it("needs the whole path to match: no prefix or extra segment matches a rule", () => {
    expect(classifyHttp("POST", "/v1/webhooks/apple").routeClass).toBe("default");
    expect(classifyHttp("POST", "/v1/webhooks/apple/t/extra").routeClass).toBe("default");
    expect(classifyHttp("POST", "/v1/apple").routeClass).toBe("default");
    expect(classifyHttp("GET", "/healthz/x").routeClass).toBe("default");
  });

  it("keeps a path segment that is not valid percent-encoding as it is", () => {
    expect(classifyHttp("POST", "/v1/webhooks/apple/%E0%A4%A")).toEqual({ routeClass: "ingest", payer: { kind: "path", scope: "tenant", id: "%E0%A4%A" } });
  });
});
