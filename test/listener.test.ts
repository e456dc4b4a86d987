import http2 from "node:http2";
import { afterEach, describe, expect, it } from "vitest";
import { listenDual, type DualServer } from "../src/server/listener.js";

let server: DualServer | undefined;
afterEach(() => server?.close(100));

function h2Get(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", reject);
    const req = session.request({ ":path": path });
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (body += chunk));
    req.on("end", () => {
      session.close();
      resolve(body);
    });
    req.on("error", reject);
  });
}

describe("one port for HTTP/1.1 and h2c", () => {
  it("routes each connection by its first bytes to the right protocol", async () => {
    server = await listenDual((req, res) => res.end(`v${req.httpVersion} ${req.url}`), "127.0.0.1", 0);
    const { port } = server.address;
    expect(await (await fetch(`http://127.0.0.1:${port}/a`)).text()).toBe("v1.1 /a");
    expect(await h2Get(port, "/b")).toBe("v2.0 /b");
    // And again, interleaved, on new connections.
    const [h1, h2] = await Promise.all([fetch(`http://127.0.0.1:${port}/c`).then((r) => r.text()), h2Get(port, "/d")]);
    expect([h1, h2]).toEqual(["v1.1 /c", "v2.0 /d"]);
  });

  it("drains in-flight requests on close and refuses new connections", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    server = await listenDual(async (_req, res) => {
      started();
      await gate;
      res.end("finished");
    }, "127.0.0.1", 0);
    const { port } = server.address;
    const inFlight = fetch(`http://127.0.0.1:${port}/slow`).then((r) => r.text());
    await running;
    const closing = server.close(5_000);
    await expect(fetch(`http://127.0.0.1:${port}/late`)).rejects.toThrow();
    release();
    expect(await inFlight).toBe("finished");
    await closing;
    server = undefined;
  });

  it("cuts requests that outlive the grace period", async () => {
    server = await listenDual(() => {
      /* never answers */
    }, "127.0.0.1", 0);
    const { port } = server.address;
    const hanging = fetch(`http://127.0.0.1:${port}/forever`).then(
      () => "answered",
      () => "cut",
    );
    await new Promise((r) => setTimeout(r, 50));
    await server.close(200);
    server = undefined;
    expect(await hanging).toBe("cut");
  });
});
