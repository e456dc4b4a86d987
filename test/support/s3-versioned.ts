import { createHash, createHmac, randomBytes, type Hash, type Hmac } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { SignatureV4 } from "@smithy/signature-v4";

/** SHA-256 (keyed: HMAC) in the shape SignatureV4 takes. */
type SourceData = string | ArrayBuffer | ArrayBufferView;
const bytes = (d: SourceData) => (typeof d === "string" ? d : d instanceof ArrayBuffer ? new Uint8Array(d) : new Uint8Array(d.buffer, d.byteOffset, d.byteLength));

class NodeSha256 {
  #hash: Hash | Hmac;
  private readonly secret: string | Uint8Array | undefined;
  constructor(secret?: SourceData) {
    this.secret = secret === undefined ? undefined : bytes(secret);
    this.#hash = this.secret ? createHmac("sha256", this.secret) : createHash("sha256");
  }
  update(data: SourceData): void {
    this.#hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#hash.digest());
  }
  reset(): void {
    this.#hash = this.secret ? createHmac("sha256", this.secret) : createHash("sha256");
  }
}

/**
 * Checks a request's SigV4 Authorization header by signing the same
 * canonical request again with the expected secret (the AWS SDK's own signer).
 */
async function sigV4Valid(req: http.IncomingMessage, url: URL, accessKeyId: string, secretAccessKey: string): Promise<boolean> {
  const auth = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(req.headers.authorization ?? "");
  if (!auth || auth[1] !== accessKeyId) return false;
  const signed = auth[4]!.split(";");
  const headers: Record<string, string> = {};
  for (const name of signed) headers[name] = String(req.headers[name] ?? "");
  const amzDate = headers["x-amz-date"] ?? "";
  const signingDate = new Date(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`);
  const signer = new SignatureV4({ credentials: { accessKeyId, secretAccessKey }, region: auth[3]!, service: "s3", sha256: NodeSha256, uriEscapePath: false });
  const [hostname, port] = (headers.host ?? "").split(":");
  const query: Record<string, string> = {};
  url.searchParams.forEach((v, k) => (query[k] = v));
  const again = await signer.sign({ method: req.method ?? "GET", protocol: "http:", hostname: hostname!, port: port ? Number(port) : undefined, path: url.pathname, query, headers }, { signingDate });
  return String(again.headers.authorization ?? again.headers.Authorization).endsWith(`Signature=${auth[5]}`);
}

interface Version {
  versionId: string;
  etag: string;
  size: number;
  lastModified: Date;
  contentType: string;
  sha256: string;
}

/**
 * A small S3-compatible server for versioned buckets (s3rver keeps no
 * versions): path-style HeadObject per the S3 protocol — `?versionId=`,
 * `x-amz-version-id`, ETag, Content-Length, Last-Modified, Content-Type,
 * and `x-amz-checksum-sha256` when asked with `x-amz-checksum-mode:
 * ENABLED`; 404 for a missing key or version, 400 for a malformed version
 * id, 403 unless the SigV4 signature verifies with the expected credentials.
 * Every request is recorded, so a test can show that only HEAD was sent.
 */
export class VersionedS3 {
  readonly requests: Array<{ method: string; path: string; checksumMode: string | undefined }> = [];
  readonly #objects = new Map<string, Version[]>();

  private constructor(
    private readonly server: http.Server,
    readonly bucket: string,
    readonly accessKeyId: string,
    readonly secretAccessKey: string,
  ) {}

  static async start(bucket: string, accessKeyId: string, secretAccessKey: string): Promise<VersionedS3> {
    let self: VersionedS3 | undefined;
    const server = http.createServer((req, res) => void self!.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    self = new VersionedS3(server, bucket, accessKeyId, secretAccessKey);
    return self;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Stores a new version of a key; returns its id. */
  put(key: string, content: string, contentType = "application/json"): Version {
    const version: Version = {
      versionId: randomBytes(12).toString("base64url"),
      etag: createHash("md5").update(content).digest("hex"),
      size: Buffer.byteLength(content),
      lastModified: new Date(Math.floor(Date.now() / 1000) * 1000),
      contentType,
      sha256: createHash("sha256").update(content).digest("base64"),
    };
    this.#objects.set(key, [...(this.#objects.get(key) ?? []), version]);
    return version;
  }

  async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://x");
    this.requests.push({ method: req.method ?? "", path: url.pathname, checksumMode: req.headers["x-amz-checksum-mode"] as string | undefined });
    if (!(await sigV4Valid(req, url, this.accessKeyId, this.secretAccessKey))) return void res.writeHead(403).end();
    const prefix = `/${this.bucket}/`;
    if (req.method !== "HEAD" || !url.pathname.startsWith(prefix)) return void res.writeHead(405).end();
    const key = decodeURIComponent(url.pathname.slice(prefix.length));
    const versions = this.#objects.get(key);
    const wanted = url.searchParams.get("versionId");
    if (wanted !== null && !/^[A-Za-z0-9_-]+$/.test(wanted)) return void res.writeHead(400).end();
    const version = wanted === null ? versions?.at(-1) : versions?.find((v) => v.versionId === wanted);
    if (!version) return void res.writeHead(404).end();
    res.writeHead(200, {
      etag: `"${version.etag}"`,
      "content-length": String(version.size),
      "content-type": version.contentType,
      "last-modified": version.lastModified.toUTCString(),
      "x-amz-version-id": version.versionId,
      ...(req.headers["x-amz-checksum-mode"] === "ENABLED" ? { "x-amz-checksum-sha256": version.sha256, "x-amz-checksum-type": "FULL_OBJECT" } : {}),
    });
    res.end();
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
