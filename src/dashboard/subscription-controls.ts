/**
 * Subscribe and unsubscribe symbols per channel. The SDK remembers what was asked for and asks
 * again after every reconnection; the chips show what the gateway confirmed.
 */
import type { GatewayClient } from "../client/index.js";
import { el } from "./dom.js";

export function subscriptionControls(client: GatewayClient): HTMLElement {
  const list = el("div", { class: "controls", "data-testid": "subscriptions" });
  const message = el("p", { class: "message", role: "status" });
  const chips = new Map<string, HTMLElement>();

  const showState = () => {
    const active = client.activeSubscriptions ?? {};
    for (const [channel, chip] of chips) {
      const state = active[channel];
      chip.textContent =
        state === undefined || (Array.isArray(state) && state.length === 0)
          ? "not subscribed"
          : state === "*"
            ? "all symbols"
            : state.join(", ");
      chip.dataset.state = state === "*" ? "all" : Array.isArray(state) && state.length > 0 ? "some" : "none";
    }
  };

  const row = (channel: string) => {
    const chip = el("span", { class: "chip" });
    chips.set(channel, chip);
    const input = el("input", {
      type: "text",
      placeholder: channel === "portfolio" ? "accounts, e.g. default" : "symbols, e.g. AAPL, MSFT",
      "aria-label": `${channel} symbols`,
    });
    const symbols = () =>
      input.value
        .split(/[\s,]+/)
        // As typed: symbols and accounts are case-sensitive ("default" is not "DEFAULT").
        .map((symbol) => symbol.trim())
        .filter(Boolean);
    const act = (label: string, run: () => void) => {
      const button = el("button", { type: "button", "data-action": label.toLowerCase() }, label);
      button.addEventListener("click", () => {
        message.textContent = "";
        try {
          run();
        } catch (error) {
          message.textContent = (error as Error).message;
        }
      });
      return button;
    };
    return el(
      "form",
      { class: "control", "data-channel": channel },
      el("div", { class: "name" }, el("strong", {}, channel), chip),
      el(
        "div",
        { class: "inputs" },
        input,
        act("Subscribe", () => symbols().length > 0 && client.subscribe(channel, symbols())),
        act("Unsubscribe", () => symbols().length > 0 && client.unsubscribe(channel, symbols())),
        act("All", () => client.subscribe(channel, "*")),
        act("None", () => client.unsubscribe(channel)),
      ),
    );
  };

  client.on("open", ({ welcome }) => {
    if (chips.size === 0) list.replaceChildren(...welcome.channels.map(row));
    showState();
  });
  client.on("subscribed", showState);
  client.on("unsubscribed", showState);
  client.on("server_error", (error) => {
    message.textContent = `${error.code}: ${error.error}`;
  });
  list.addEventListener("submit", (event) => event.preventDefault());
  return el("div", {}, list, message);
}
