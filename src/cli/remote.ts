import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { createAttestoClient, type AttestoClient } from "../client/index.js";
import type { Config } from "../config.js";
import { credentialFor, type Credential, type CredentialKind } from "./target.js";

/** A server and the credential the CLI talks to it with. */
export interface RemoteSession {
  url: string;
  client: AttestoClient;
  credential: Credential;
}

/**
 * A refused credential names where it came from, so the user knows which
 * variable to fix; other errors keep the server's message (never the secret).
 */
const namingCredential =
  (credential: Credential): Interceptor =>
  (next) =>
  async (req) => {
    try {
      return await next(req);
    } catch (err) {
      const e = ConnectError.from(err);
      if (e.code === Code.Unauthenticated) throw new Error(`the server refused the credential from ${credential.source}: ${e.rawMessage}`);
      if (e.code === Code.PermissionDenied) throw new Error(`the credential from ${credential.source} may not do this: ${e.rawMessage}`);
      const unreachable = unreachableServer(err, req.url.replace(/\/[^/]+\/[^/]+$/, ""));
      if (unreachable) throw unreachable;
      throw e;
    }
  };

/**
 * A request that never reached a server (connection refused, no such host, a
 * timeout, TLS) as one line naming the URL and the cause, instead of fetch's
 * bare "fetch failed" (which Connect reports as `[unknown] fetch failed`).
 */
export function unreachableServer(err: unknown, url: string): Error | undefined {
  const causes: string[] = [];
  for (let e: unknown = err; e instanceof Error && causes.length < 6; e = e.cause) {
    const code = (e as { code?: unknown }).code;
    causes.push(typeof code === "string" ? `${code}: ${e.message}` : e.message);
  }
  const text = causes.join(" ");
  if (!/fetch failed|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|EHOSTUNREACH|ETIMEDOUT|UND_ERR_/.test(text)) return undefined;
  const cause = [...causes].reverse().find((c) => !/fetch failed/.test(c)) ?? "the connection failed";
  return new Error(`no server answers at ${url} (${cause.replace(/^\[\w+\] /, "")}): start one (npm start, or attesto serve), or name another with --url / ATTESTO_URL`);
}

export async function openSession(kind: CredentialKind, url: string, config: Pick<Config, "dataDir" | "databaseUrl">): Promise<RemoteSession> {
  const credential = await credentialFor(kind, url, config);
  return { url, credential, client: createAttestoClient({ baseUrl: url, apiKey: credential.secret, interceptors: [namingCredential(credential)] }) };
}

/** Every page of a paginated list RPC, following next_page_token. */
export async function allPages<T, R extends { nextPageToken: string }>(fetchPage: (pageToken: string) => Promise<R>, items: (page: R) => T[]): Promise<T[]> {
  const all: T[] = [];
  let pageToken = "";
  do {
    const page = await fetchPage(pageToken);
    all.push(...items(page));
    pageToken = page.nextPageToken;
  } while (pageToken);
  return all;
}
