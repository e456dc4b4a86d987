import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

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
 * id, 403 unless the SigV4 credential scope names the expected access key.
 * Every request is recorded, so a test can show that only HEAD was sent.
 */
export class VersionedS3 {
  readonly requests: Array<{ method: string; path: string; checksumMode: string | undefined }> = [];
  readonly #objects = new Map<string, Version[]>();

  private constructor(
    private readonly server: http.Server,
    readonly bucket: string,
    readonly accessKeyId: string,
  ) {}

  static async start(bucket: string, accessKeyId: string): Promise<VersionedS3> {
    let self: VersionedS3 | undefined;
    const server = http.createServer((req, res) => self!.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    self = new VersionedS3(server, bucket, accessKeyId);
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

  handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://x");
    this.requests.push({ method: req.method ?? "", path: url.pathname, checksumMode: req.headers["x-amz-checksum-mode"] as string | undefined });
    const credential = /Credential=([^/]+)\//.exec(req.headers.authorization ?? "")?.[1];
    if (credential !== this.accessKeyId) return void res.writeHead(403).end();
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
