/**
 * Channels the SDK has no types for (a plugin added to the gateway after this SDK was built): what
 * the gateway says of them in welcome's `channel_info`, and the JSON Schema of their frames from
 * GET /websocket/channels (asked only when a welcome names such a channel). Their frames are
 * validated against that schema (converted to zod once per distinct schema, not per connection)
 * and delivered as generic data frames: channel, type, payload. Until the schemas are in, the
 * client holds those frames (`awaiting`).
 *
 * The bundled channels never get here: their frame types are in SERVER_FRAME_SCHEMAS, with
 * precise types.
 */
import { z } from "zod";
import type { ChannelDescription, ChannelInfo } from "../core/channel-info.js";
import { type FrameIssue, SERVER_FRAME_SCHEMAS, type UnknownFrame } from "./frames.js";

/** A data frame of a channel the SDK learnt from the gateway: validated, with its channel. */
export interface ChannelDataFrame {
  channel: string;
  type: string;
  /** The frame as the gateway sent it (lossless channels: with seq and epoch). */
  payload: UnknownFrame;
}

interface LearntChannel {
  channel: string;
  lossless: boolean;
  /** undefined until described, or when the schema could not be had: frames pass unvalidated. */
  schema: z.ZodType | undefined;
  /** Described (or given up on): its frames are no longer held. */
  settled: boolean;
  /** The JSON Schema as the gateway published it. */
  published: Record<string, unknown> | undefined;
}

export type CatalogCheck =
  | { ok: true; channel: string }
  | { ok: false; channel: string; message: string; issues: FrameIssue[] };

export class ChannelCatalog {
  private byType = new Map<string, LearntChannel>();
  /** Converted schemas by their JSON: a reconnect to the same gateway converts nothing again. */
  private readonly converted = new Map<string, z.ZodType | undefined>();

  /**
   * Adopt a welcome's channel_info (a new connection may reach a gateway with other plugins). True
   * when it names a channel the SDK has no types for: describe() it before its frames go out.
   */
  learn(info: Readonly<Record<string, ChannelInfo>> | undefined): boolean {
    this.byType = new Map();
    for (const [channel, entry] of Object.entries(info ?? {})) {
      // A state channel has two frame types (snapshot and update), described by one schema.
      for (const type of [entry.frame_type, entry.update_frame_type]) {
        if (type === undefined || type in SERVER_FRAME_SCHEMAS) continue;
        this.byType.set(type, {
          channel,
          lossless: entry.delivery === "lossless",
          schema: undefined,
          settled: false,
          published: undefined,
        });
      }
    }
    return this.byType.size > 0;
  }

  /** The frame schemas arrived (GET /websocket/channels), or could not be had (`undefined`). */
  describe(descriptions: Readonly<Record<string, ChannelDescription>> | undefined): void {
    for (const entry of this.byType.values()) {
      const schema = descriptions?.[entry.channel]?.frame_schema;
      entry.schema = schema === undefined ? undefined : this.schemaOf(schema);
      entry.published = schema;
      entry.settled = true;
    }
  }

  /** The JSON Schema the gateway published for a learnt channel's frames, once described. */
  frameSchemaOf(channel: string): Record<string, unknown> | undefined {
    for (const entry of this.byType.values()) if (entry.channel === channel) return entry.published;
    return undefined;
  }

  /** Frames of this type wait for describe(). */
  awaiting(type: string): boolean {
    return this.byType.get(type)?.settled === false;
  }

  /** The learnt channels whose frames carry positions. */
  losslessChannels(): string[] {
    return [...this.byType.values()].filter((entry) => entry.lossless).map((entry) => entry.channel);
  }

  /** The channel a frame type belongs to, when it is a learnt channel's. */
  channelOf(type: string): string | undefined {
    return this.byType.get(type)?.channel;
  }

  /** Validate a frame of a type the SDK does not know; undefined when no learnt channel has it. */
  check(frame: UnknownFrame): CatalogCheck | undefined {
    const entry = this.byType.get(frame.type);
    if (entry === undefined) return undefined;
    const result = entry.schema?.safeParse(frame);
    if (result === undefined || result.success) return { ok: true, channel: entry.channel };
    return {
      ok: false,
      channel: entry.channel,
      message: `Invalid ${frame.type} frame`,
      issues: result.error.issues.map((issue) => ({ path: issue.path.join("."), message: issue.message })),
    };
  }

  private schemaOf(jsonSchema: Record<string, unknown>): z.ZodType | undefined {
    const key = JSON.stringify(jsonSchema);
    if (!this.converted.has(key)) {
      let schema: z.ZodType | undefined;
      try {
        schema = z.fromJSONSchema(jsonSchema as Parameters<typeof z.fromJSONSchema>[0]);
      } catch {
        schema = undefined;
      }
      this.converted.set(key, schema);
    }
    return this.converted.get(key);
  }
}
