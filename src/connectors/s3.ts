import { createHash } from "node:crypto";
import http from "node:http";
import https from "node:https";
import net, { type LookupFunction } from "node:net";
import { HeadObjectCommand, S3Client, S3ServiceException, type HeadObjectCommandOutput } from "@aws-sdk/client-s3";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { AppError, invalidArgument, type ErrorReason } from "../errors.js";
import { addressRange, blockedReason, guardedLookup, type OutboundPolicy } from "../net/outbound.js";
import type { NormalizedEvent } from "./normalize.js";
import type { JsonObject, ObjectReceipt } from "./types.js";

export interface S3Target {
  endpoint: string;
  region: string;
  bucket: string;
  keyPrefix: string;
  forcePathStyle: boolean;
  accessKeyId: string;
  secretAccessKey: string;
}

/** The metadata rule: at most 32 entries; keys of [A-Za-z0-9_.:-], 1 to 128; values up to 1024 characters; 8 KiB of JSON in all. */
export const METADATA_LIMITS = { entries: 32, keyChars: 128, valueChars: 1024, totalBytes: 8 * 1024 } as const;

export function checkMetadata(metadata: Record<string, unknown>): Record<string, string> {
  const entries = Object.entries(metadata);
  if (entries.length > METADATA_LIMITS.entries) throw invalidArgument("metadata", `must have at most ${METADATA_LIMITS.entries} entries`);
  for (const [k, v] of entries) {
    if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(k)) throw invalidArgument("metadata", `key ${JSON.stringify(k.slice(0, 40))} must be 1 to 128 characters of [A-Za-z0-9_.:-]`);
    if (typeof v !== "string") throw invalidArgument("metadata", `value of ${k} must be a string`);
    if ([...v].length > METADATA_LIMITS.valueChars) throw invalidArgument("metadata", `value of ${k} must be at most ${METADATA_LIMITS.valueChars} characters`);
  }
  if (Buffer.byteLength(JSON.stringify(metadata)) > METADATA_LIMITS.totalBytes) throw invalidArgument("metadata", "must be at most 8 KiB of JSON");
  // Sorted, so equal metadata is the same payload whatever order the caller used.
  return Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) as Record<string, string>;
}

/** Keys outside the prefix, and dot segments that a path-style URL could resolve out of it, are refused. */
export function checkKey(key: string, prefix: string): void {
  const outside = () => new AppError("invalid_argument", "key: is outside the connector's key prefix", { field: "key", reason: "KEY_OUTSIDE_PREFIX" });
  if (!key.startsWith(prefix)) throw outside();
  if (key.split("/").some((segment) => segment === "." || segment === "..")) throw outside();
}

const failure = (code: "not_found" | "failed_precondition" | "unavailable", reason: ErrorReason, message: string) => new AppError(code, message, { reason });

/** Why a store call failed, as the connector's documented errors. */
function storeError(err: unknown, versionId: string): AppError {
  if (err instanceof S3ServiceException) {
    const status = err.$metadata?.httpStatusCode ?? 0;
    if (status === 404) return versionId ? failure("not_found", "OBJECT_VERSION_NOT_FOUND", "object version not found") : failure("not_found", "OBJECT_NOT_FOUND", "object not found");
    if (status === 400 && versionId) return failure("not_found", "OBJECT_VERSION_NOT_FOUND", "object version not found");
    if (status === 401 || status === 403) return failure("failed_precondition", "OBJECT_STORE_DENIED", "the object store refused the connector's credentials");
    if (status >= 500) return failure("unavailable", "OBJECT_STORE_UNAVAILABLE", "the object store is unavailable");
    if (status >= 300) return failure("failed_precondition", "OBJECT_STORE_REFUSED", `the object store refused the request (HTTP ${status})`);
  }
  return failure("unavailable", "OBJECT_STORE_UNAVAILABLE", "the object store cannot be reached");
}

/** "S3_OBJECT" receipt fields from a HeadObject answer. */
function receiptOf(bucket: string, key: string, out: HeadObjectCommandOutput): ObjectReceipt {
  const checksums: Array<[string, string | undefined]> = [
    ["SHA256", out.ChecksumSHA256],
    ["SHA1", out.ChecksumSHA1],
    ["CRC64NVME", out.ChecksumCRC64NVME],
    ["CRC32C", out.ChecksumCRC32C],
    ["CRC32", out.ChecksumCRC32],
  ];
  const [algorithm, value] = checksums.find(([, v]) => v) ?? ["", ""];
  return {
    bucket,
    key,
    versionId: out.VersionId && out.VersionId !== "null" ? out.VersionId : "",
    etag: (out.ETag ?? "").replace(/^"|"$/g, ""),
    size: out.ContentLength ?? 0,
    lastModified: out.LastModified ?? new Date(0),
    contentType: out.ContentType ?? "",
    checksumAlgorithm: algorithm,
    checksumValue: value ?? "",
  };
}

/**
 * One connector's S3 client: path-style or virtual-host addressing, R2's
 * region "auto", and every connection through the outbound guard (the host
 * resolved once, each address checked, the socket pinned to it). Only
 * HeadObject is ever sent: content is never read.
 */
export class ObjectStore {
  readonly #client: S3Client;
  readonly #target: S3Target;
  readonly #policy: OutboundPolicy;

  constructor(target: S3Target, opts: { policy: OutboundPolicy; timeoutMs: number }) {
    this.#target = target;
    this.#policy = opts.policy;
    const agentOptions = { keepAlive: true, maxSockets: 16 };
    this.#client = new S3Client({
      region: target.region,
      endpoint: target.endpoint || undefined,
      forcePathStyle: target.forcePathStyle,
      credentials: { accessKeyId: target.accessKeyId, secretAccessKey: target.secretAccessKey },
      // A retry after a refused or missing object only repeats the answer; outages answer quickly instead.
      maxAttempts: 1,
      requestHandler: new NodeHttpHandler({
        httpAgent: new http.Agent({ ...agentOptions, lookup: guardedLookup(opts.policy, true) as unknown as LookupFunction }),
        httpsAgent: new https.Agent({ ...agentOptions, lookup: guardedLookup(opts.policy, false) as unknown as LookupFunction }),
        connectionTimeout: opts.timeoutMs,
        requestTimeout: opts.timeoutMs,
      }),
    });
  }

  /** An IP-literal endpoint skips the lookup, so it is checked here on every call. */
  #checkLiteralEndpoint(): void {
    if (!this.#target.endpoint) return;
    const url = new URL(this.#target.endpoint);
    const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
    if (!net.isIP(host)) return;
    const reason = blockedReason(host, this.#policy) ?? (url.protocol === "http:" && addressRange(host) !== "loopback" ? "not loopback" : undefined);
    if (reason) throw failure("unavailable", "OBJECT_STORE_UNAVAILABLE", "the object store cannot be reached");
  }

  /** HeadObject of a key (and version), with checksums asked for. */
  async head(key: string, versionId: string): Promise<ObjectReceipt> {
    this.#checkLiteralEndpoint();
    const { bucket } = this.#target;
    try {
      const out = await this.#client.send(new HeadObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId || undefined, ChecksumMode: "ENABLED" }));
      return receiptOf(bucket, key, out);
    } catch (err) {
      const mapped = storeError(err, versionId);
      if (mapped.details.reason === "OBJECT_VERSION_NOT_FOUND") {
        // Tell a missing object from a missing version of an existing one.
        const exists = await this.#client.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).then(
          () => true,
          () => false,
        );
        if (!exists) return Promise.reject(failure("not_found", "OBJECT_NOT_FOUND", "object not found"));
      }
      throw mapped;
    }
  }

  close(): void {
    this.#client.destroy();
  }
}

/** The committed event of an object version (see CommitS3Object in connector.proto). */
export function objectEvent(receipt: ObjectReceipt, metadata: Record<string, string>): NormalizedEvent & { occurredAt: Date } {
  const version = receipt.versionId ? `version:${receipt.versionId}` : `etag:${receipt.etag}`;
  const sourceRef = "s3:" + createHash("sha256").update(`${receipt.bucket}\n${receipt.key}\n${version}`, "utf8").digest("hex");
  const payload: JsonObject = { provider: "s3", ...receiptJson(receipt), metadata };
  return { sourceRef, eventType: "s3.object", occurredAt: receipt.lastModified, payload };
}

/** The receipt in the committed (snake_case) form, also the REST answer's `receipt`. */
export function receiptJson(receipt: ObjectReceipt) {
  return {
    bucket: receipt.bucket,
    key: receipt.key,
    version_id: receipt.versionId,
    etag: receipt.etag,
    size: receipt.size,
    last_modified: receipt.lastModified.toISOString(),
    content_type: receipt.contentType,
    checksum_algorithm: receipt.checksumAlgorithm,
    checksum_value: receipt.checksumValue,
  };
}
