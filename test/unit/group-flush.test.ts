/**
 * The two flushes of a conflated channel's flush group (group-flush.ts), against a fake channel
 * (FlushTarget) that records every frame it is asked to queue: which client gets which frame, that
 * clients wanting the same keys get the very same bytes, that owed keys are carried, that what a
 * subscribe snapshot gave is not repeated, and that account-scoped data reaches only its account.
 */
import { describe, expect, it } from "vitest";
import type { Grant } from "../../src/core/auth/grant.js";
import type { ClientSession } from "../../src/core/client-session.js";
import { audienceOf } from "../../src/core/delivery/audience.js";
import { FlushGroup } from "../../src/core/delivery/flush-group.js";
import { type FlushTarget, flushMerged, flushPerKey, NO_KEY } from "../../src/core/delivery/group-flush.js";
import type { AnyPlugin, ChannelPlugin } from "../../src/core/plugin.js";
import { SubscriptionIndex } from "../../src/core/subscription-index.js";
import { fakeSession, grantFor } from "../helpers/fake-session.js";

const CHANNEL = "prices";

interface Tick {
  symbol?: string;
  price: number;
  account?: string;
  /** The plugin cannot render this one (toFrame and mergeFrames throw). */
  broken?: boolean;
}

interface Sent {
  to: string;
  frame: Buffer;
  slots: string[];
}

/**
 * A conflated channel as a flush sees it, over a real SubscriptionIndex. Its "frames" are the JSON
 * bytes of what the plugin built (the WebSocket framing is frame-encoder's business, not a flush's).
 */
function fakeChannel(options: { accountScoped?: boolean } = {}) {
  const render = (tick: Tick) => {
    if (tick.broken) throw new Error("cannot render");
    return tick.price;
  };
  const plugin = {
    name: CHANNEL,
    key: (tick: Tick) => tick.symbol,
    account: options.accountScoped ? (tick: Tick) => tick.account : undefined,
    toFrame: (tick: Tick) => ({ type: "price_update", symbols: { [tick.symbol ?? "-"]: render(tick) } }),
  } as unknown as ChannelPlugin;
  const index = new SubscriptionIndex([CHANNEL], 100);
  const latest = new Map<string, unknown>();
  const sent: Sent[] = [];
  /** How many frames were built (encoded), successfully or not. */
  const built = { count: 0 };
  const target: FlushTarget = {
    name: CHANNEL,
    plugin,
    settings: {},
    index,
    latest,
    build(make) {
      built.count++;
      try {
        return Buffer.from(JSON.stringify(make()));
      } catch {
        return undefined;
      }
    },
    merge: (slots) => ({
      type: "price_update",
      symbols: Object.fromEntries(
        slots.map((slot) => {
          const tick = latest.get(slot) as Tick;
          return [tick.symbol ?? "-", render(tick)];
        }),
      ),
    }),
    audienceOf: (message) => audienceOf({ plugin: plugin as AnyPlugin, settings: {} }, message),
    // ChannelDelivery's rule: open, still subscribed, a value known; sorted.
    stillOwed(session, slots, except) {
      const subscription = session.subscriptions.get(CHANNEL);
      if (session.closing || subscription === undefined) return [];
      return [...slots]
        .filter((slot) => latest.has(slot) && !except?.has(slot))
        .filter((slot) => subscription === "*" || slot === NO_KEY || subscription.has(slot))
        .sort();
    },
    sendTo(session, frame, slots) {
      sent.push({ to: session.clientId, frame, slots });
      return true;
    },
    frameQueued() {},
  };
  const client = (clientId: string, symbols: "*" | string[], grant?: Grant) => {
    const { session } = fakeSession({ clientId, ...(grant ? { grant } : {}) });
    index.subscribe(session, CHANNEL, symbols);
    return session;
  };
  const tick = (slot: string, value: Tick) => {
    latest.set(slot, value);
    return value;
  };
  /** What each client was sent (frames decoded), by client in order of arrival per client. */
  const received = () =>
    [...sent]
      .sort((a, b) => (a.to < b.to ? -1 : a.to > b.to ? 1 : 0))
      .map(({ to, frame, slots }) => ({ to, frame: JSON.parse(frame.toString()) as unknown, slots }));
  const framesTo = (clientId: string) => sent.filter((s) => s.to === clientId).map((s) => s.frame);
  return { target, index, sent, built, client, tick, received, framesTo };
}

const everyone = () => true;
const noDebts = () => new Map<ClientSession, Set<string>>();

describe("flushPerKey", () => {
  it("sends one frame per changed key to the clients that want it, the same bytes to each", () => {
    const channel = fakeChannel();
    channel.client("star", "*");
    channel.client("a", ["AAPL"]);
    channel.client("b", ["AAPL", "MSFT"]);
    channel.client("c", ["TSLA"]);
    channel.tick("AAPL", { symbol: "AAPL", price: 1 });
    channel.tick("MSFT", { symbol: "MSFT", price: 2 });
    channel.tick("TSLA", { symbol: "TSLA", price: 3 });

    flushPerKey(channel.target, new FlushGroup(100), ["AAPL", "MSFT"], noDebts(), everyone);

    const aapl = { type: "price_update", symbols: { AAPL: 1 } };
    const msft = { type: "price_update", symbols: { MSFT: 2 } };
    expect(channel.received()).toEqual([
      { to: "a", frame: aapl, slots: ["AAPL"] },
      { to: "b", frame: aapl, slots: ["AAPL"] },
      { to: "b", frame: msft, slots: ["MSFT"] },
      { to: "star", frame: aapl, slots: ["AAPL"] },
      { to: "star", frame: msft, slots: ["MSFT"] },
    ]);
    // Encoded once per key, and the very same Buffer queued for every recipient.
    expect(channel.built.count).toBe(2);
    const [first, ...others] = channel.sent.filter((s) => s.slots[0] === "AAPL").map((s) => s.frame);
    for (const frame of others) expect(frame).toBe(first);
  });

  it("sends a message about no key once to every subscriber of the channel", () => {
    const channel = fakeChannel();
    channel.client("star", "*");
    channel.client("b", ["AAPL", "MSFT"]);
    channel.client("c", ["TSLA"]);
    channel.tick(NO_KEY, { price: 9 });

    flushPerKey(channel.target, new FlushGroup(100), [NO_KEY], noDebts(), everyone);

    expect(channel.received().map(({ to, slots }) => ({ to, slots }))).toEqual([
      { to: "b", slots: [NO_KEY] },
      { to: "c", slots: [NO_KEY] },
      { to: "star", slots: [NO_KEY] },
    ]);
  });

  it("leaves out clients of other flush groups", () => {
    const channel = fakeChannel();
    const slow = channel.client("slow", "*");
    channel.client("a", ["AAPL"]);
    channel.tick("AAPL", { symbol: "AAPL", price: 1 });

    flushPerKey(channel.target, new FlushGroup(100), ["AAPL"], noDebts(), (s) => s !== slow);

    expect(channel.received().map((s) => s.to)).toEqual(["a"]);
  });

  it("does not repeat the value a subscribe snapshot gave, but sends a newer one", () => {
    const channel = fakeChannel();
    const a = channel.client("a", ["AAPL"]);
    const b = channel.client("b", ["AAPL"]);
    const group = new FlushGroup(100);
    const older = { symbol: "AAPL", price: 1 };
    group.recordSnapshot(b, "AAPL", older);
    group.recordSnapshot(a, "AAPL", channel.tick("AAPL", { symbol: "AAPL", price: 2 }));

    flushPerKey(channel.target, group, ["AAPL"], noDebts(), everyone);

    expect(channel.received()).toEqual([
      { to: "b", frame: { type: "price_update", symbols: { AAPL: 2 } }, slots: ["AAPL"] },
    ]);
  });

  it("carries owed keys that did not change, and an owed key that changed goes once", () => {
    const channel = fakeChannel();
    const lagging = channel.client("lagging", ["AAPL", "MSFT"]);
    channel.client("other", ["MSFT"]);
    channel.tick("AAPL", { symbol: "AAPL", price: 1 });
    channel.tick("MSFT", { symbol: "MSFT", price: 2 });
    const owed = new Map([[lagging, new Set(["AAPL", "MSFT"])]]);

    flushPerKey(channel.target, new FlushGroup(100), ["AAPL"], owed, everyone);

    expect(channel.received()).toEqual([
      { to: "lagging", frame: { type: "price_update", symbols: { AAPL: 1 } }, slots: ["AAPL"] },
      { to: "lagging", frame: { type: "price_update", symbols: { MSFT: 2 } }, slots: ["MSFT"] },
    ]);
  });

  it("drops owed keys the client can no longer be sent (unsubscribed, or no value known)", () => {
    const channel = fakeChannel();
    const lagging = channel.client("lagging", ["AAPL", "GONE"]);
    channel.tick("AAPL", { symbol: "AAPL", price: 1 });
    channel.tick("TSLA", { symbol: "TSLA", price: 3 });
    const owed = new Map([[lagging, new Set(["GONE", "TSLA", "AAPL"])]]);

    flushPerKey(channel.target, new FlushGroup(100), [], owed, everyone);

    expect(channel.received().map(({ to, slots }) => ({ to, slots }))).toEqual([
      { to: "lagging", slots: ["AAPL"] },
    ]);
  });

  it("on an account-scoped channel, sends a message only to holders of its account", () => {
    const channel = fakeChannel({ accountScoped: true });
    channel.client("acme", "*", grantFor(["acme"]));
    channel.client("every-account", "*", grantFor("*"));
    channel.client("auth-off", "*");
    channel.client("other", "*", grantFor(["other"]));
    channel.client("other-symbol", ["acme-book"], grantFor(["other"]));
    channel.tick("acme-book", { symbol: "acme-book", price: 5, account: "acme" });

    flushPerKey(channel.target, new FlushGroup(100), ["acme-book"], noDebts(), everyone);

    expect(channel.received().map((s) => s.to)).toEqual(["acme", "auth-off", "every-account"]);
  });

  it("on an account-scoped channel, pays owed keys only to holders of their account", () => {
    const channel = fakeChannel({ accountScoped: true });
    const acme = channel.client("acme", ["acme-book"], grantFor(["acme"]));
    const other = channel.client("other", ["acme-book"], grantFor(["other"]));
    channel.tick("acme-book", { symbol: "acme-book", price: 5, account: "acme" });
    const owed = new Map([
      [acme, new Set(["acme-book"])],
      [other, new Set(["acme-book"])],
    ]);

    flushPerKey(channel.target, new FlushGroup(100), [], owed, everyone);

    expect(channel.received().map((s) => s.to)).toEqual(["acme"]);
  });

  it("skips a frame the plugin cannot build, tries it only once, and still sends the others", () => {
    const channel = fakeChannel();
    channel.client("star", "*");
    const lagging = channel.client("lagging", ["AAPL"]);
    channel.tick("AAPL", { symbol: "AAPL", price: 1, broken: true });
    channel.tick("MSFT", { symbol: "MSFT", price: 2 });
    const owed = new Map([[lagging, new Set(["AAPL"])]]);

    flushPerKey(channel.target, new FlushGroup(100), ["AAPL", "MSFT"], owed, everyone);

    expect(channel.received().map(({ to, slots }) => ({ to, slots }))).toEqual([
      { to: "star", slots: ["MSFT"] },
    ]);
    expect(channel.built.count).toBe(2);
  });
});

describe("flushMerged", () => {
  it("gives every '*' subscriber one shared frame holding all changed keys", () => {
    const channel = fakeChannel();
    channel.client("star1", "*");
    channel.client("star2", "*");
    channel.tick("AAPL", { symbol: "AAPL", price: 1 });
    channel.tick("MSFT", { symbol: "MSFT", price: 2 });

    flushMerged(channel.target, new FlushGroup(100), ["AAPL", "MSFT"], noDebts(), everyone);

    const both = { type: "price_update", symbols: { AAPL: 1, MSFT: 2 } };
    expect(channel.received()).toEqual([
      { to: "star1", frame: both, slots: ["AAPL", "MSFT"] },
      { to: "star2", frame: both, slots: ["AAPL", "MSFT"] },
    ]);
    expect(channel.framesTo("star2")[0]).toBe(channel.framesTo("star1")[0]);
    expect(channel.built.count).toBe(1);
  });

  it("gives symbol subscribers only their changed keys, one shared frame per distinct key list", () => {
    const channel = fakeChannel();
    channel.client("a1", ["AAPL"]);
    channel.client("a2", ["AAPL", "TSLA"]);
    channel.client("b", ["MSFT", "AAPL"]);
    channel.client("c", ["TSLA"]);
    channel.tick("AAPL", { symbol: "AAPL", price: 1 });
    channel.tick("MSFT", { symbol: "MSFT", price: 2 });
    channel.tick("TSLA", { symbol: "TSLA", price: 3 });

    flushMerged(channel.target, new FlushGroup(100), ["AAPL", "MSFT"], noDebts(), everyone);

    expect(channel.received()).toEqual([
      { to: "a1", frame: { type: "price_update", symbols: { AAPL: 1 } }, slots: ["AAPL"] },
      { to: "a2", frame: { type: "price_update", symbols: { AAPL: 1 } }, slots: ["AAPL"] },
      { to: "b", frame: { type: "price_update", symbols: { AAPL: 1, MSFT: 2 } }, slots: ["AAPL", "MSFT"] },
    ]);
    expect(channel.framesTo("a2")[0]).toBe(channel.framesTo("a1")[0]);
    expect(channel.built.count).toBe(2);
  });

  it("adds a message about no key to what every symbol subscriber gets", () => {
    const channel = fakeChannel();
    channel.client("a", ["AAPL"]);
    channel.client("c", ["TSLA"]);
    channel.tick("AAPL", { symbol: "AAPL", price: 1 });
    channel.tick(NO_KEY, { price: 9 });

    flushMerged(channel.target, new FlushGroup(100), ["AAPL", NO_KEY], noDebts(), everyone);

    expect(channel.received().map(({ to, slots }) => ({ to, slots }))).toEqual([
      { to: "a", slots: ["AAPL", NO_KEY] },
      { to: "c", slots: [NO_KEY] },
    ]);
  });

  it("leaves out clients of other flush groups", () => {
    const channel = fakeChannel();
    const slowStar = channel.client("slow-star", "*");
    const slowA = channel.client("slow-a", ["AAPL"]);
    channel.client("star", "*");
    channel.client("a", ["AAPL"]);
    channel.tick("AAPL", { symbol: "AAPL", price: 1 });

    flushMerged(
      channel.target,
      new FlushGroup(100),
      ["AAPL"],
      noDebts(),
      (s) => s !== slowStar && s !== slowA,
    );

    expect(channel.received().map((s) => s.to)).toEqual(["a", "star"]);
  });

  it("does not repeat what a subscribe snapshot gave, and sends nothing when that was all", () => {
    const channel = fakeChannel();
    const star = channel.client("star", "*");
    const starAll = channel.client("star-all", "*");
    const a = channel.client("a", ["AAPL", "MSFT"]);
    const group = new FlushGroup(100);
    const aapl = channel.tick("AAPL", { symbol: "AAPL", price: 1 });
    const msft = channel.tick("MSFT", { symbol: "MSFT", price: 2 });
    group.recordSnapshot(star, "AAPL", aapl);
    group.recordSnapshot(starAll, "AAPL", aapl);
    group.recordSnapshot(starAll, "MSFT", msft);
    group.recordSnapshot(a, "MSFT", msft);
    // A snapshot of an older value does not count: the newer one is sent.
    group.recordSnapshot(a, "AAPL", { symbol: "AAPL", price: 0 });

    flushMerged(channel.target, group, ["AAPL", "MSFT"], noDebts(), everyone);

    expect(channel.received().map(({ to, slots }) => ({ to, slots }))).toEqual([
      { to: "a", slots: ["AAPL"] },
      { to: "star", slots: ["MSFT"] },
    ]);
  });

  it("adds what a '*' subscriber is owed to the changed keys, and settles its debt", () => {
    const channel = fakeChannel();
    const lagging = channel.client("lagging", "*");
    channel.client("star", "*");
    channel.tick("AAPL", { symbol: "AAPL", price: 1 });
    channel.tick("TSLA", { symbol: "TSLA", price: 3 });
    const owed = new Map([[lagging, new Set(["TSLA", "AAPL"])]]);

    flushMerged(channel.target, new FlushGroup(100), ["AAPL"], owed, everyone);

    expect(channel.received()).toEqual([
      {
        to: "lagging",
        frame: { type: "price_update", symbols: { AAPL: 1, TSLA: 3 } },
        slots: ["AAPL", "TSLA"],
      },
      { to: "star", frame: { type: "price_update", symbols: { AAPL: 1 } }, slots: ["AAPL"] },
    ]);
    expect(owed.size).toBe(0);
  });

  it("does not repeat what a snapshot gave a '*' subscriber that is owed other keys", () => {
    const channel = fakeChannel();
    const resubscribed = channel.client("resubscribed", "*");
    const group = new FlushGroup(100);
    group.recordSnapshot(resubscribed, "AAPL", channel.tick("AAPL", { symbol: "AAPL", price: 1 }));
    channel.tick("TSLA", { symbol: "TSLA", price: 3 });
    const owed = new Map([[resubscribed, new Set(["TSLA"])]]);

    flushMerged(channel.target, group, ["AAPL"], owed, everyone);

    expect(channel.received().map(({ to, slots }) => ({ to, slots }))).toEqual([
      { to: "resubscribed", slots: ["TSLA"] },
    ]);
  });

  it("still pays a '*' subscriber a changed key whose snapshot was recorded but skipped (owed)", () => {
    // ConflatedDelivery.snapshot records the snapshot before it knows the frame was queued: for a
    // lagging client it was skipped, and the key is owed as well as recorded.
    const channel = fakeChannel();
    const star = channel.client("star", "*");
    const group = new FlushGroup(100);
    group.recordSnapshot(star, "AAPL", channel.tick("AAPL", { symbol: "AAPL", price: 2 }));
    const owed = new Map([[star, new Set(["AAPL"])]]);

    flushMerged(channel.target, group, ["AAPL"], owed, everyone);

    expect(channel.received().map(({ to, slots }) => ({ to, slots }))).toEqual([
      { to: "star", slots: ["AAPL"] },
    ]);
  });

  it("adds what a symbol subscriber is owed to its changed keys, each key once", () => {
    const channel = fakeChannel();
    const b = channel.client("b", ["AAPL", "MSFT"]);
    const d = channel.client("d", ["AAPL", "MSFT"]);
    channel.tick("AAPL", { symbol: "AAPL", price: 1 });
    channel.tick("MSFT", { symbol: "MSFT", price: 2 });
    const owed = new Map([
      [b, new Set(["MSFT"])],
      [d, new Set(["AAPL"])],
    ]);

    flushMerged(channel.target, new FlushGroup(100), ["AAPL"], owed, everyone);

    expect(channel.received().map(({ to, slots }) => ({ to, slots }))).toEqual([
      { to: "b", slots: ["AAPL", "MSFT"] },
      { to: "d", slots: ["AAPL"] },
    ]);
    expect(owed.size).toBe(0);
  });

  it("pays clients owed keys when nothing changed for them, with shared bytes for equal debts", () => {
    const channel = fakeChannel();
    const c1 = channel.client("c1", ["TSLA", "MSFT"]);
    const c2 = channel.client("c2", ["MSFT", "TSLA"]);
    const star = channel.client("star", "*");
    channel.client("a", ["AAPL"]);
    channel.tick("AAPL", { symbol: "AAPL", price: 1 });
    channel.tick("MSFT", { symbol: "MSFT", price: 2 });
    channel.tick("TSLA", { symbol: "TSLA", price: 3 });
    const owed = new Map([
      [c1, new Set(["TSLA", "MSFT"])],
      [c2, new Set(["MSFT", "TSLA"])],
      [star, new Set(["MSFT"])],
    ]);

    flushMerged(channel.target, new FlushGroup(100), [], owed, everyone);

    const debt = { type: "price_update", symbols: { MSFT: 2, TSLA: 3 } };
    expect(channel.received()).toEqual([
      { to: "c1", frame: debt, slots: ["MSFT", "TSLA"] },
      { to: "c2", frame: debt, slots: ["MSFT", "TSLA"] },
      { to: "star", frame: { type: "price_update", symbols: { MSFT: 2 } }, slots: ["MSFT"] },
    ]);
    expect(channel.framesTo("c2")[0]).toBe(channel.framesTo("c1")[0]);
  });

  it("sends nothing when nothing changed and nobody is owed anything", () => {
    const channel = fakeChannel();
    channel.client("star", "*");
    channel.client("a", ["AAPL"]);
    channel.tick("AAPL", { symbol: "AAPL", price: 1 });

    flushMerged(channel.target, new FlushGroup(100), [], noDebts(), everyone);

    expect(channel.sent).toEqual([]);
    expect(channel.built.count).toBe(0);
  });

  it("skips a merged frame the plugin cannot build, and tries each key list only once", () => {
    const channel = fakeChannel();
    channel.client("star1", "*");
    channel.client("star2", "*");
    channel.client("a1", ["AAPL"]);
    channel.client("a2", ["AAPL"]);
    channel.client("m", ["MSFT"]);
    channel.tick("AAPL", { symbol: "AAPL", price: 1, broken: true });
    channel.tick("MSFT", { symbol: "MSFT", price: 2 });

    flushMerged(channel.target, new FlushGroup(100), ["AAPL", "MSFT"], noDebts(), everyone);

    expect(channel.received().map(({ to, slots }) => ({ to, slots }))).toEqual([
      { to: "m", slots: ["MSFT"] },
    ]);
    // The '*' frame, ["AAPL"] and ["MSFT"]: three builds, not one per client.
    expect(channel.built.count).toBe(3);
  });
});
