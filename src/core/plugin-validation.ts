/**
 * What a valid plugin is, checked once at start-up: its shape (plugin.ts), a subject and
 * intervals that resolve against configuration, an outbound frame type of its own, and hooks
 * whose frames, built from the plugin's own examples, pass its outbound schema. Then what only
 * shows across plugins: names, frame types and subjects that clash.
 */
import { z } from "zod";
import { type GatewayConfig, OWN_PREFIXES, SUBJECT_OVERRIDE_PREFIX } from "../config.js";
import { isValidSubject, subjectsOverlap } from "./ingest/subject.js";
import {
  type AnyPlugin,
  type AnyStatePlugin,
  frameSchemasOf,
  frameTypeOf,
  type LoadedChannel,
  type PluginSettings,
  type StateChannel,
} from "./plugin.js";
import { readSettings, settingVariables } from "./plugin-settings.js";
import { positionFields } from "./positions.js";
import { CLIENT_FRAMES, SERVER_CONTROL_FRAMES } from "./protocol.js";
import { stateExampleSteps } from "./state-examples.js";

export class PluginLoadError extends Error {
  override name = "PluginLoadError";
  /** The channel name when the plugin has one, else its folder. */
  readonly plugin: string;
  constructor(folder: string, problem: string, channelName?: string) {
    const named = channelName !== undefined && channelName !== folder;
    super(
      named ? `Plugin "${channelName}" (folder "${folder}"): ${problem}` : `Plugin "${folder}": ${problem}`,
    );
    this.plugin = channelName ?? folder;
  }
}

/** Frame types of the protocol itself: a channel's frames must not be mistaken for them. */
const PROTOCOL_FRAME_TYPES = new Set(
  [...CLIENT_FRAMES, ...SERVER_CONTROL_FRAMES].map((schema) => frameTypeOf(schema)),
);

/** A zod schema, recognised by shape so that a plugin's own copy of zod 4 still counts. */
const zodSchema = z.custom<z.ZodType>(
  (value) =>
    typeof value === "object" &&
    value !== null &&
    "_zod" in value &&
    typeof (value as z.ZodType).safeParse === "function",
  { message: "must be a zod 4 schema" },
);

const fn = (message: string) =>
  z.custom<(...args: unknown[]) => unknown>((value) => typeof value === "function", { message });
const intervalSpec = z.union([
  z.number().positive().finite(),
  fn("intervalMs must be a positive number or a function"),
]);

const pluginShape = z.object({
  name: z
    .string({ message: "name is missing" })
    .regex(/^[a-z][a-z0-9_]{0,63}$/, "name must be 1 to 64 of a-z 0-9 _ and start with a letter"),
  description: z.string({ message: "description is missing" }).min(1, "description is empty"),
  subject: z.string({ message: "subject is missing" }),
  inbound: zodSchema,
  outbound: zodSchema,
  examples: z.array(z.unknown()).min(1, "examples needs at least one valid inbound payload"),
  delivery: z.discriminatedUnion("mode", [
    z.object({ mode: z.literal("immediate") }),
    z.object({ mode: z.literal("conflate"), intervalMs: intervalSpec, merge: z.boolean() }),
  ]),
  key: fn("key must be a function"),
  toFrame: fn("toFrame must be a function"),
  mergeFrames: fn("mergeFrames must be a function").optional(),
  account: fn("account must be a function").optional(),
  publishedAt: fn("publishedAt must be a function").optional(),
  staleAfterMs: intervalSpec.optional(),
  settings: zodSchema
    .refine((schema) => (schema as { shape?: unknown }).shape !== undefined, "settings must be a z.object")
    .optional(),
  autoSubscribe: z.boolean().optional(),
});

/** A state plugin (plugin.ts StatePlugin): no outbound/toFrame, but frames, state hooks and builders. */
const statePluginShape = pluginShape
  .omit({ outbound: true, delivery: true, toFrame: true, mergeFrames: true, account: true })
  .extend({
    delivery: z.object({ mode: z.literal("state") }),
    frames: z.object({ snapshot: zodSchema, update: zodSchema }),
    state: z.object({
      sequence: fn("state.sequence must be a function"),
      isSnapshot: fn("state.isSnapshot must be a function"),
      apply: fn("state.apply must be a function"),
      view: fn("state.view must be a function"),
      diff: fn("state.diff must be a function"),
      checksum: fn("state.checksum must be a function"),
    }),
    toSnapshot: fn("toSnapshot must be a function"),
    toUpdate: fn("toUpdate must be a function"),
  });

/** Validate one plugin object and resolve its subject and interval against configuration. */
export function validatePlugin(folder: string, candidate: unknown, config: GatewayConfig): LoadedChannel {
  if (typeof candidate !== "object" || candidate === null) {
    throw new PluginLoadError(folder, "index must `export default definePlugin({...})`");
  }
  const isState = (candidate as { delivery?: { mode?: unknown } }).delivery?.mode === "state";
  const shape = (isState ? statePluginShape : pluginShape).safeParse(candidate);
  if (!shape.success) {
    const problems = shape.error.issues.map((issue) =>
      issue.path.length ? `${issue.path.join(".")}: ${issue.message}` : issue.message,
    );
    throw new PluginLoadError(folder, problems.join("; "), nameOf(candidate));
  }
  const fail = (problem: string): never => {
    throw new PluginLoadError(folder, problem, nameOf(candidate));
  };
  const schemas = frameSchemasOf({ plugin: candidate as AnyPlugin | AnyStatePlugin });
  for (const schema of schemas) {
    const type = frameTypeOf(schema);
    if (type === undefined) fail('outbound must be a z.object whose `type` is a z.literal("...")');
    if (type !== undefined && PROTOCOL_FRAME_TYPES.has(type)) {
      fail(`outbound frame type "${type}" is a protocol frame type; choose another`);
    }
  }
  if (schemas.length === 2 && frameTypeOf(schemas[0] as z.ZodType) === frameTypeOf(schemas[1] as z.ZodType))
    fail("frames.snapshot and frames.update must declare different frame types");
  const common = resolveCommon(candidate as AnyPlugin | AnyStatePlugin, config, fail);
  if (isState) return validateStatePlugin(candidate as AnyStatePlugin, { ...common, source: folder }, fail);
  const plugin = candidate as AnyPlugin;
  const { settings, staleAfterMs, subject } = common;
  const { delivery } = plugin;
  let intervalMs = 0;
  if (delivery.mode === "conflate") {
    intervalMs =
      typeof delivery.intervalMs === "function" ? delivery.intervalMs(config, settings) : delivery.intervalMs;
    if (!Number.isFinite(intervalMs) || intervalMs <= 0) {
      fail(`delivery.intervalMs resolved to ${intervalMs}; it must be a positive number`);
    }
  }
  // The gateway stamps every frame of an immediate (lossless) channel with its position.
  const fields = (plugin.outbound as unknown as { shape?: Record<string, unknown> }).shape ?? {};
  const reserved = Object.keys(positionFields).filter((field) => field in fields);
  if (delivery.mode === "immediate" && reserved.length > 0) {
    fail(
      `outbound field ${reserved.map((field) => `"${field}"`).join(" and ")} is reserved: the gateway stamps it on every frame of an immediate channel`,
    );
  }
  const merges = delivery.mode === "conflate" && delivery.merge;
  if (merges && typeof plugin.mergeFrames !== "function") {
    fail("delivery.merge is true, so mergeFrames(messages, now) is required");
  }
  // A merged frame mixes keys, so it could not be filtered per account: account-scoped data is
  // delivered per message (immediate) or per key (conflate without merge).
  if (merges && typeof plugin.account === "function") {
    fail("account(message) cannot be combined with delivery.merge: true (a merged frame mixes accounts)");
  }
  // Build frames from the examples and check them against the outbound schema: a plugin whose
  // hooks and schemas disagree fails here, at start-up, not in front of a client.
  const messages = plugin.examples.map((example, position) => {
    const inbound = plugin.inbound.safeParse(example);
    if (!inbound.success) {
      const message = inbound.error.issues[0]?.message;
      fail(`examples[${position}] fails the inbound schema: ${message}`);
    }
    checkFrame(fail, `toFrame(examples[${position}])`, plugin.outbound, () =>
      plugin.toFrame(inbound.data, new Date(), settings),
    );
    return inbound.data;
  });
  if (merges)
    checkFrame(fail, "mergeFrames(examples)", plugin.outbound, () =>
      plugin.mergeFrames?.(messages, new Date(), settings),
    );
  const loaded = {
    plugin,
    settings,
    subject,
    staleAfterMs,
    source: folder,
    autoSubscribe: plugin.autoSubscribe ?? true,
  };
  return delivery.mode === "conflate"
    ? { ...loaded, kind: "conflated", intervalMs, merge: delivery.merge }
    : { ...loaded, kind: "lossless" };
}

/** What every kind resolves against configuration: subject, settings and staleness threshold. */
function resolveCommon(
  plugin: AnyPlugin | AnyStatePlugin,
  config: GatewayConfig,
  fail: (problem: string) => never,
): { subject: string; settings: PluginSettings; staleAfterMs: number | undefined } {
  const overrideVariable = `${SUBJECT_OVERRIDE_PREFIX}${plugin.name.toUpperCase()}`;
  const subject = config.subjectOverrides[plugin.name] ?? plugin.subject;
  if (!isValidSubject(subject)) {
    const origin = config.subjectOverrides[plugin.name] !== undefined ? ` (from ${overrideVariable})` : "";
    fail(`subject ${JSON.stringify(subject)}${origin} is not a valid NATS subject`);
  }
  // A setting named like one of the gateway's own would be taken for it (and warned about).
  for (const { variable } of settingVariables(plugin)) {
    if (OWN_PREFIXES.some((prefix) => variable.startsWith(prefix)))
      fail(
        `setting variable ${variable} would start with a prefix of the gateway's own settings; rename the channel`,
      );
  }
  const settings = readSettings(plugin, config.environment);
  const staleAfterMs = staleThreshold(plugin, config, settings);
  if (staleAfterMs !== undefined && (!Number.isFinite(staleAfterMs) || staleAfterMs <= 0)) {
    fail(`staleAfterMs resolved to ${staleAfterMs}; it must be a positive number`);
  }
  return { subject, settings, staleAfterMs };
}

/**
 * A state plugin's own checks: its examples must hold a snapshot, and the frames its builders make
 * from them (a snapshot, then an update from each delta that follows in sequence) must pass the
 * frame schemas.
 */
function validateStatePlugin(
  plugin: AnyStatePlugin,
  common: { subject: string; settings: PluginSettings; staleAfterMs: number | undefined; source: string },
  fail: (problem: string) => never,
): StateChannel {
  const messages = plugin.examples.map((example, position) => {
    const inbound = plugin.inbound.safeParse(example);
    if (!inbound.success)
      fail(`examples[${position}] fails the inbound schema: ${inbound.error.issues[0]?.message}`);
    return inbound.data;
  });
  const steps = stateExampleSteps(plugin, common.settings, messages);
  if (steps === undefined) fail("examples needs at least one snapshot (state.isSnapshot true)");
  for (const step of steps ?? []) checkFrame(fail, step.call, step.schema, step.build);
  return { kind: "state", plugin, autoSubscribe: plugin.autoSubscribe ?? true, ...common };
}

/** Run a frame-building hook and check its result against the frame's schema. */
function checkFrame(
  fail: (problem: string) => never,
  call: string,
  schema: z.ZodType,
  build: () => unknown,
): void {
  let frame: unknown;
  try {
    frame = build();
  } catch (error) {
    fail(`${call} threw: ${(error as Error).message}`);
  }
  const outbound = schema.safeParse(frame);
  if (!outbound.success) {
    const issue = outbound.error.issues[0];
    const at = issue?.path.join(".") || "(root)";
    fail(`${call} fails the outbound schema at ${at}: ${issue?.message}`);
  }
}

/** Problems only visible across plugins: duplicate names and subjects that overlap. */
export function checkTogether(loaded: LoadedChannel[]): void {
  for (const [position, channel] of loaded.entries()) {
    const fail = (problem: string): never => {
      throw new PluginLoadError(channel.source, problem, channel.plugin.name);
    };
    for (const earlier of loaded.slice(0, position)) {
      if (earlier.plugin.name === channel.plugin.name) {
        fail(`duplicate channel name; folder "${earlier.source}" already defines it`);
      }
      const taken = new Set(frameSchemasOf(earlier).map(frameTypeOf));
      for (const type of frameSchemasOf(channel).map(frameTypeOf)) {
        if (taken.has(type))
          fail(`outbound frame type "${type}" is already used by plugin "${earlier.plugin.name}"`);
      }
      if (subjectsOverlap(earlier.subject, channel.subject)) {
        fail(
          `subject ${JSON.stringify(channel.subject)} clashes with ${JSON.stringify(earlier.subject)} of plugin "${earlier.plugin.name}" (folder "${earlier.source}")`,
        );
      }
    }
  }
}

function nameOf(candidate: unknown): string | undefined {
  const name = (candidate as { name?: unknown }).name;
  return typeof name === "string" ? name : undefined;
}

/**
 * A channel's staleness threshold: the plugin's, unless WEBSOCKET_STALE_AFTER_MS overrides every
 * channel that has one (0: none has). A channel without one is never stale for lack of data.
 */
function staleThreshold(
  plugin: AnyPlugin | AnyStatePlugin,
  config: GatewayConfig,
  settings: PluginSettings,
): number | undefined {
  if (plugin.staleAfterMs === undefined) return undefined;
  const override = config.WEBSOCKET_STALE_AFTER_MS;
  if (override !== undefined) return override === 0 ? undefined : override;
  return typeof plugin.staleAfterMs === "function"
    ? plugin.staleAfterMs(config, settings)
    : plugin.staleAfterMs;
}
