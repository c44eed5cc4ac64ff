/**
 * A live panel for any channel the dashboard has no dedicated panel for (a plugin added to the
 * gateway after the dashboard was built): the latest frames as a table, newest first, one column
 * per field of the frame schema the gateway published for the channel (GET /websocket/channels,
 * through the SDK).
 */
import type { ChannelDataFrame, GatewayClient, WelcomeFrame } from "../client/index.js";
import { el } from "./dom.js";

const MAX_ROWS = 20;

/** A frame field as table text: strings as they are, anything else as JSON. */
function cellText(value: unknown): string {
  if (value === undefined || value === null) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** The channels of a welcome that no dedicated panel shows. */
export function channelsWithoutPanel(welcome: WelcomeFrame, dedicated: ReadonlySet<string>): string[] {
  return welcome.channels.filter((channel) => !dedicated.has(channel));
}

/** The table of one channel's latest frames; its columns are set by the first frame. */
export function channelTable(client: GatewayClient, channel: string): HTMLElement {
  const head = el("tr", {});
  const body = el("tbody", {});
  const empty = el("p", { class: "empty" }, `No ${channel} frames yet`);
  const table = el(
    "table",
    { class: "grid channel-table", "data-testid": `channel-${channel}` },
    el("thead", {}, head),
    body,
  );
  let fields: string[] | undefined;
  client.on("channel_data", (frame: ChannelDataFrame) => {
    if (frame.channel !== channel) return;
    if (fields === undefined) {
      const properties = client.frameSchemaOf(channel)?.properties;
      const known = typeof properties === "object" && properties !== null ? properties : frame.payload;
      fields = Object.keys(known).filter((field) => field !== "type");
      head.append(...fields.map((field) => el("th", {}, field)));
    }
    empty.remove();
    body.prepend(el("tr", {}, ...fields.map((field) => el("td", {}, cellText(frame.payload[field])))));
    while (body.children.length > MAX_ROWS) body.lastElementChild?.remove();
  });
  return el("div", { class: "scroll" }, table, empty);
}
