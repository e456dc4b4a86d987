import { create, type DescMessage, type Message } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import {
  CreateTenantRequestSchema,
  DeleteStoreCredentialsRequestSchema,
  CreateApiKeyRequestSchema,
  ListTenantsRequestSchema,
  PutAppleCredentialsRequestSchema,
} from "../../gen/ts/attesto/admin/v1/admin_pb.js";
import { AppleEnvironment, Store } from "../../gen/ts/attesto/v1/common_pb.js";
import { ConnectorKind, CreateConnectorRequestSchema } from "../../gen/ts/attesto/v1/connector_pb.js";
import {
  AppendEventRequestSchema,
  CreateStreamRequestSchema,
  GetEventRequestSchema,
  GetForkEvidenceRequestSchema,
  GetInclusionProofRequestSchema,
  GetStreamRequestSchema,
  ListEventsRequestSchema,
} from "../../gen/ts/attesto/v1/proofstream_pb.js";
import { CreateSubscriptionRequestSchema, type DeliveryStatus, ListDeliveriesRequestSchema, UpdateSubscriptionRequestSchema } from "../../gen/ts/attesto/v1/webhook_pb.js";
import { AppError } from "../errors.js";
import { validateMessage } from "./validation.js";

/** A valid ULID-shaped suffix (Crockford base32, 26 characters). */
const ULID = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
const EVENT_TYPES = [
  "batch.confirmed",
  "batch.failed",
  "event.anchored",
  "proofstream.checkpointed",
  "proofstream.witnessed",
  "proofstream.fork_detected",
  "proofstream.bundle_ready",
  "apple.notification",
  "google.notification",
  "google.voided",
  "subscription.disabled",
];

/** Validates and returns the AppError it must throw, checking its shape. */
function rejection<Desc extends DescMessage>(schema: Desc, message: Message, field: string): AppError {
  let caught: unknown;
  try {
    validateMessage(schema, message);
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected ${schema.typeName} to be rejected on ${field}`).toBeInstanceOf(AppError);
  const err = caught as AppError;
  expect(err.code).toBe("invalid_argument");
  expect(err.message.startsWith(`${field}: `), err.message).toBe(true);
  expect(err.details.field).toBe(field);
  return err;
}

const validSubscription = () =>
  create(CreateSubscriptionRequestSchema, {
    name: "orders",
    url: "https://hooks.example.com/attesto",
    eventTypes: ["batch.confirmed", "event.anchored"],
    description: "",
  });

describe("validateMessage: required", () => {
  it("a missing required string names the field: 'name: is required'", () => {
    const err = rejection(CreateTenantRequestSchema, create(CreateTenantRequestSchema, {}), "name");
    expect(err.message).toBe("name: is required");
  });

  it("the first offending field is reported, in declaration order", () => {
    const err = rejection(CreateApiKeyRequestSchema, create(CreateApiKeyRequestSchema, { name: "ci" }), "tenant_id");
    expect(err.message).toBe("tenant_id: is required");
    rejection(CreateApiKeyRequestSchema, create(CreateApiKeyRequestSchema, { tenantId: `ten_${ULID}` }), "name");
  });

  it("a required message field that is unset is reported", () => {
    const msg = create(AppendEventRequestSchema, {
      streamId: `str_${ULID}`,
      sourceRef: "order-1",
      eventType: "source.observation",
      payload: {},
    });
    expect(rejection(AppendEventRequestSchema, msg, "occurred_at").message).toBe("occurred_at: is required");
    msg.occurredAt = timestampFromDate(new Date("2026-01-01T00:00:00Z"));
    expect(() => validateMessage(AppendEventRequestSchema, msg)).not.toThrow();
  });

  it("a required repeated field that is empty is reported", () => {
    const msg = validSubscription();
    msg.eventTypes = [];
    expect(rejection(CreateSubscriptionRequestSchema, msg, "event_types").message).toBe("event_types: is required");
  });
});

describe("validateMessage: lengths", () => {
  it("max_len counts characters: 200 passes, 201 fails", () => {
    expect(() => validateMessage(CreateTenantRequestSchema, create(CreateTenantRequestSchema, { name: "a".repeat(200) }))).not.toThrow();
    const err = rejection(CreateTenantRequestSchema, create(CreateTenantRequestSchema, { name: "a".repeat(201) }), "name");
    expect(err.message).toBe("name: must have at most 200 characters");
  });

  it("max_len counts code points, not UTF-16 units", () => {
    // 200 astral characters are 400 UTF-16 units but 200 characters.
    const name = "😀".repeat(200);
    expect(name.length).toBe(400);
    expect(() => validateMessage(CreateTenantRequestSchema, create(CreateTenantRequestSchema, { name }))).not.toThrow();
    rejection(CreateTenantRequestSchema, create(CreateTenantRequestSchema, { name: name + "😀" }), "name");
  });

  it("min_len and max_len on bytes count bytes", () => {
    const base = { streamId: `str_${ULID}` };
    const short = create(GetInclusionProofRequestSchema, { ...base, leaf: { case: "leafHash", value: new Uint8Array(31) } });
    expect(rejection(GetInclusionProofRequestSchema, short, "leaf_hash").message).toBe("leaf_hash: must have at least 32 bytes");
    const long = create(GetInclusionProofRequestSchema, { ...base, leaf: { case: "leafHash", value: new Uint8Array(33) } });
    expect(rejection(GetInclusionProofRequestSchema, long, "leaf_hash").message).toBe("leaf_hash: must have at most 32 bytes");
    const exact = create(GetInclusionProofRequestSchema, { ...base, leaf: { case: "leafHash", value: new Uint8Array(32) } });
    expect(() => validateMessage(GetInclusionProofRequestSchema, exact)).not.toThrow();
  });

  it("max_len on a repeated field counts items", () => {
    const msg = validSubscription();
    msg.eventTypes = [...EVENT_TYPES];
    expect(() => validateMessage(CreateSubscriptionRequestSchema, msg)).not.toThrow();
    msg.eventTypes = [...EVENT_TYPES, ...EVENT_TYPES];
    expect(rejection(CreateSubscriptionRequestSchema, msg, "event_types").message).toBe("event_types: must have at most 16 items");
  });
});

describe("validateMessage: nested paths", () => {
  it("page_size above 500 in ListTenantsRequest", () => {
    const msg = create(ListTenantsRequestSchema, { pageSize: 9999 });
    expect(rejection(ListTenantsRequestSchema, msg, "page_size").message).toBe("page_size: must be at most 500");
  });

  it("page_size below 0, and page_token too long", () => {
    rejection(ListTenantsRequestSchema, create(ListTenantsRequestSchema, { pageSize: -1 }), "page_size");
    rejection(ListTenantsRequestSchema, create(ListTenantsRequestSchema, { pageToken: "t".repeat(513) }), "page_token");
  });

  it("bounds are inclusive", () => {
    for (const pageSize of [0, 1, 500]) {
      const msg = create(ListTenantsRequestSchema, { pageSize, pageToken: "t".repeat(512) });
      expect(() => validateMessage(ListTenantsRequestSchema, msg), `page_size ${pageSize}`).not.toThrow();
    }
  });

  it("an unset nested message is not walked", () => {
    const msg = create(CreateConnectorRequestSchema, { streamId: `str_${ULID}`, name: "n", kind: ConnectorKind.GITHUB });
    expect(() => validateMessage(CreateConnectorRequestSchema, msg)).not.toThrow();
  });

  it("a field inside a nested message is named by its message path", () => {
    const msg = create(CreateConnectorRequestSchema, {
      streamId: `str_${ULID}`,
      name: "n",
      kind: ConnectorKind.S3_OBJECT,
      config: { case: "s3Object", value: { region: "eu-1", bucket: "Bad_Bucket", accessKeyId: "a", secretAccessKey: "s" } },
    });
    rejection(CreateConnectorRequestSchema, msg, "s3_object.bucket");
  });

  it("a repeated field reports the index, and webhook event types come from the one documented set", () => {
    const msg = create(UpdateSubscriptionRequestSchema, {
      subscriptionId: `sub_${ULID}`,
      eventTypes: ["batch.failed", "batch.exploded"],
      updateMask: { paths: ["event_types"] },
    });
    const err = rejection(UpdateSubscriptionRequestSchema, msg, "event_types[1]");
    expect(err.message).toContain("must be one of batch.confirmed");
    msg.eventTypes = ["batch.failed"];
    expect(() => validateMessage(UpdateSubscriptionRequestSchema, msg)).not.toThrow();
  });
});

describe("validateMessage: enums", () => {
  it("a required enum left at zero is reported", () => {
    const msg = create(DeleteStoreCredentialsRequestSchema, { tenantId: `ten_${ULID}` });
    expect(rejection(DeleteStoreCredentialsRequestSchema, msg, "store").message).toBe("store: must be set to a known value");
  });

  it("an enum number the contract does not define is reported", () => {
    const msg = create(DeleteStoreCredentialsRequestSchema, { tenantId: `ten_${ULID}`, store: 99 as Store });
    expect(rejection(DeleteStoreCredentialsRequestSchema, msg, "store").message).toBe("store: unknown enum value");
  });

  it("an unknown enum number is reported even without rules on the field", () => {
    const msg = create(ListDeliveriesRequestSchema, { status: 42 as DeliveryStatus });
    expect(rejection(ListDeliveriesRequestSchema, msg, "status").message).toBe("status: unknown enum value");
  });

  it("known enum values pass", () => {
    for (const store of [Store.APPLE, Store.GOOGLE]) {
      expect(() => validateMessage(DeleteStoreCredentialsRequestSchema, create(DeleteStoreCredentialsRequestSchema, { tenantId: `ten_${ULID}`, store }))).not.toThrow();
    }
  });
});

describe("validateMessage: in, url, pattern", () => {
  it("a repeated `in` rule reports the index of the bad item", () => {
    const msg = validSubscription();
    msg.eventTypes = ["batch.confirmed", "event.anchored", "order.created"];
    const err = rejection(CreateSubscriptionRequestSchema, msg, "event_types[2]");
    expect(err.message).toBe(`event_types[2]: must be one of ${EVENT_TYPES.join(", ")}`);
  });

  it("a singular optional `in` rule applies when set", () => {
    rejection(ListDeliveriesRequestSchema, create(ListDeliveriesRequestSchema, { eventType: "nope" }), "event_type");
    expect(() => validateMessage(ListDeliveriesRequestSchema, create(ListDeliveriesRequestSchema, { eventType: "batch.failed" }))).not.toThrow();
  });

  it("url must be an absolute URL", () => {
    for (const url of ["not a url", "/relative/path", "hooks.example.com/x"]) {
      const msg = validSubscription();
      msg.url = url;
      expect(rejection(CreateSubscriptionRequestSchema, msg, "url").message, url).toBe("url: must be an absolute URL");
    }
  });

  it("pattern must match the whole value (stream_id)", () => {
    expect(() => validateMessage(GetStreamRequestSchema, create(GetStreamRequestSchema, { streamId: `str_${ULID}` }))).not.toThrow();
    for (const streamId of ["str_123", `xstr_${ULID}`, `str_${ULID}0`, `str_${ULID.toLowerCase()}`, `str_${ULID.slice(0, 25)}U`, `sub_${ULID}`]) {
      const err = rejection(GetStreamRequestSchema, create(GetStreamRequestSchema, { streamId }), "stream_id");
      expect(err.message, streamId).toBe("stream_id: must match ^str_[0-9A-HJKMNP-TV-Z]{26}$");
    }
  });

  it("pattern on fork_evidence_id", () => {
    expect(() => validateMessage(GetForkEvidenceRequestSchema, create(GetForkEvidenceRequestSchema, { forkEvidenceId: `fork_${ULID}` }))).not.toThrow();
    rejection(GetForkEvidenceRequestSchema, create(GetForkEvidenceRequestSchema, { forkEvidenceId: `str_${ULID}` }), "fork_evidence_id");
  });

  it("pattern on a character class (source_ref: printable ASCII, no spaces)", () => {
    const msg = create(AppendEventRequestSchema, {
      streamId: `str_${ULID}`,
      sourceRef: "order 1",
      eventType: "source.observation",
      occurredAt: timestampFromDate(new Date()),
      payload: {},
    });
    rejection(AppendEventRequestSchema, msg, "source_ref");
    msg.sourceRef = "order-1";
    expect(() => validateMessage(AppendEventRequestSchema, msg)).not.toThrow();
  });
});

describe("validateMessage: optional fields and valid messages", () => {
  it("optional fields left unset pass, even with rules that an empty value would break", () => {
    const msg = create(CreateStreamRequestSchema, { name: "s" });
    expect(msg.requestId).toBeUndefined();
    expect(() => validateMessage(CreateStreamRequestSchema, msg)).not.toThrow();
    expect(() => validateMessage(ListEventsRequestSchema, create(ListEventsRequestSchema, { streamId: `str_${ULID}` }))).not.toThrow();
  });

  it("an optional field set to an empty string is checked (min_len 1)", () => {
    const msg = create(CreateStreamRequestSchema, { name: "s", requestId: "" });
    expect(rejection(CreateStreamRequestSchema, msg, "request_id").message).toBe("request_id: must have at least 1 characters");
  });

  it("a url set to a bad value is checked", () => {
    const msg = create(UpdateSubscriptionRequestSchema, { subscriptionId: `sub_${ULID}`, url: "nope", updateMask: { paths: ["url"] } });
    rejection(UpdateSubscriptionRequestSchema, msg, "url");
  });

  it("a oneof member with explicit presence is checked even at zero", () => {
    const msg = create(GetInclusionProofRequestSchema, { streamId: `str_${ULID}`, leaf: { case: "seqNo", value: 0n } });
    expect(rejection(GetInclusionProofRequestSchema, msg, "seq_no").message).toBe("seq_no: must be at least 1");
    msg.leaf = { case: "seqNo", value: 1n };
    expect(() => validateMessage(GetInclusionProofRequestSchema, msg)).not.toThrow();
  });

  it("a fully valid CreateSubscriptionRequest passes", () => {
    const msg = validSubscription();
    msg.description = "d".repeat(1000);
    expect(() => validateMessage(CreateSubscriptionRequestSchema, msg)).not.toThrow();
  });

  it("a fully valid PutAppleCredentialsRequest passes", () => {
    const msg = create(PutAppleCredentialsRequestSchema, {
      tenantId: `ten_${ULID}`,
      bundleId: "com.example.app",
      keyId: "ABC123DEFG",
      issuerId: "57246542-96fe-1a63-e053-0824d011072a",
      privateKeyPem: "-----BEGIN PRIVATE KEY-----\nMIG...\n-----END PRIVATE KEY-----\n",
      environment: AppleEnvironment.SANDBOX,
    });
    expect(() => validateMessage(PutAppleCredentialsRequestSchema, msg)).not.toThrow();
    msg.environment = AppleEnvironment.UNSPECIFIED;
    rejection(PutAppleCredentialsRequestSchema, msg, "environment");
  });
});

describe("validateMessage: numeric bounds at the zero value", () => {
  it("checks gte on an implicit-presence number left at 0", () => {
    rejection(GetEventRequestSchema, create(GetEventRequestSchema, { streamId: `str_${ULID}`, event: { case: "seqNo", value: 0n } }), "seq_no");
    expect(() => validateMessage(GetEventRequestSchema, create(GetEventRequestSchema, { streamId: `str_${ULID}`, event: { case: "seqNo", value: 1n } }))).not.toThrow();
  });
});

describe("validateMessage: what every string and JSON field must be storable as", () => {
  const append = (payload: Record<string, unknown>) =>
    create(AppendEventRequestSchema, { streamId: `str_${ULID}`, sourceRef: "order-1", eventType: "source.observation", occurredAt: timestampFromDate(new Date()), payload: payload as never });

  it("NUL in a string field without rules of its own (description) is refused by name", () => {
    const msg = create(UpdateSubscriptionRequestSchema, { subscriptionId: `sub_${ULID}`, description: "a\u0000b" });
    expect(rejection(UpdateSubscriptionRequestSchema, msg, "description").message).toBe("description: must not contain NUL (U+0000)");
  });

  it("NUL and lone surrogates in the names of tenants, keys and subscriptions", () => {
    rejection(CreateTenantRequestSchema, create(CreateTenantRequestSchema, { name: "acme\u0000" }), "name");
    rejection(CreateApiKeyRequestSchema, create(CreateApiKeyRequestSchema, { tenantId: `ten_${ULID}`, name: "\ud800" }), "name");
    const sub = validSubscription();
    sub.name = "x\udc00";
    rejection(CreateSubscriptionRequestSchema, sub, "name");
  });

  it("repeated string items are checked by index", () => {
    const sub = validSubscription();
    sub.eventTypes = ["batch.confirmed", "batch.failed\u0000"];
    expect(rejection(CreateSubscriptionRequestSchema, sub, "event_types[1]").message).toMatch(/NUL/);
  });

  it("a JSON payload is checked by JSON path: NUL, lone surrogate, non-finite number", () => {
    expect(rejection(AppendEventRequestSchema, append({ a: { b: ["ok", "x\u0000"] } }), "payload.a.b[1]").message).toMatch(/NUL/);
    expect(rejection(AppendEventRequestSchema, append({ s: "\ud800" }), "payload.s").message).toMatch(/surrogate/);
    expect(rejection(AppendEventRequestSchema, append({ n: Infinity }), "payload.n").message).toBe("payload.n: must be a finite number");
    expect(() => validateMessage(AppendEventRequestSchema, append({ fine: [1, "two", { three: null }], emoji: "😀" }))).not.toThrow();
  });
});
