import { create, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { CommitS3ObjectRequestSchema, ConnectorKind, CreateConnectorRequestSchema, RotateConnectorSecretRequestSchema } from "../../gen/ts/attesto/v1/connector_pb.js";
import { CreateBundleRequestSchema, GetConsistencyProofRequestSchema, GetEventRequestSchema, GetInclusionProofRequestSchema, ListEventsRequestSchema } from "../../gen/ts/attesto/v1/proofstream_pb.js";
import { ListNotificationsRequestSchema, PurchaseKind, VerifyGooglePurchaseRequestSchema } from "../../gen/ts/attesto/v1/store_pb.js";
import { VerifyBundleRequestSchema } from "../../gen/ts/attesto/v1/verifier_pb.js";
import { RotateSubscriptionSecretRequestSchema } from "../../gen/ts/attesto/v1/webhook_pb.js";
import * as connectorPb from "../../gen/ts/attesto/v1/connector_pb.js";
import * as proofstreamPb from "../../gen/ts/attesto/v1/proofstream_pb.js";
import * as storePb from "../../gen/ts/attesto/v1/store_pb.js";
import * as verifierPb from "../../gen/ts/attesto/v1/verifier_pb.js";
import * as webhookPb from "../../gen/ts/attesto/v1/webhook_pb.js";
import { AppError } from "../errors.js";
import { checkRequestRules, requestTypesWithRules } from "./request-rules.js";

/** The field a rule names when it refuses `init`, or undefined when it accepts it. */
function refusedField<D extends DescMessage>(schema: D, init: MessageInitShape<D>): string | undefined {
  try {
    checkRequestRules(schema, create(schema, init));
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return (err as AppError).details.field;
  }
}

const DAY = 86_400n;

describe("request rules no field option can state", () => {
  it.each<[string, DescMessage, object, string | undefined]>([
    ["GetEvent without seq_no or source_ref", GetEventRequestSchema, {}, "event"],
    ["GetEvent by source_ref", GetEventRequestSchema, { event: { case: "sourceRef", value: "a" } }, undefined],
    ["GetInclusionProof without a leaf", GetInclusionProofRequestSchema, {}, "leaf"],
    ["VerifyBundle with neither", VerifyBundleRequestSchema, {}, "bundle_json"],
    ["VerifyBundle with both", VerifyBundleRequestSchema, { bundleJson: "{}", tlogProof: "x" }, "bundle_json"],
    ["VerifyBundle with one", VerifyBundleRequestSchema, { tlogProof: "x" }, undefined],
    ["consistency from > to", GetConsistencyProofRequestSchema, { fromSize: 5n, toSize: 4n }, "from_size"],
    ["consistency to the latest", GetConsistencyProofRequestSchema, { fromSize: 5n, toSize: 0n }, undefined],
    ["bundle from > to", CreateBundleRequestSchema, { fromSeqNo: 3n, toSeqNo: 2n }, "to_seq_no"],
    ["bundle of one event", CreateBundleRequestSchema, { fromSeqNo: 3n, toSeqNo: 3n }, undefined],
    ["events after >= before", ListEventsRequestSchema, { occurredAfter: timestampFromMs(2000), occurredBefore: timestampFromMs(2000) }, "occurred_before"],
    ["notifications from > to", ListNotificationsRequestSchema, { signedFrom: timestampFromMs(2000), signedTo: timestampFromMs(1000) }, "signed_to"],
    ["Google PRODUCT without product_id", VerifyGooglePurchaseRequestSchema, { kind: PurchaseKind.PRODUCT }, "product_id"],
    ["Google SUBSCRIPTION without product_id", VerifyGooglePurchaseRequestSchema, { kind: PurchaseKind.SUBSCRIPTION }, undefined],
    ["a GitHub config on a GitLab connector", CreateConnectorRequestSchema, { kind: ConnectorKind.GITLAB, config: { case: "github", value: {} } }, "github"],
    ["S3_OBJECT without its config", CreateConnectorRequestSchema, { kind: ConnectorKind.S3_OBJECT }, "s3_object"],
    ["SIGNED_WEBHOOK without config", CreateConnectorRequestSchema, { kind: ConnectorKind.SIGNED_WEBHOOK }, undefined],
    ["a metadata key out of its alphabet", CommitS3ObjectRequestSchema, { metadata: { "bad key": "v" } }, "metadata"],
    ["a metadata value too long", CommitS3ObjectRequestSchema, { metadata: { k: "v".repeat(1025) } }, "metadata"],
    ["subscription overlap over 7 days", RotateSubscriptionSecretRequestSchema, { overlap: { seconds: 7n * DAY + 1n } }, "overlap"],
    ["subscription overlap of 7 days", RotateSubscriptionSecretRequestSchema, { overlap: { seconds: 7n * DAY } }, undefined],
    ["negative connector overlap", RotateConnectorSecretRequestSchema, { overlap: { seconds: -1n } }, "overlap"],
    ["an access key id without its secret", RotateConnectorSecretRequestSchema, { accessKeyId: "AK" }, "secret_access_key"],
  ])("%s", (_name, schema, init, field) => {
    expect(refusedField(schema, init as never)).toBe(field);
  });

  it("names only request types the contract defines", () => {
    const files = [connectorPb, proofstreamPb, storePb, verifierPb, webhookPb] as Array<Record<string, unknown>>;
    const names = new Set(files.flatMap((f) => Object.values(f).flatMap((v) => (v && typeof v === "object" && "typeName" in v ? [(v as { typeName: string }).typeName] : []))));
    for (const type of requestTypesWithRules()) expect(names, type).toContain(type);
  });
});
