/**
 * The connection pill in the header: live, connecting, reconnecting with a countdown to the next
 * attempt, or closed with the gateway's close code and reason (and a button to try again).
 */
import type { GatewayClient } from "../client/index.js";
import { closeCodeName } from "../client/index.js";
import { el } from "./dom.js";

type Look = "live" | "pending" | "down";

export function connectionIndicator(client: GatewayClient): HTMLElement {
  const dot = el("span", { class: "dot" });
  const label = el("span", { class: "label", "data-testid": "connection-state" }, "Starting…");
  const detail = el("span", { class: "detail", "data-testid": "connection-detail" });
  const retry = el("button", { class: "ghost", type: "button", hidden: "" }, "Reconnect");
  const root = el("div", { class: "connection pending", "data-state": "idle" }, dot, label, detail, retry);
  let countdown: ReturnType<typeof setInterval> | undefined;

  const show = (state: string, look: Look, text: string, more = "") => {
    clearInterval(countdown);
    root.dataset.state = state;
    // The page dims its data while it is not live: what it shows may be stale.
    document.body.dataset.connection = state;
    root.className = `connection ${look}`;
    label.textContent = text;
    detail.textContent = more;
    retry.hidden = state !== "closed";
  };

  retry.addEventListener("click", () => client.connect());
  client.on("connecting", ({ attempt }) =>
    show("connecting", "pending", attempt === 0 ? "Connecting…" : `Reconnecting… (attempt ${attempt})`),
  );
  client.on("open", ({ welcome }) => show("open", "live", "Live", `client ${welcome.client_id}`));
  client.on("reconnecting", ({ attempt, delayMs }) => {
    const due = Date.now() + delayMs;
    const tick = () => {
      const seconds = Math.max(0, (due - Date.now()) / 1000);
      label.textContent = `Reconnecting in ${seconds.toFixed(1)} s`;
    };
    show("reconnecting", "pending", "", `attempt ${attempt}`);
    tick();
    countdown = setInterval(tick, 100);
  });
  client.on("closed", ({ code, reason, willReconnect }) => {
    if (willReconnect) {
      // A `reconnecting` event follows at once; until then say why the connection ended.
      show("reconnecting", "down", "Connection lost", describe(code, reason));
      return;
    }
    show("closed", "down", "Disconnected", describe(code, reason));
  });
  return root;
}

function describe(code: number, reason: string): string {
  const name = closeCodeName(code);
  return [String(code), name, reason].filter(Boolean).join(" · ");
}
