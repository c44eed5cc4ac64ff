/**
 * `gateway status`: GET /websocket/status, validated with the route's own zod schema, printed
 * as a table (or as the JSON document with --json).
 */
import { type WebSocketStatus, websocketStatus } from "../http/status-route.js";
import { renderTable } from "./table.js";

export interface StatusOptions {
  /** The gateway's address: http(s)://host:port (a ws(s):// URL or the full status URL work too). */
  url: string;
  json: boolean;
}

const STATUS_PATH = "/websocket/status";

/** The status document's URL from whatever address the user gave. */
export function statusUrl(input: string): URL {
  const url = new URL(input);
  if (url.protocol === "ws:") url.protocol = "http:";
  else if (url.protocol === "wss:") url.protocol = "https:";
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new TypeError(`not an http(s) URL: ${input}`);
  if (!url.pathname.endsWith(STATUS_PATH)) url.pathname = STATUS_PATH;
  url.search = "";
  return url;
}

export async function status(options: StatusOptions): Promise<number> {
  let url: URL;
  try {
    url = statusUrl(options.url);
  } catch (error) {
    process.stderr.write(`gateway: invalid --url: ${(error as Error).message}\n`);
    return 2;
  }
  let body: unknown;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    if (!response.ok) {
      process.stderr.write(`gateway: ${url} answered HTTP ${response.status}\n`);
      return 1;
    }
    body = await response.json();
  } catch (error) {
    const cause = (error as { cause?: { message?: string } }).cause?.message;
    process.stderr.write(`gateway: cannot read ${url}: ${cause ?? (error as Error).message}\n`);
    return 1;
  }
  const parsed = websocketStatus.safeParse(body);
  if (!parsed.success) {
    process.stderr.write(
      `gateway: ${url} is not a gateway status document: ${parsed.error.issues[0]?.message}\n`,
    );
    return 1;
  }
  process.stdout.write(
    options.json ? `${JSON.stringify(parsed.data, null, 2)}\n` : formatStatus(url, parsed.data),
  );
  return 0;
}

export function formatStatus(url: URL, document: WebSocketStatus): string {
  const yes = (value: boolean) => (value ? "yes" : "no");
  const settings = renderTable(
    [
      ["WebSocket enabled", yes(document.enabled)],
      ["Connections", `${document.active_connections} of ${document.max_connections}`],
      ["Ping interval", `${document.ping_interval} s`],
      ["Price update interval", `${document.price_update_interval} s`],
      ["Portfolio update interval", `${document.portfolio_update_interval} s`],
    ],
    { indent: 2 },
  );
  const streams = renderTable([
    ["CHANNEL", "HEALTHY", "LAST UPDATE", "ERRORS", "RECOVERIES", "STARTED"],
    ...Object.entries(document.stream_health).map(([channel, health]) => [
      channel,
      yes(health.is_healthy),
      health.last_update ?? "never",
      String(health.error_count),
      String(health.recovery_attempts),
      health.started_at,
    ]),
  ]);
  return `Gateway ${url.origin}\n${settings}\n${streams}`;
}
