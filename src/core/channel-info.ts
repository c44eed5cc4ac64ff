/**
 * welcome's per-channel section (`channel_info`): what a client needs to know of each channel
 * without knowing the channel in advance. All of it comes from the plugin: the frame type, the
 * delivery class, the default flush interval and the staleness threshold.
 *
 * The JSON Schema of each channel's data frames (what the SDK validates a channel it has no types
 * for against) is not in the welcome, which every connection receives and which must stay small
 * (a client's whole buffer may be a few kilobytes): GET /websocket/channels serves it, with the
 * rest of the section, to the clients that need it.
 *
 * The welcome's part is built and serialised once when the gateway starts (a welcome splices the
 * JSON of the channels the connection may use, so a connection costs no conversion); the frame
 * schemas on the first request for them.
 */
import { z } from "zod";
import { frameSchemasOf, frameTypeOf, type LoadedChannel } from "./plugin.js";
import { withPosition } from "./positions.js";

export const channelInfo = z
  .object({
    frame_type: z
      .string()
      .describe("The `type` of the channel's data frames (a state channel's snapshot frames)"),
    update_frame_type: z.string().optional().describe("State channels: the `type` of their update frames"),
    delivery: z
      .enum(["lossless", "conflated", "state"])
      .meta({ title: "Channel delivery" })
      .describe(
        "lossless: every frame, each with seq and epoch (resume with since); conflated: the latest value per key every interval; state: a snapshot per key, then checksummed updates (subscribe again to start over)",
      ),
    interval_ms: z
      .number()
      .positive()
      .optional()
      .describe("Conflated channels: the default flush interval (interval_ms on subscribe picks another)"),
    stale_after_ms: z
      .number()
      .positive()
      .optional()
      .describe("How long without data before the channel is reported stale; absent: never for lack of data"),
    settings: z
      .record(z.string(), z.unknown())
      .optional()
      .describe(
        "The values of the plugin's own settings in force, by key (each read from <CHANNEL>_<KEY>); absent when it has none",
      ),
  })
  .meta({ title: "Channel info", description: "What the gateway's plugin for a channel declares" });
export type ChannelInfo = z.output<typeof channelInfo>;

/** A channel's info with the JSON Schema of its frames, as GET /websocket/channels serves it. */
export type ChannelDescription = ChannelInfo & {
  /** JSON Schema (draft 2020-12) of the channel's data frames as the gateway sends them. */
  frame_schema: Record<string, unknown>;
};

/** A channel's info, from its loaded plugin. */
export function channelInfoOf(channel: LoadedChannel): ChannelInfo {
  const [frame, update] = frameSchemasOf(channel).map((schema) => frameTypeOf(schema) as string);
  return {
    frame_type: frame as string,
    update_frame_type: update,
    delivery: channel.kind,
    interval_ms: channel.kind === "conflated" ? channel.intervalMs : undefined,
    stale_after_ms: channel.staleAfterMs,
    settings: channel.plugin.settings === undefined ? undefined : channel.settings,
  };
}

/** A channel's info and frame schema, from its loaded plugin. */
export function channelDescriptionOf(channel: LoadedChannel): ChannelDescription {
  const [outbound, update] = frameSchemasOf(channel) as [z.ZodType, z.ZodType | undefined];
  // Lossless frames carry the position the gateway stamps on them (loaded plugins are z.objects).
  const frame =
    channel.kind === "lossless"
      ? withPosition(outbound as z.ZodObject)
      : update === undefined
        ? outbound
        : z.union([outbound, update]);
  const { $schema: _dialect, ...frameSchema } = z.toJSONSchema(frame, {
    io: "output",
    unrepresentable: "any",
  });
  return { ...channelInfoOf(channel), frame_schema: frameSchema };
}

/** Each channel's `"name":{...}` JSON (without the frame schema), for splicing into welcome frames. */
export function channelInfoJson(channels: readonly LoadedChannel[]): ReadonlyMap<string, string> {
  return new Map(
    channels.map((channel) => [
      channel.plugin.name,
      `${JSON.stringify(channel.plugin.name)}:${JSON.stringify(channelInfoOf(channel))}`,
    ]),
  );
}

/**
 * Every channel's description, by name, as GET /websocket/channels answers: serialised on the
 * first call and kept (only clients meeting a channel they have no types for ask, and the frame
 * schemas are the bulk of it, so an idle gateway does not hold them).
 */
export function channelDescriptionsJson(channels: readonly LoadedChannel[]): () => string {
  let json: string | undefined;
  return () => {
    json ??= JSON.stringify(
      Object.fromEntries(channels.map((channel) => [channel.plugin.name, channelDescriptionOf(channel)])),
    );
    return json;
  };
}
