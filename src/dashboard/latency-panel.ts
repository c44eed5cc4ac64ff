/**
 * The live latency panel: per channel, p50 and p99 of the gateway's own hop (NATS receive to
 * socket write) and of upstream lag (publish time to NATS receive) over the last minute, as
 * figures and as small charts. It polls GET /websocket/latency every few seconds while the page is
 * visible and connected (a gateway the WebSocket cannot reach will not answer the poll either);
 * when the endpoint cannot be read it says why, keeps the last figures, and tries again.
 */
import type { GatewayClient } from "../client/index.js";
import { el } from "./dom.js";
import * as format from "./format.js";
import { latencyChart } from "./latency-chart.js";
import { type ChannelLatency, type LatencyDocument, milliseconds } from "./latency-document.js";

/** How often the figures are read: the endpoint's buckets are 5 s, so a 2 s poll shows each soon. */
const POLL_MS = 2000;
const LATENCY_PATH = "/websocket/latency";

interface Row {
  element: HTMLTableRowElement;
  cells: Record<"kind" | "frames" | "hopP50" | "hopP99" | "lagP50" | "lagP99", HTMLTableCellElement>;
  hop: ReturnType<typeof latencyChart>;
  lag: ReturnType<typeof latencyChart>;
}

function isLatencyDocument(value: unknown): value is LatencyDocument {
  const document = value as Partial<LatencyDocument> | null;
  return (
    typeof document === "object" &&
    document !== null &&
    typeof document.window_seconds === "number" &&
    typeof document.bucket_seconds === "number" &&
    typeof document.channels === "object" &&
    document.channels !== null
  );
}

/** The legend of the charts' two lines, for the card's title line. */
export function latencyLegend(): HTMLElement {
  return el(
    "span",
    { class: "latency-legend" },
    el("span", { class: "key p50" }, "p50"),
    el("span", { class: "key p99" }, "p99"),
    el("span", { class: "muted" }, "ms"),
  );
}

export function latencyPanel(client: GatewayClient): HTMLElement {
  const body = el("tbody");
  const table = el(
    "table",
    { class: "grid latency", "data-testid": "latency" },
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        ...[
          "Channel",
          "Kind",
          "Frames",
          "Hop p50",
          "Hop p99",
          "Gateway hop",
          "Lag p50",
          "Lag p99",
          "Upstream lag",
        ].map((title) => el("th", {}, title)),
      ),
    ),
    body,
  );
  const empty = el("p", { class: "empty" }, "Waiting for latency figures…");
  const status = el("p", { class: "latency-status muted", "data-testid": "latency-status" });
  const rows = new Map<string, Row>();

  const rowFor = (channel: string): Row => {
    const existing = rows.get(channel);
    if (existing) return existing;
    const cell = (name: string) => el("td", { class: `num ${name}` });
    const cells = {
      kind: el("td", { class: "muted kind" }),
      frames: cell("frames muted"),
      hopP50: cell("hop-p50"),
      hopP99: cell("hop-p99"),
      lagP50: cell("lag-p50"),
      lagP99: cell("lag-p99"),
    };
    const hop = latencyChart(channel, "hop");
    const lag = latencyChart(channel, "lag");
    const element = el(
      "tr",
      { "data-channel": channel },
      el("td", { class: "symbol" }, channel),
      cells.kind,
      cells.frames,
      cells.hopP50,
      cells.hopP99,
      el("td", { class: "chart" }, hop.element),
      cells.lagP50,
      cells.lagP99,
      el("td", { class: "chart" }, lag.element),
    );
    const row = { element, cells, hop, lag };
    rows.set(channel, row);
    return row;
  };

  const show = (document: LatencyDocument) => {
    const channels = Object.keys(document.channels).sort();
    for (const [channel, row] of rows)
      if (!(channel in document.channels)) {
        row.element.remove();
        rows.delete(channel);
      }
    const slots = Math.max(1, Math.round(document.window_seconds / document.bucket_seconds));
    for (const channel of channels) {
      const figures = document.channels[channel] as ChannelLatency;
      const row = rowFor(channel);
      const lag = figures.upstream_lag;
      row.cells.kind.textContent = figures.kind;
      row.cells.frames.textContent = format.quantity(figures.hop.count);
      row.cells.hopP50.textContent = milliseconds(figures.hop.p50_ms);
      row.cells.hopP99.textContent = milliseconds(figures.hop.p99_ms);
      row.cells.lagP50.textContent = milliseconds(lag?.p50_ms);
      row.cells.lagP99.textContent = milliseconds(lag?.p99_ms);
      for (const name of ["lagP50", "lagP99"] as const)
        row.cells[name].title = lag === null ? "This channel's messages carry no upstream time" : "";
      row.hop.draw(figures.series, slots);
      row.lag.draw(figures.series, slots, lag === null ? "no upstream time" : undefined);
      body.append(row.element); // in channel order
    }
    empty.hidden = channels.length > 0;
    empty.textContent = "No channels";
    status.dataset.state = "ok";
    status.textContent = `Last ${document.window_seconds} s, estimated from histogram buckets · updated ${format.clock(document.timestamp)}`;
  };

  const poll = async () => {
    try {
      const response = await fetch(LATENCY_PATH, {
        cache: "no-store",
        signal: AbortSignal.timeout(POLL_MS * 2),
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const document = (await response.json()) as unknown;
      if (!isLatencyDocument(document)) throw new Error("not a latency document");
      show(document);
    } catch (error) {
      status.dataset.state = "error";
      status.textContent = `Cannot read ${LATENCY_PATH} (${(error as Error).message}); trying again`;
    }
  };

  // One request at a time, and none while the page is hidden or disconnected; a page that shows
  // again, or connects again, reads at once.
  let timer: ReturnType<typeof setTimeout> | undefined;
  let polling = false;
  const active = () => !document.hidden && client.state === "open";
  const schedule = () => {
    clearTimeout(timer);
    if (!active() || polling) return;
    polling = true;
    poll().finally(() => {
      polling = false;
      if (active()) timer = setTimeout(schedule, POLL_MS);
    });
  };
  document.addEventListener("visibilitychange", schedule);
  client.on("open", schedule);
  client.on("closed", () => {
    clearTimeout(timer);
    status.dataset.state = "waiting";
    status.textContent = "Waiting for the connection to the gateway…";
  });

  return el("div", {}, el("div", { class: "scroll" }, table, empty), status);
}
