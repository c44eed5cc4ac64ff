/**
 * The channel plugin contract: a plain, typed object (in the manner of rollup plugins) that the
 * loader validates once, before the gateway listens.
 *
 * A plugin says where its data comes from (a NATS subject), what valid data looks like (zod
 * schemas, inbound and outbound), what a message is about (its key: a symbol or an account), how
 * it is delivered, and how a frame is built. It does no I/O: the core subscribes, validates,
 * routes, serialises and writes.
 */
import type { z } from "zod";
import type { GatewayConfig } from "../config.js";

/** A plugin's own settings, as its `settings` schema outputs them (plugin-settings.ts). */
export type PluginSettings = Readonly<Record<string, unknown>>;

/**
 * A conflation interval: fixed milliseconds, or derived from configuration (e.g. a seed variable)
 * or from the plugin's own settings.
 */
export type IntervalSpec<S extends PluginSettings = PluginSettings> =
  | number
  | ((config: GatewayConfig, settings: S) => number);

export type DeliveryPolicy<S extends PluginSettings = PluginSettings> =
  /** Every valid message becomes one frame at once, to every client that wants its key. Lossless. */
  | { mode: "immediate" }
  /**
   * Keep the latest message per key and flush every interval. `merge: true` builds one frame per
   * client from all the changed keys it wants (quotes); `merge: false` sends one frame per changed
   * key (a per-account snapshot). Conflated frames may be skipped for a client that reads too slowly.
   */
  | { mode: "conflate"; intervalMs: IntervalSpec<S>; merge: boolean };

/** No settings: the default of plugins that declare none. */
type NoSettings = z.ZodObject<Record<string, never>>;

export interface ChannelPlugin<
  In extends z.ZodType = z.ZodType,
  Out extends z.ZodType = z.ZodType,
  Settings extends z.ZodObject = NoSettings,
> {
  /** Channel name as clients write it, e.g. "news": lower case, digits, underscores. */
  name: string;
  /** One or two sentences for the published contract. */
  description: string;
  /** Default NATS subject (wildcards allowed); NATS_SUBJECT_<NAME> overrides it. */
  subject: string;
  /** Schema of what upstream services publish on the subject. */
  inbound: In;
  /** Schema of the frame clients receive. */
  outbound: Out;
  /** At least one valid inbound payload; checked at load time and published as an example. */
  examples: z.input<In>[];
  /**
   * Settings of the plugin's own: a z.object whose keys are read from environment variables named
   * after the channel, `<CHANNEL>_<KEY>` in upper snake case (channel `order_books`, key `depth`:
   * ORDER_BOOKS_DEPTH; key `maxLevels`: ORDER_BOOKS_MAX_LEVELS). Values arrive as strings: use
   * z.coerce for numbers and z.stringbool() for booleans, and `.default()` for defaults. They are
   * validated at start like the gateway's own settings, listed in .env.example and published in
   * the channel's info (so keep secrets out), and every hook below receives them last.
   */
  settings?: Settings;
  /**
   * Whether a new connection starts subscribed to this channel when WEBSOCKET_AUTO_SUBSCRIBE is on
   * (default true). False: clients get the channel only by subscribing to it.
   */
  autoSubscribe?: boolean;
  delivery: DeliveryPolicy<z.output<Settings>>;
  /**
   * What a message is about: the symbol (or account) clients filter on. `undefined` means it is
   * about nothing in particular and goes to every subscriber of the channel.
   */
  key(message: z.output<In>, settings: z.output<Settings>): string | undefined;
  /**
   * Makes the channel account-scoped: the account a message belongs to. With WEBSOCKET_AUTH=jwt a
   * client receives the message only when its token's `accounts` claim lists that account (a
   * message of no account only with `accounts: ["*"]`). Not allowed with merged conflation.
   */
  account?(message: z.output<In>, settings: z.output<Settings>): string | undefined;
  /**
   * How long the channel may go without data before its subscribers are told it is stale
   * (`stream_status` with reason `no_data`). Leave it out for channels that are quiet by nature
   * (events such as executions); WEBSOCKET_STALE_AFTER_MS overrides it.
   */
  staleAfterMs?: IntervalSpec<z.output<Settings>>;
  /**
   * When upstream published the message, if it says: epoch milliseconds, a Date, or an ISO-8601
   * string (a payload's `timestamp`). Optional; it feeds gateway_upstream_lag_seconds, which is
   * only as right as the publisher's clock is to the gateway's (docs/latency.md). Pure, no I/O.
   */
  publishedAt?(message: z.output<In>): number | Date | string | undefined;
  /** Build the outbound frame for one message. Pure, no I/O. */
  toFrame(message: z.output<In>, now: Date, settings: z.output<Settings>): z.input<Out>;
  /**
   * Required with `conflate` + `merge: true`: one frame from the latest message of every key a
   * client gets this flush (e.g. one frame holding several symbols' quotes). Pure, no I/O.
   */
  mergeFrames?(messages: z.output<In>[], now: Date, settings: z.output<Settings>): z.input<Out>;
}

/** Identity function that gives plugin authors type inference and checking. */
export function definePlugin<
  In extends z.ZodType,
  Out extends z.ZodType,
  Settings extends z.ZodObject = NoSettings,
>(plugin: ChannelPlugin<In, Out, Settings>): ChannelPlugin<In, Out, Settings> {
  return plugin;
}

/** A plugin as the core holds it, whatever its schemas and settings. */
export type AnyPlugin = ChannelPlugin<z.ZodType, z.ZodType, z.ZodObject>;

/** Where a state frame sits in the key's upstream sequence, and the view's checksum. */
export interface StatePosition {
  /** The upstream sequence of the last message the view includes. */
  sequence: number;
  /** The checksum of the view (the plugin's own `checksum`). */
  checksum: number;
}

/**
 * How a `state` channel's plugin keeps one key's state (e.g. a symbol's order book) and shows it.
 * The core does the rest, generically: sequencing, gaps, redeliveries, merging per interval,
 * re-snapshots for slow clients, metrics and the contract (state-delivery.ts).
 */
export interface StateHooks<In, State, View, Changes, Settings> {
  /** The upstream's own sequence of a message: strictly increasing per key. */
  sequence(message: In): number;
  /** Does the message replace the key's state (a snapshot), rather than change it (a delta)? */
  isSnapshot(message: In): boolean;
  /** A snapshot's state (`state` undefined), or a delta applied to the state (which it may change). */
  apply(state: State | undefined, message: In, settings: Settings): State;
  /**
   * What clients see of a state (e.g. the top `depth` levels), as an immutable value: the core
   * keeps earlier views to diff against, so a later `apply` must not change one.
   */
  view(state: State, settings: Settings): View;
  /** What changed from one view to the next, enough to turn `before` into `after`; undefined: nothing. */
  diff(before: View, after: View, settings: Settings): Changes | undefined;
  /** The checksum of a view, which clients recompute to prove they hold the same one. */
  checksum(view: View, settings: Settings): number;
}

/**
 * A channel whose clients hold a state per key (an order book per symbol), built from a snapshot
 * and checksummed updates: the third delivery kind beside conflated and lossless (DESIGN §9).
 * A client that falls behind gets a fresh snapshot instead of a disconnect.
 */
export interface StatePlugin<
  In extends z.ZodType = z.ZodType,
  Snapshot extends z.ZodType = z.ZodType,
  Update extends z.ZodType = z.ZodType,
  Settings extends z.ZodObject = NoSettings,
  State = unknown,
  View = unknown,
  Changes = unknown,
> {
  name: string;
  description: string;
  subject: string;
  inbound: In;
  examples: z.input<In>[];
  settings?: Settings;
  /** See ChannelPlugin.autoSubscribe; a state channel usually wants `false` (clients pick keys). */
  autoSubscribe?: boolean;
  delivery: { mode: "state" };
  /** The two frame schemas: a key's whole view, and the changes from one sequence to another. */
  frames: { snapshot: Snapshot; update: Update };
  /** The key a message is about (a symbol): a state is kept per key. Required. */
  key(message: z.output<In>, settings: z.output<Settings>): string;
  staleAfterMs?: IntervalSpec<z.output<Settings>>;
  /** See ChannelPlugin.publishedAt. */
  publishedAt?(message: z.output<In>): number | Date | string | undefined;
  state: StateHooks<z.output<In>, State, View, Changes, z.output<Settings>>;
  /** The snapshot frame of a key's view; `message` is the last one the view includes. Pure. */
  toSnapshot(
    key: string,
    view: View,
    position: StatePosition,
    message: z.output<In>,
    settings: z.output<Settings>,
  ): z.input<Snapshot>;
  /** The update frame from `prevSequence` to `position`; `message` is the last one applied. Pure. */
  toUpdate(
    key: string,
    changes: Changes,
    position: StatePosition & { prevSequence: number },
    message: z.output<In>,
    settings: z.output<Settings>,
  ): z.input<Update>;
}

/** Identity function that gives state plugin authors type inference and checking. */
export function defineStatePlugin<
  In extends z.ZodType,
  Snapshot extends z.ZodType,
  Update extends z.ZodType,
  State,
  View,
  Changes,
  Settings extends z.ZodObject = NoSettings,
>(
  plugin: StatePlugin<In, Snapshot, Update, Settings, State, View, Changes>,
): StatePlugin<In, Snapshot, Update, Settings, State, View, Changes> {
  return plugin;
}

/** A state plugin as the core holds it. */
export type AnyStatePlugin = StatePlugin<
  z.ZodType,
  z.ZodType,
  z.ZodType,
  z.ZodObject,
  unknown,
  unknown,
  unknown
>;

/** What every loaded channel has, whatever its kind. */
interface LoadedChannelBase {
  /** The plugin's settings, read from the environment and validated (empty without a schema). */
  settings: PluginSettings;
  /** Effective NATS subject (override applied). */
  subject: string;
  /** Effective staleness threshold in ms, or undefined when the channel is never stale for lack of data. */
  staleAfterMs: number | undefined;
  /** Folder the plugin came from, for error messages and logs. */
  source: string;
  /** Does a new connection start subscribed (WEBSOCKET_AUTO_SUBSCRIBE on)? The plugin's autoSubscribe. */
  autoSubscribe: boolean;
}

/** The latest value per key, flushed every interval (`delivery: { mode: "conflate" }`). */
export interface ConflatedChannel extends LoadedChannelBase {
  kind: "conflated";
  plugin: AnyPlugin;
  /** Effective conflation interval in ms (resolved against configuration). */
  intervalMs: number;
  /** One frame per client from every changed key it wants (mergeFrames), or one per key. */
  merge: boolean;
}

/** Every message, positioned and resumable (`delivery: { mode: "immediate" }`). */
export interface LosslessChannel extends LoadedChannelBase {
  kind: "lossless";
  plugin: AnyPlugin;
}

/** A key's view from a snapshot and checksummed updates (`delivery: { mode: "state" }`). */
export interface StateChannel extends LoadedChannelBase {
  kind: "state";
  plugin: AnyStatePlugin;
}

/**
 * A plugin after loading, by kind: its effective subject and interval resolved against
 * configuration. From the loader onwards `kind` is the one thing that tells the kinds apart.
 */
export type LoadedChannel = ConflatedChannel | LosslessChannel | StateChannel;
export type ChannelKind = LoadedChannel["kind"];

/** The end of a `switch` over every kind: adding a kind fails to compile wherever it is unhandled. */
export function unhandledKind(kind: never): never {
  throw new Error(`unhandled channel kind ${JSON.stringify(kind)}`);
}

/** A channel's data frame schemas: its `outbound`, or a state channel's snapshot and update frames. */
export function frameSchemasOf(channel: { plugin: AnyPlugin | AnyStatePlugin }): z.ZodType[] {
  const { plugin } = channel;
  return "frames" in plugin ? [plugin.frames.snapshot, plugin.frames.update] : [plugin.outbound];
}

/** The `type` literal a frame schema declares ("news", "pong", ...), if it declares one. */
export function frameTypeOf(schema: z.ZodType): string | undefined {
  const value = (schema as unknown as { shape?: { type?: { value?: unknown } } }).shape?.type?.value;
  return typeof value === "string" ? value : undefined;
}
