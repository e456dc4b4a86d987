import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Keyring } from "../crypto/keyring.js";
import { AppError } from "../errors.js";
import { CONNECTOR_SECRET_CONTEXT, configureKind, newConnectorSecret } from "./kind-config.js";
import type { CreateConnectorInput } from "./types.js";

const keyring = new Keyring(randomBytes(32));
const policy = { allowLoopback: false };
const base = { streamId: "str_1", name: "n" };
const s3 = { region: "auto", bucket: "evidence", keyPrefix: "cases/", forcePathStyle: true, accessKeyId: "AKIA1", secretAccessKey: "s3-secret" };

const fieldOf = async (input: CreateConnectorInput) => {
  const err = await configureKind(keyring, policy, "ten_1", input).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(AppError);
  return (err as AppError).details.field;
};

describe("a connector kind's config and secret", () => {
  it("makes a secret of the kind's form, sealed for the tenant alone", async () => {
    expect(newConnectorSecret("signed_webhook")).toMatch(/^[0-9a-f]{64}$/);
    expect(newConnectorSecret("gitlab")).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(newConnectorSecret("gitlab", "legacy_token")).toMatch(/^[0-9a-f]{64}$/);
    const made = await configureKind(keyring, policy, "ten_1", { ...base, kind: "gitlab" });
    expect(made.settings).toEqual({ gitlab: { tokenMode: "signing_token" } });
    expect(keyring.decryptText(CONNECTOR_SECRET_CONTEXT, made.sealed, "ten_1")).toBe(made.secret);
    expect(() => keyring.decryptText(CONNECTOR_SECRET_CONTEXT, made.sealed, "ten_2")).toThrow();
    const gh = await configureKind(keyring, policy, "ten_1", { ...base, kind: "github", github: { events: ["push", "push", "ping"] } });
    expect(gh.settings).toEqual({ github: { events: ["push", "ping"] } });
  });

  it("S3: seals the credentials, shows no secret, and names the field it refuses", async () => {
    const made = await configureKind(keyring, policy, "ten_1", { ...base, kind: "s3_object", s3 });
    expect(made.secret).toBe("");
    expect(made.settings.s3).toEqual({ endpoint: "", region: "auto", bucket: "evidence", keyPrefix: "cases/", forcePathStyle: true });
    expect(JSON.parse(keyring.decryptText(CONNECTOR_SECRET_CONTEXT, made.sealed, "ten_1"))).toEqual({ accessKeyId: "AKIA1", secretAccessKey: "s3-secret" });
    expect(await fieldOf({ ...base, kind: "s3_object" })).toBe("s3_object");
    expect(await fieldOf({ ...base, kind: "s3_object", s3: { ...s3, bucket: "A" } })).toBe("s3_object.bucket");
    expect(await fieldOf({ ...base, kind: "s3_object", s3: { ...s3, secretAccessKey: "" } })).toBe("s3_object.secret_access_key");
    expect(await fieldOf({ ...base, kind: "s3_object", s3: { ...s3, endpoint: "https://127.0.0.1:9000" } })).toBe("s3_object.endpoint");
  });

  it("refuses a config of another kind", async () => {
    expect(await fieldOf({ ...base, kind: "signed_webhook", github: { events: [] } })).toBe("github");
    expect(await fieldOf({ ...base, kind: "github", gitlab: {} })).toBe("gitlab");
    expect(await fieldOf({ ...base, kind: "gitlab", s3 })).toBe("s3_object");
  });
});
