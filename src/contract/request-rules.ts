import type { DescMessage, Message } from "@bufbuild/protobuf";
import { durationMs, timestampMs, type Duration, type Timestamp } from "@bufbuild/protobuf/wkt";
import { ConnectorKind } from "../../gen/ts/attesto/v1/connector_pb.js";
import { PurchaseKind } from "../../gen/ts/attesto/v1/store_pb.js";
import { checkMetadata } from "../connectors/module.js";
import { invalidArgument } from "../errors.js";
import { MAX_PROOF_TIMEOUT_MS } from "../proofstream/module.js";
// One bound for every rotation (the connectors' equals it).
import { MAX_SECRET_OVERLAP_MS } from "../webhooks/module.js";

/**
 * The contract's rules that one field's `(attesto.v1.rules)` cannot state:
 * required oneofs, rules across fields, map entries, duration bounds. Each
 * request type's comment in proto/ states them; this table enforces all of
 * them, in one place, after the field rules passed (validation.ts), for
 * the RPCs and the REST forms alike. Rules that need the server's state
 * (a stream's size, the outbound URL policy) stay with the domain.
 */
type Rule = (message: never) => void;

const RULES: Record<string, Rule> = {
  "attesto.v1.GetEventRequest": (m: { event: { case: string | undefined } }) => {
    if (!m.event.case) throw invalidArgument("event", "set seq_no or source_ref");
  },
  "attesto.v1.GetInclusionProofRequest": (m: { leaf: { case: string | undefined } }) => {
    if (!m.leaf.case) throw invalidArgument("leaf", "set seq_no or leaf_hash");
  },
  "attesto.v1.VerifyBundleRequest": (m: { bundleJson: string; tlogProof: string }) => {
    if (Boolean(m.bundleJson) === Boolean(m.tlogProof)) throw invalidArgument("bundle_json", "set exactly one of bundle_json and tlog_proof");
  },
  "attesto.v1.GetConsistencyProofRequest": (m: { fromSize: bigint; toSize: bigint }) => {
    if (m.toSize > 0n && m.fromSize > m.toSize) throw invalidArgument("from_size", "must not exceed to_size");
  },
  "attesto.v1.CreateBundleRequest": (m: { fromSeqNo: bigint; toSeqNo: bigint }) => {
    if (m.fromSeqNo > m.toSeqNo) throw invalidArgument("to_seq_no", "must not be below from_seq_no");
  },
  "attesto.v1.ListEventsRequest": (m: { occurredAfter?: Timestamp; occurredBefore?: Timestamp }) => {
    if (m.occurredAfter && m.occurredBefore && timestampMs(m.occurredAfter) >= timestampMs(m.occurredBefore)) {
      throw invalidArgument("occurred_before", "must be after occurred_after");
    }
  },
  "attesto.v1.ListNotificationsRequest": (m: { signedFrom?: Timestamp; signedTo?: Timestamp }) => {
    if (m.signedFrom && m.signedTo && timestampMs(m.signedFrom) > timestampMs(m.signedTo)) throw invalidArgument("signed_to", "must not be before signed_from");
  },
  "attesto.v1.VerifyGooglePurchaseRequest": (m: { kind: PurchaseKind; productId?: string }) => {
    if (m.kind === PurchaseKind.PRODUCT && !m.productId) throw invalidArgument("product_id", "is required for PRODUCT");
  },
  "attesto.v1.CreateConnectorRequest": (m: { kind: ConnectorKind; config: { case: string | undefined } }) => {
    const allowed: Record<number, string | undefined> = { [ConnectorKind.GITHUB]: "github", [ConnectorKind.GITLAB]: "gitlab", [ConnectorKind.S3_OBJECT]: "s3Object" };
    const config = m.config.case;
    if (config && config !== allowed[m.kind]) throw invalidArgument(config === "s3Object" ? "s3_object" : config, "does not apply to this kind of connector");
    if (m.kind === ConnectorKind.S3_OBJECT && !config) throw invalidArgument("s3_object", "is required for S3_OBJECT connectors");
  },
  "attesto.v1.CommitS3ObjectRequest": (m: { metadata: Record<string, string>; waitForProof: boolean; proofTimeout?: Duration }) => {
    checkMetadata(m.metadata);
    checkProofTimeout(m);
  },
  "attesto.v1.AppendEventRequest": (m: { waitForProof: boolean; proofTimeout?: Duration }) => checkProofTimeout(m),
  "attesto.v1.RotateSubscriptionSecretRequest": (m: { overlap?: Duration }) => checkOverlap(m.overlap),
  "attesto.v1.RotateConnectorSecretRequest": (m: { overlap?: Duration; accessKeyId?: string; secretAccessKey?: string }) => {
    checkOverlap(m.overlap);
    if ((m.accessKeyId === undefined) !== (m.secretAccessKey === undefined)) {
      throw invalidArgument(m.accessKeyId === undefined ? "access_key_id" : "secret_access_key", "is required with the other credential field");
    }
  },
};

function checkProofTimeout({ waitForProof, proofTimeout }: { waitForProof: boolean; proofTimeout?: Duration }): void {
  if (!proofTimeout) return;
  if (!waitForProof) throw invalidArgument("proof_timeout", "applies only with wait_for_proof");
  if (proofTimeout.seconds < 0n || proofTimeout.nanos < 0) throw invalidArgument("proof_timeout", "must not be negative");
  if (durationMs(proofTimeout) > MAX_PROOF_TIMEOUT_MS) throw invalidArgument("proof_timeout", `must be at most ${MAX_PROOF_TIMEOUT_MS / 1000} s`);
}

function checkOverlap(overlap: Duration | undefined): void {
  if (!overlap) return;
  if (overlap.seconds < 0n || overlap.nanos < 0) throw invalidArgument("overlap", "must not be negative");
  if (durationMs(overlap) > MAX_SECRET_OVERLAP_MS) throw invalidArgument("overlap", "must be at most 7 days");
}

/** Checks the request-level rules of `schema`'s type, if it has any. */
export function checkRequestRules(schema: DescMessage, message: Message): void {
  (RULES[schema.typeName] as ((m: Message) => void) | undefined)?.(message);
}

/** The request types with rules here (for the spec that holds the table against the contract). */
export const requestTypesWithRules = (): string[] => Object.keys(RULES);
