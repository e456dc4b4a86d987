import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";

/**
 * A Node request's headers as Fetch `Headers`, the way connect-node's adapter
 * makes them (`nodeHeaderToWebHeader`, not exported): HTTP/2 pseudo-headers
 * (`:path`, `:authority`, …) are left out and repeated headers are appended.
 */
export function webHeadersOf(node: IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const key in node) {
    if (key.charCodeAt(0) === 58 /* ":" */) continue;
    const value = node[key];
    if (value === undefined) continue;
    if (typeof value === "string") headers.append(key, value);
    else for (const v of value) headers.append(key, v);
  }
  return headers;
}

/**
 * Fetch `Headers` as the object `writeHead` takes, as connect-node's
 * `webHeaderToNodeHeaders` builds it: lower-case names in the order `Headers`
 * iterates them (sorted), each `Set-Cookie` kept separate.
 */
export function nodeHeadersOf(headers: Headers): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = Object.create(null) as OutgoingHttpHeaders;
  headers.forEach((value, key) => {
    if (key === "set-cookie") {
      const existing = out[key];
      out[key] = Array.isArray(existing) ? [...existing, value] : [value];
    } else {
      out[key] = value;
    }
  });
  return out;
}
