import http2 from "node:http2";
import { afterEach, describe, expect, it } from "vitest";
import { listenDual, type DualServer } from "./listener.js";

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
    server = await listenDual(
      (_req, res) => {
        started();
        void gate.then(() => res.end("finished"));
      },
      "127.0.0.1",
      0,
    );
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
    server = await listenDual(
      () => {
        /* never answers */
      },
      "127.0.0.1",
      0,
    );
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

describe("connection limits (slowloris)", () => {
  const limits = { headersTimeoutMs: 300, requestTimeoutMs: 400, idleTimeoutMs: 500, maxConnectionsPerIp: 5, maxPendingBodies: 0 };
  const net = () => import("node:net");

  /** Opens a raw connection, optionally sends bytes, and resolves with how long until the server closed it. */
  async function heldFor(port: number, send?: Buffer | string): Promise<number> {
    const { connect } = await net();
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const socket = connect(port, "127.0.0.1", () => {
        if (send) socket.write(send);
      });
      socket.on("error", () => undefined);
      // Whatever the server answers is read, so that its close shows.
      socket.resume();
      socket.on("close", () => resolve(Date.now() - started));
      setTimeout(() => reject(new Error("still open after 10 s")), 10_000).unref();
    });
  }

  it("closes silent, half-sent-header, preface-only and body-withholding connections within their timeouts", async () => {
    server = await listenDual((_req, res) => res.end("ok"), "127.0.0.1", 0, limits);
    const { port } = server.address;
    const held = await Promise.all([
      heldFor(port),
      heldFor(port, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "),
      heldFor(port, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
      heldFor(port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc"),
    ]);
    // Each was dropped by the server (the test's own 10 s guard never fired), well before Node's defaults.
    for (const ms of held) expect(ms).toBeLessThan(5_000);
  });

  it("keeps a keep-alive connection for the idle timeout after its answer, then closes it", async () => {
    server = await listenDual((_req, res) => res.end("ok"), "127.0.0.1", 0, limits);
    const ms = await heldFor(server.address.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    expect(ms).toBeGreaterThanOrEqual(limits.idleTimeoutMs - 50);
    expect(ms).toBeLessThan(5_000);
  });

  it("refuses connections from one address beyond the cap, and serves again once they close", async () => {
    server = await listenDual((_req, res) => res.end("ok"), "127.0.0.1", 0, { ...limits, headersTimeoutMs: 10_000 });
    const { port } = server.address;
    const { connect } = await net();
    const open = await Promise.all(
      Array.from(
        { length: limits.maxConnectionsPerIp },
        () =>
          new Promise<import("node:net").Socket>((resolve) => {
            const s = connect(port, "127.0.0.1", () => resolve(s));
            s.on("error", () => undefined);
          }),
      ),
    );
    // The sixth is closed at once, before any timeout could.
    expect(await heldFor(port)).toBeLessThan(1_000);
    for (const s of open) s.destroy();
    await new Promise((r) => setTimeout(r, 50));
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe("ok");
  });

  it("holds at most maxPendingBodies slow bodies over all addresses: a new one drops the oldest", async () => {
    const cap = { ...limits, requestTimeoutMs: 10_000, maxConnectionsPerIp: 0, maxPendingBodies: 3 };
    server = await listenDual(
      (req, res) => {
        req.resume();
        req.once("end", () => res.end("ok"));
      },
      "127.0.0.1",
      0,
      cap,
    );
    const { port } = server.address;
    const slow = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc";
    const started = Date.now();
    const oldest = heldFor(port, slow);
    await new Promise((r) => setTimeout(r, 100));
    const others = [heldFor(port, slow), heldFor(port, slow)];
    await new Promise((r) => setTimeout(r, 100));
    // The fourth body in progress: the oldest is dropped long before the 10 s request timeout.
    const fourth = heldFor(port, slow);
    expect(await oldest).toBeLessThan(2_000);
    // A complete request is still served while the cap is full.
    expect(await (await fetch(`http://127.0.0.1:${port}/`, { method: "POST", body: "x" })).text()).toBe("ok");
    expect(Date.now() - started).toBeLessThan(5_000);
    await server.close(100);
    server = undefined;
    await Promise.all([...others, fourth]);
  });
});
