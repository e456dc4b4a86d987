import { describe, expect, it } from "vitest";
import { createLogger } from "../logger.js";
import { createHttpApp } from "./app.js";
import { Metrics } from "./metrics.js";
import { BOARD_PATH, mountQueueBoard } from "./queue-board.js";

const OPERATOR = "op-token-0123456789";
const VIEWER = "viewer-token-0123456789";

function board() {
  const app = createHttpApp({ logger: createLogger("silent"), metrics: new Metrics(), bodyLimitBytes: 1024, readiness: {} });
  // The operator check is the Authenticator's; here the one token it knows.
  const authenticator = { isOperatorToken: (token: string) => token === OPERATOR };
  mountQueueBoard(app, { jobs: { queues: () => [] }, authenticator, viewerToken: VIEWER });
  return app;
}

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

describe("the queue board", () => {
  it("asks for the operator token with a Basic challenge, and refuses a tenant key or a wrong token", async () => {
    const app = board();
    for (const authorization of [undefined, "Bearer atk_tenantkey", basic("ops", "wrong"), "Basic !!!", `Bearer ${OPERATOR}x`]) {
      const res = await app.request(BOARD_PATH, { headers: authorization ? { authorization } : {} });
      expect(res.status, authorization).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe('Basic realm="Attesto operators", charset="UTF-8"');
      expect(((await res.json()) as { error: { reason: string } }).error.reason).toBe("OPERATOR_TOKEN_INVALID");
    }
  });

  it("shows the board to the operator token, as Bearer or as the Basic password, self-contained", async () => {
    const app = board();
    for (const authorization of [`Bearer ${OPERATOR}`, basic("anyone", OPERATOR)]) {
      const res = await app.request(BOARD_PATH, { headers: { authorization } });
      expect(res.status, authorization).toBe(200);
      expect(res.headers.get("content-security-policy")).toContain("default-src 'self'");
      const html = await res.text();
      expect(html).toContain("Attesto queues");
      expect(html).not.toMatch(/fonts\.(googleapis|gstatic)\.com/);
    }
    const api = await app.request(`${BOARD_PATH}/api/queues`, { headers: { authorization: `Bearer ${OPERATOR}` } });
    expect(api.status).toBe(200);
    expect(((await api.json()) as { queues: unknown[] }).queues).toEqual([]);
  });

  it("lets the viewer token look but not act", async () => {
    const app = board();
    const headers = { authorization: `Bearer ${VIEWER}` };
    expect((await app.request(BOARD_PATH, { headers })).status).toBe(200);
    const act = await app.request(`${BOARD_PATH}/api/queues/deliveries/retry/failed`, { method: "PUT", headers });
    expect(act.status).toBe(403);
    expect(((await act.json()) as { error: { code: string } }).error.code).toBe("permission_denied");
  });
});
