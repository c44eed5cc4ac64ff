/**
 * Where the dashboard gets its token (WEBSOCKET_AUTH=jwt): `?token_url=/path` names an endpoint
 * of the same origin that answers with a fresh JWT, as text or as JSON `{"token": "..."}`; the
 * SDK calls it before every connection and again before the token expires, so the page keeps
 * streaming across expiries. `?token=<jwt>` is a fixed token: it works until it expires.
 */
import type { TokenSource } from "../client/index.js";

/** The token source the page's query parameters ask for, if any. */
export function tokenSource(params: URLSearchParams): TokenSource | undefined {
  const tokenUrl = params.get("token_url");
  if (tokenUrl !== null) {
    const url = new URL(tokenUrl, location.href);
    // Same origin only: a link naming another site's endpoint must not choose whose data this
    // page shows (its cookies are the same-origin ones anyway).
    if (url.origin !== location.origin)
      throw new TypeError(`token_url must be on this page's origin (${location.origin}), got ${url.origin}`);
    return () => fetchToken(url);
  }
  return params.get("token") ?? undefined;
}

/** GET the token endpoint, with the page's cookies; its answer is the JWT, or JSON with `token`. */
export async function fetchToken(url: URL): Promise<string> {
  const response = await fetch(url, {
    credentials: "same-origin",
    cache: "no-store",
    headers: { Accept: "application/json, text/plain" },
  });
  if (!response.ok) throw new Error(`${url.pathname} answered HTTP ${response.status}`);
  const text = (await response.text()).trim();
  if (!text.startsWith("{")) return text;
  const body = JSON.parse(text) as { token?: unknown; access_token?: unknown };
  const token = body.token ?? body.access_token;
  if (typeof token !== "string") throw new Error(`${url.pathname} answered JSON without a "token" string`);
  return token;
}
