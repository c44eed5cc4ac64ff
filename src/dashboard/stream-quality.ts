/**
 * Delivery quality on the dashboard: a panel whose channel the gateway reports stale is greyed
 * out and says why (the gateway lost its NATS link, or no data for how long), and a notice in the
 * header says when the gateway slowed this page's updates because it reads too slowly.
 */
import { type ChannelStatus, DATA_FRAME_CHANNELS, type GatewayClient } from "../client/index.js";
import { el } from "./dom.js";

/** What a person calls each conflated channel in the "Updates slowed" notice. */
const CHANNEL_NAMES: Record<string, string> = { price_updates: "prices", portfolio: "portfolio" };

/** "6 s", "0.5 s", "12.5 s" */
export function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(2))} s`;
}

/**
 * Grey out `panel` (a card) while `channel` is stale, with a line saying why. "No data for N s"
 * counts from the last frame of that channel this page received (or from when it opened), and
 * keeps counting while the channel stays quiet.
 */
export function staleMarker(client: GatewayClient, panel: HTMLElement, channel: string): HTMLElement {
  const notice = el("p", { class: "stale-notice", "data-testid": `${channel}-stale`, hidden: "" });
  let lastData = Date.now();
  let state: ChannelStatus | undefined;
  let ticker: ReturnType<typeof setInterval> | undefined;

  client.on("frame", (frame) => {
    if (DATA_FRAME_CHANNELS[frame.type as keyof typeof DATA_FRAME_CHANNELS] === channel)
      lastData = Date.now();
  });

  const render = () => {
    const stale = state?.status === "stale";
    panel.dataset.stream = stale ? "stale" : "live";
    notice.hidden = !stale;
    if (!stale) {
      notice.textContent = "";
      return;
    }
    if (state?.reason === "no_data") {
      const quiet = Math.max(0, Math.round((Date.now() - lastData) / 1000));
      notice.textContent = `Stale: no data for ${quiet} s`;
    } else if (state?.reason === "upstream_disconnected") {
      notice.textContent = "Stale: the gateway lost its NATS link";
    } else {
      notice.textContent = "Stale: the gateway reports this data may be out of date";
    }
    notice.dataset.reason = state?.reason ?? "";
  };

  client.on("channel_status", (status) => {
    if (status.channel !== channel) return;
    state = status;
    clearInterval(ticker);
    ticker = status.status === "stale" && status.reason === "no_data" ? setInterval(render, 1000) : undefined;
    render();
  });
  panel.dataset.stream = "live";
  return notice;
}

/** "Updates slowed: prices every 6 s, portfolio every 10 s" while the gateway has degraded this page. */
export function deliveryNotice(client: GatewayClient): HTMLElement {
  const notice = el("span", { class: "delivery-notice", "data-testid": "delivery-notice", hidden: "" });
  const hide = () => {
    notice.hidden = true;
    notice.textContent = "";
  };
  client.on("delivery_status", ({ degraded, intervals_ms }) => {
    if (!degraded) {
      hide();
      return;
    }
    const slowed = Object.entries(intervals_ms)
      .map(([channel, ms]) => `${CHANNEL_NAMES[channel] ?? channel} every ${seconds(ms)}`)
      .join(", ");
    notice.textContent = slowed ? `Updates slowed: ${slowed}` : "Updates slowed";
    notice.title = "This page reads more slowly than the gateway sends, so the gateway sends less often";
    notice.hidden = false;
  });
  // A new connection starts at the intervals asked for.
  client.on("open", hide);
  return notice;
}

/** Choices of the prices panel's interval selector, in ms (0: the gateway's default). */
const INTERVAL_CHOICES = [0, 250, 500, 1000, 2000, 5000];

/**
 * How often the prices panel is updated: the gateway's default, or an interval of the page's
 * choosing (`interval_ms`, remembered by the SDK across reconnections).
 */
export function intervalSelector(client: GatewayClient, channel = "price_updates"): HTMLElement {
  const select = el("select", { "aria-label": "Update interval", "data-testid": `${channel}-interval` });
  for (const ms of INTERVAL_CHOICES)
    select.append(el("option", { value: String(ms) }, ms === 0 ? "default" : `every ${seconds(ms)}`));
  const sync = () => {
    const chosen = client.intervals[channel];
    select.value = chosen !== undefined && INTERVAL_CHOICES.includes(chosen) ? String(chosen) : "0";
  };
  select.addEventListener("change", () => {
    const current = client.subscriptions[channel] ?? client.activeSubscriptions?.[channel] ?? "*";
    const welcome = client.welcome;
    const chosen = Number(select.value);
    // "default" is the gateway's own interval for the channel, asked for explicitly.
    const intervalMs =
      chosen > 0 ? chosen : Math.round((welcome?.price_update_interval ?? 0) * 1000) || undefined;
    if (Array.isArray(current) && current.length === 0) {
      sync();
      return;
    }
    try {
      client.subscribe(channel, current, { intervalMs });
    } catch {
      sync();
    }
  });
  // A refused interval (below the gateway's floor) is dropped by the SDK: show what is in force.
  client.on("server_error", sync);
  client.on("unsubscribed", sync);
  return el("label", { class: "interval" }, "Updates ", select);
}
