import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppError } from "../errors.js";
import { checkKey, checkMetadata, ObjectStore } from "./s3.js";

// A listener that counts connections: the guard must refuse before any is made.
let server: http.Server;
let connections = 0;
beforeAll(async () => {
  server = http.createServer((_req, res) => res.writeHead(200).end());
  server.on("connection", () => connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const reasonOf = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    return (err as AppError).details.reason;
  }
  return undefined;
};

const target = (endpoint: string) => ({ endpoint, region: "auto", bucket: "b-1", keyPrefix: "", forcePathStyle: true, accessKeyId: "a", secretAccessKey: "s" });

describe("ObjectStore behind the outbound guard", () => {
  it("refuses a host name that resolves to a private or loopback address at request time (DNS rebinding), without connecting", async () => {
    const port = (server.address() as AddressInfo).port;
    for (const address of ["10.0.0.5", "127.0.0.1", "169.254.169.254"]) {
      const store = new ObjectStore(target(`https://store.example.test:${port}`), {
        policy: { allowLoopback: false, resolve: async () => [{ address, family: 4 }] },
        timeoutMs: 2_000,
      });
      expect(await reasonOf(store.head("k", ""))).toBe("OBJECT_STORE_UNAVAILABLE");
      store.close();
    }
    // Loopback over http, allowed only with the development flag: the same name reaches the listener then.
    const dev = new ObjectStore(target(`http://store.example.test:${port}`), { policy: { allowLoopback: true, resolve: async () => [{ address: "127.0.0.1", family: 4 }] }, timeoutMs: 2_000 });
    await dev.head("k", "").catch(() => undefined);
    dev.close();
    expect(connections).toBe(1);
  });

  it("refuses an IP-literal private endpoint on every call", async () => {
    const store = new ObjectStore(target("https://10.1.2.3"), { policy: { allowLoopback: false }, timeoutMs: 2_000 });
    expect(await reasonOf(store.head("k", ""))).toBe("OBJECT_STORE_UNAVAILABLE");
    store.close();
  });

  it("keeps keys inside the prefix and metadata inside its limits", () => {
    expect(() => checkKey("evidence/a.json", "evidence/")).not.toThrow();
    for (const key of ["other/a.json", "evidence/../x", "evidence/./x"]) expect(() => checkKey(key, "evidence/")).toThrow(AppError);
    expect(checkMetadata({ z: "1", a: "2" })).toEqual({ a: "2", z: "1" });
    expect(Object.keys(checkMetadata({ z: "1", a: "2" }))).toEqual(["a", "z"]);
    expect(() => checkMetadata(Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, "v"])))).toThrow(AppError);
    expect(() => checkMetadata({ k: 1 })).toThrow(AppError);
    expect(() => checkMetadata(Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`k${i}`, "v".repeat(1000)])))).toThrow(/8 KiB/);
  });
});
