/**
 * The AsyncAPI 3.0 document, generated from the loaded plugins' and the protocol's zod schemas.
 *
 * It describes both sides of the gateway:
 * - the WebSocket server (`ws`, `/ws`, the client_id query parameter): every frame a client may
 *   send and every frame it may receive, with the seed's examples;
 * - the NATS ingest side: one channel per plugin subject with the payload upstream services
 *   publish, so a service team knows exactly what to send.
 * Titles, descriptions and examples come from the schemas' `.meta()`, never from a copy here.
 * Messages keep the title's words; schemas carry it as the type name generators should use.
 */
import { z } from "zod";
import { type GatewayConfig, SUBJECT_OVERRIDE_PREFIX } from "../config.js";
import { streamEpoch } from "../core/epochs.js";
import { withWireTiming } from "../core/latency/wire-timing.js";
import { frameTypeOf, type LoadedChannel } from "../core/plugin.js";
import { withPosition } from "../core/positions.js";
import { CLIENT_FRAMES, SERVER_CONTROL_FRAMES } from "../core/protocol.js";
import { stateExampleSteps } from "../core/state-examples.js";
import { WEBSOCKET_PATH } from "../core/websocket-server.js";
import { VERSION } from "../version.js";
import { type JsonSchema, metaOf, toJsonSchema } from "./json-schema.js";
import { withMarkdownSafeDescriptions } from "./markdown-descriptions.js";
import { withTypeNameTitles } from "./type-name-titles.js";

/** Timestamp used to build data-frame examples, so the document is the same on every run. */
const EXAMPLE_TIME = new Date("2024-12-19T12:00:00Z");

/*
 * info.version is the package's (src/version.ts). Within one version a frame only gains fields
 * compatibly; anything else is a new version, and specs/asyncapi-published.yaml is recorded anew
 * (test/contract/compatibility.test.ts checks it).
 * 1.1.0: every schema is titled with its type name (no wire change; generated models renamed).
 * 1.3.0: the package took the contract's version (it was 0.1.0, and the OpenAPI document 1.0.0).
 */

interface MessageSpec {
  /** Component key and message name, e.g. "price_update" or "nats_price_updates". */
  id: string;
  schema: z.ZodType;
  io: "input" | "output";
  examples: unknown[];
  /** Extra text after the schema's own description (e.g. the plugin's). */
  description?: string;
  /** Post-process the generated schema (e.g. enumerate the channel names). */
  refine?: (schema: JsonSchema) => void;
}

/** The frame type a schema's `type` literal names (the loader guarantees plugins have one). */
function frameType(schema: z.ZodType): string {
  const type = frameTypeOf(schema);
  if (type === undefined) throw new Error("frame schema without a literal `type`");
  return type;
}

function pascal(id: string): string {
  return id.replace(/(^|[_.-])(\w)/g, (_match, _sep, letter: string) => letter.toUpperCase());
}

export function buildAsyncApi(
  channels: readonly LoadedChannel[],
  config: GatewayConfig,
): Record<string, unknown> {
  const names = channels.map((channel) => channel.plugin.name);
  const enumerateChannels = (schema: JsonSchema) => {
    const channel = (schema.properties as Record<string, JsonSchema> | undefined)?.channel;
    if (channel) channel.enum = names;
  };

  const clientMessages: MessageSpec[] = CLIENT_FRAMES.map((schema) => ({
    id: frameType(schema),
    schema,
    io: "input",
    examples: metaOf(schema).examples ?? [],
    refine: enumerateChannels,
  }));
  const serverMessages: MessageSpec[] = [
    ...SERVER_CONTROL_FRAMES.map((schema) => ({
      id: frameType(schema),
      schema,
      io: "output" as const,
      examples: metaOf(schema).examples ?? [],
    })),
    ...channels.flatMap((channel): MessageSpec[] => {
      const { plugin, settings } = channel;
      const inbound = plugin.examples.map((example) => plugin.inbound.parse(example));
      if (channel.kind === "state") {
        const steps = stateExampleSteps(channel.plugin, settings, inbound) ?? [];
        const built = steps.map((step) => ({ schema: step.schema, frame: step.build() }));
        const { snapshot, update } = channel.plugin.frames;
        return [
          {
            id: frameType(snapshot),
            schema: withWireTiming(snapshot, z.globalRegistry.get(snapshot)),
            io: "output" as const,
            examples: built.filter((step) => step.schema === snapshot).map((step) => step.frame),
            description: `Channel \`${plugin.name}\` (state). ${plugin.description} A key's whole view, sent after subscribing (one per subscribed key with a current view), after upstream resets the key, and to a client that fell behind once it has drained. Updates follow from its sequence.`,
          },
          {
            id: frameType(update),
            schema: withWireTiming(update, z.globalRegistry.get(update)),
            io: "output" as const,
            examples: built.filter((step) => step.schema === update).map((step) => step.frame),
            description: `Channel \`${plugin.name}\` (state). The changes that turn the view at prev_sequence, the last sequence this client received for the key, into the view at sequence; verify checksum after applying it, and subscribe to the key again if it does not match.`,
          },
        ];
      }
      const merged = channel.kind === "conflated" && channel.merge && channel.plugin.mergeFrames;
      // Lossless channels: the gateway stamps every frame with its position (src/core/positions.ts).
      const lossless = channel.kind === "lossless";
      const stream = channel.plugin;
      const epoch = streamEpoch(`GATEWAY_${plugin.name.toUpperCase()}@2024-12-19T11:00:00.000000000Z`);
      return [
        {
          id: frameType(stream.outbound),
          // extend() makes a new schema without the frame's .meta(); give it back its title.
          // Every data frame may carry the wire timing fields (timing: true on subscribe).
          schema: withWireTiming(
            lossless ? withPosition(stream.outbound as z.ZodObject) : stream.outbound,
            z.globalRegistry.get(stream.outbound),
          ),
          io: "output" as const,
          examples: merged
            ? [stream.mergeFrames?.(inbound, EXAMPLE_TIME, settings)]
            : inbound.map((message, position) => ({
                ...(stream.toFrame(message, EXAMPLE_TIME, settings) as object),
                ...(lossless ? { seq: 1041 + position, epoch } : {}),
              })),
          description: `Channel \`${plugin.name}\`. ${plugin.description}${
            lossless
              ? " Every frame carries its position (seq, epoch); subscribe with since to resume after a reconnect."
              : ""
          }`,
        },
      ];
    }),
  ];
  const ingestMessages: MessageSpec[] = channels.map(({ plugin, subject }) => ({
    id: `nats_${plugin.name}`,
    schema: plugin.inbound,
    io: "input",
    examples: plugin.examples,
    description: `Published by upstream services on \`${subject}\` (override: ${SUBJECT_OVERRIDE_PREFIX}${plugin.name.toUpperCase()}). Invalid payloads are counted in the stream's error_count and dropped.`,
  }));

  const schemas: Record<string, JsonSchema> = {};
  const messages: Record<string, unknown> = {};
  for (const spec of [...clientMessages, ...serverMessages, ...ingestMessages]) {
    const schema = withMarkdownSafeDescriptions(withTypeNameTitles(toJsonSchema(spec.schema, spec.io)));
    spec.refine?.(schema);
    const meta = metaOf(spec.schema);
    const schemaId = `${pascal(spec.id)}Payload`;
    schemas[schemaId] = schema;
    messages[spec.id] = {
      name: spec.id,
      title: meta.title ?? spec.id,
      summary: meta.description ?? spec.id,
      ...(spec.description ? { description: spec.description } : {}),
      contentType: "application/json",
      payload: { $ref: `#/components/schemas/${schemaId}` },
      examples: spec.examples.map((payload, position) => ({
        name: `${spec.id}_example_${position + 1}`,
        payload,
      })),
    };
  }

  const ref = (id: string) => ({ $ref: `#/components/messages/${id}` });
  const channelsDoc: Record<string, unknown> = {
    websocket: {
      address: WEBSOCKET_PATH,
      title: "WebSocket stream",
      description:
        "One WebSocket connection carries every channel. Client frames are JSON text frames; every server frame is one JSON text frame. " +
        "With auto-subscribe on (the default) a new connection receives every channel until it subscribes explicitly.",
      servers: [{ $ref: "#/servers/gateway" }],
      messages: Object.fromEntries(
        [...clientMessages, ...serverMessages].map((spec) => [spec.id, ref(spec.id)]),
      ),
      bindings: {
        ws: {
          bindingVersion: "0.1.0",
          method: "GET",
          query: {
            type: "object",
            properties: {
              client_id: {
                type: "string",
                pattern: "^[A-Za-z0-9._:-]{1,64}$",
                description:
                  "Optional client id; a UUID is generated when absent. A second connection with the same id takes over (the older is closed with 4000).",
              },
            },
          },
        },
      },
    },
  };
  const operations: Record<string, unknown> = {};
  for (const spec of clientMessages) {
    operations[`receive${pascal(spec.id)}`] = {
      action: "receive",
      title: `Client sends ${spec.id}`,
      channel: { $ref: "#/channels/websocket" },
      messages: [{ $ref: `#/channels/websocket/messages/${spec.id}` }],
    };
  }
  for (const spec of serverMessages) {
    operations[`send${pascal(spec.id)}`] = {
      action: "send",
      title: `Server sends ${spec.id}`,
      channel: { $ref: "#/channels/websocket" },
      messages: [{ $ref: `#/channels/websocket/messages/${spec.id}` }],
    };
  }
  for (const [position, { plugin, subject }] of channels.entries()) {
    const key = `nats_${plugin.name}`;
    channelsDoc[key] = {
      address: subject,
      title: `NATS ingest: ${plugin.name}`,
      description: `Upstream services publish ${plugin.name} data here as JSON. ${plugin.description}`,
      servers: [{ $ref: "#/servers/upstream" }],
      messages: { [key]: ref((ingestMessages[position] as MessageSpec).id) },
    };
    operations[`ingest${pascal(plugin.name)}`] = {
      action: "receive",
      title: `Gateway receives ${plugin.name} from NATS`,
      channel: { $ref: `#/channels/${key}` },
      messages: [{ $ref: `#/channels/${key}/messages/${key}` }],
    };
  }

  return {
    asyncapi: "3.0.0",
    info: {
      title: "Trading stream gateway",
      version: VERSION,
      description:
        "Real-time prices, trading signals, trade executions and portfolio updates over a plain JSON WebSocket, " +
        "fed by NATS. Error codes and close codes: [errors.md](/docs/errors.md). REST side (status, health, metrics): " +
        "the OpenAPI document, [openapi.json](/openapi.json), rendered at [/docs](/docs/). " +
        "Links are relative to the gateway that serves this document.",
    },
    defaultContentType: "application/json",
    servers: {
      gateway: {
        host: `localhost:${config.PORT}`,
        protocol: "ws",
        description: "The gateway's WebSocket endpoint (wss:// behind a TLS-terminating proxy in production)",
      },
      // Not "nats": the HTML page shows a server's name beside its protocol ("NATS NATS").
      upstream: {
        host: "localhost:4222",
        protocol: "nats",
        description: "The NATS cluster upstream services publish to (NATS_URL)",
      },
    },
    channels: channelsDoc,
    operations,
    components: { schemas, messages },
  };
}
