import type { DescFile, DescMethod } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel as Idempotency } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { file_attesto_admin_v1_admin } from "../../gen/ts/attesto/admin/v1/admin_pb.js";
import { file_attesto_v1_anchor } from "../../gen/ts/attesto/v1/anchor_pb.js";
import { file_attesto_v1_connector } from "../../gen/ts/attesto/v1/connector_pb.js";
import { file_attesto_v1_proofstream } from "../../gen/ts/attesto/v1/proofstream_pb.js";
import { file_attesto_v1_store } from "../../gen/ts/attesto/v1/store_pb.js";
import { file_attesto_v1_tenant } from "../../gen/ts/attesto/v1/tenant_pb.js";
import { file_attesto_v1_verifier } from "../../gen/ts/attesto/v1/verifier_pb.js";
import { file_attesto_v1_webhook } from "../../gen/ts/attesto/v1/webhook_pb.js";

/**
 * The v1 conventions, held against every RPC of the contract so a new one
 * cannot miss them: reads are side-effect free (GET-able), lists page the
 * AIP-158 way, creates take a request id.
 */
const files: DescFile[] = [
  file_attesto_admin_v1_admin,
  file_attesto_v1_anchor,
  file_attesto_v1_connector,
  file_attesto_v1_proofstream,
  file_attesto_v1_store,
  file_attesto_v1_tenant,
  file_attesto_v1_verifier,
  file_attesto_v1_webhook,
];
const methods: DescMethod[] = files.flatMap((f) => f.services.flatMap((s) => s.methods));
const named = (prefix: string) => methods.filter((m) => m.name.startsWith(prefix)).map((m) => [`${m.parent.name}.${m.name}`, m] as const);

/** Creates that answer at once and need no request id: a checkpoint of the current tree is the same answer on a retry. */
const CREATES_WITHOUT_REQUEST_ID = new Set(["ProofstreamService.CreateCheckpoint"]);

describe("the v1 conventions hold for every RPC", () => {
  it("covers the contract's services", () => {
    expect(methods.length).toBeGreaterThan(50);
  });

  it.each([...named("Get"), ...named("List")])("%s has no side effects", (_name, m) => {
    expect(m.idempotency).toBe(Idempotency.NO_SIDE_EFFECTS);
  });

  it.each(named("List"))("%s pages with page_size, page_token and next_page_token", (_name, m) => {
    expect(m.input.field.pageSize?.scalar, "page_size").toBeDefined();
    expect(m.input.field.pageToken?.scalar, "page_token").toBeDefined();
    expect(m.output.field.nextPageToken?.scalar, "next_page_token").toBeDefined();
  });

  it.each(named("Create").filter(([name]) => !CREATES_WITHOUT_REQUEST_ID.has(name)))("%s takes an optional request_id", (_name, m) => {
    expect(m.input.field.requestId?.proto.proto3Optional).toBe(true);
  });

  it.each([...named("Verify"), ...named("Revoke"), ...named("Put"), ...named("Delete").filter(([n]) => n.startsWith("AdminService"))])("%s is safe to retry but never GET", (_name, m) => {
    expect(m.idempotency).toBe(Idempotency.IDEMPOTENT);
  });
});
