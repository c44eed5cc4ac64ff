/**
 * Where the client connects: the gateway's WebSocket URL as given (http(s) mapped to ws(s),
 * relative resolved against the page), the HTTP URL of its channel descriptions beside it, and
 * the client_id it connects as by default.
 */
/** The WebSocket URL: ws(s) as given, http(s) mapped to ws(s), relative resolved against the page. */
export function gatewayUrl(input: string): URL {
  const base = (globalThis as { location?: { href: string } }).location?.href;
  let url: URL;
  try {
    url = new URL(input, base);
  } catch {
    throw new TypeError(`Invalid gateway URL: ${JSON.stringify(input)}`);
  }
  if (url.protocol === "http:") url.protocol = "ws:";
  else if (url.protocol === "https:") url.protocol = "wss:";
  if (url.protocol !== "ws:" && url.protocol !== "wss:")
    throw new TypeError(`Gateway URL must be ws:// or wss:// (or http(s)://), got ${JSON.stringify(input)}`);
  // "http://host:8000", the address people copy from the status page, means the gateway's /ws.
  if (url.pathname === "/") url.pathname = "/ws";
  return url;
}

/** `websocket/channels` beside the WebSocket path, over http(s). */
export function channelsUrlOf(url: URL): string {
  const channels = new URL("websocket/channels", url);
  channels.protocol = url.protocol === "wss:" ? "https:" : "http:";
  channels.search = "";
  return channels.toString();
}

/**
 * A random UUID (v4) for the client_id. `crypto.randomUUID` exists only on secure pages (https,
 * localhost); getRandomValues exists on every page.
 */
export function randomClientId(): string {
  const crypto = (globalThis as { crypto?: { getRandomValues?(array: Uint8Array): Uint8Array } }).crypto;
  const bytes = new Uint8Array(16);
  if (crypto?.getRandomValues) crypto.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
