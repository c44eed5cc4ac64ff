/**
 * docs/configuration.md, made from the settings themselves: the gateway's own from configSchema in
 * src/config.ts (each `.describe()` text, default and accepted range), each bundled plugin's own
 * `<CHANNEL>_<KEY>` settings (core/plugin-settings.ts), and the per-channel NATS subject and stream
 * overrides of the bundled channels. `npm run docs` writes it (scripts/configuration-docs.ts), and a
 * test compares the committed page with what this returns, so the page cannot drift from the code.
 *
 * The groups are the `// --- Title ---` comments of src/config.ts, read from its source: the schema
 * keeps no comments, and a second list of groups here would drift from the file people edit.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import {
  configSchema,
  loadConfig,
  STREAM_NAME_OVERRIDE_PREFIX,
  SUBJECT_OVERRIDE_PREFIX,
} from "../src/config.js";
import { DEFAULT_PLUGINS_DIR, loadPlugins } from "../src/core/plugin-loader.js";
import { settingVariables } from "../src/core/plugin-settings.js";
import { PROJECT_ROOT } from "../src/project-root.js";

/** Where `npm run docs` writes the page. */
export const CONFIGURATION_MD = path.join(PROJECT_ROOT, "docs", "configuration.md");

const CONFIG_SOURCE = path.join(PROJECT_ROOT, "src", "config.ts");

/** Prose lines are wrapped here, inside the README's 120-character rule with room to spare. */
const WIDTH = 100;

/** What JSON Schema says of one setting (zod 4's own z.toJSONSchema, as for the published contract). */
interface SettingSchema {
  description?: string;
  type?: string;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
}

/** One documented variable. */
interface Entry {
  variable: string;
  description: string;
  /** Markdown of the default, e.g. "`8000`" or "unset". */
  fallback: string;
  /** Markdown of the accepted values, when the schema says more than "text". */
  accepts: string | undefined;
}

interface Group {
  title: string;
  entries: Entry[];
}

/** Words wrapped to WIDTH (inline code spans are never split: they hold no spaces here). */
function wrap(text: string): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line !== "" && line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  if (line !== "") lines.push(line);
  return lines.join("\n");
}

/** A sentence: a capital is the author's business, the full stop ours. */
function sentence(text: string): string {
  const trimmed = text.trim();
  return /[.!?]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

/** The default a zod schema declares for its input, looking through transforms and pipes. */
function declaredDefault(schema: z.ZodType): { has: boolean; value?: unknown } {
  let current: unknown = schema;
  for (let depth = 0; depth < 10 && current; depth++) {
    const def = (current as { _zod?: { def?: Record<string, unknown> } })._zod?.def;
    if (!def) break;
    if (def.type === "default") return { has: true, value: def.defaultValue };
    current = def.in ?? def.innerType;
  }
  return { has: false };
}

const BINARY_UNITS: [number, string][] = [
  [1024 * 1024 * 1024, "GiB"],
  [1024 * 1024, "MiB"],
  [1024, "KiB"],
];

/** "`4194304` (4 MiB)" for byte counts that are whole binary units, else the bare value. */
function defaultMarkdown(variable: string, value: unknown): string {
  if (value === "" || (Array.isArray(value) && value.length === 0)) return "empty";
  const shown = `\`${String(value)}\``;
  if (typeof value !== "number" || !variable.endsWith("_BYTES")) return shown;
  const unit = BINARY_UNITS.find(([size]) => value >= size && value % size === 0);
  return unit ? `${shown} (${value / unit[0]} ${unit[1]})` : shown;
}

/** What the schema accepts, in words, or undefined when it accepts any text. */
function acceptsMarkdown(schema: SettingSchema, fallback: unknown): string | undefined {
  if (schema.enum) return `one of ${schema.enum.map((value) => `\`${String(value)}\``).join(", ")}`;
  if (typeof fallback === "boolean" || (schema.type === undefined && schema.description?.startsWith("true")))
    return "`true` or `false` (also `1`/`0`, `yes`/`no`)";
  if (schema.type !== "integer" && schema.type !== "number") return undefined;
  const kind = schema.type === "integer" ? "an integer" : "a number";
  const low = schema.exclusiveMinimum !== undefined ? `above ${schema.exclusiveMinimum}` : schema.minimum;
  const high =
    schema.maximum !== undefined && schema.maximum < Number.MAX_SAFE_INTEGER ? schema.maximum : undefined;
  if (typeof low === "number" && high !== undefined) return `${kind} from ${low} to ${high}`;
  if (typeof low === "number") return `${kind} from ${low}`;
  if (typeof low === "string") return `${kind} ${low}`;
  return kind;
}

/**
 * The gateway's own settings, grouped as src/config.ts groups them: a `// --- Title ---` comment
 * opens a group, and a block after a blank line with no title of its own (SHUTDOWN_* after the
 * authentication settings) is titled by its variables' common prefix.
 */
function ownGroups(): Group[] {
  const json = z.toJSONSchema(configSchema, { io: "output", unrepresentable: "any" }) as {
    properties: Record<string, SettingSchema>;
  };
  const keys = new Set(Object.keys(configSchema.shape));
  const groups: Group[] = [];
  let current: Group | undefined;
  let blankSince = false;
  const placed = new Set<string>();
  for (const line of readFileSync(CONFIG_SOURCE, "utf8").split("\n")) {
    const title = /^\s*\/\/ --- (.+?) -+\s*$/.exec(line)?.[1];
    if (title) {
      // "Authentication (off by default: the seed's open behaviour)": the remark is for the reader
      // of the source; "Upstream (NATS)" keeps its parenthesis.
      current = { title: title.replace(/\s*\([^)]*:[^)]*\)\s*$/, ""), entries: [] };
      groups.push(current);
      blankSince = false;
      continue;
    }
    if (line.trim() === "") {
      blankSince = true;
      continue;
    }
    const key = /^ {2}([A-Z][A-Z0-9_]*):/.exec(line)?.[1];
    if (!key || !keys.has(key) || placed.has(key)) continue;
    if (!current || blankSince) {
      const prefix = key.split("_")[0] ?? key;
      if (!current?.entries.every((entry) => entry.variable.startsWith(`${prefix}_`))) {
        current = { title: prefix.charAt(0) + prefix.slice(1).toLowerCase(), entries: [] };
        groups.push(current);
      }
    }
    blankSince = false;
    placed.add(key);
    current.entries.push(ownEntry(key, json.properties[key] ?? {}));
  }
  // A setting the source scan missed (declared in an unusual layout) is still documented.
  const rest = [...keys].filter((key) => !placed.has(key));
  if (rest.length > 0)
    groups.push({ title: "Other", entries: rest.map((key) => ownEntry(key, json.properties[key] ?? {})) });
  return groups.filter((group) => group.entries.length > 0);
}

function ownEntry(variable: string, schema: SettingSchema): Entry {
  const field = configSchema.shape[variable as keyof typeof configSchema.shape] as z.ZodType;
  const declared = declaredDefault(field);
  return {
    variable,
    description: sentence(schema.description ?? field.description ?? ""),
    fallback: declared.has ? defaultMarkdown(variable, declared.value) : "unset",
    accepts: acceptsMarkdown(schema, declared.value),
  };
}

/** The bundled plugins' own settings, and the per-channel NATS overrides of the bundled channels. */
async function channelGroups(): Promise<Group[]> {
  const channels = await loadPlugins(DEFAULT_PLUGINS_DIR, loadConfig({}));
  const own: Entry[] = [];
  for (const { plugin } of channels) {
    const settings = (plugin as { settings?: z.ZodObject }).settings;
    const json = settings
      ? (z.toJSONSchema(settings, { io: "output", unrepresentable: "any" }) as {
          properties: Record<string, SettingSchema>;
        })
      : undefined;
    for (const { variable, key, fallback } of settingVariables(plugin)) {
      const schema = json?.properties[key] ?? {};
      own.push({
        variable,
        description: sentence(
          schema.description ??
            `Setting \`${key}\` of the \`${plugin.name}\` plugin (\`plugins/${plugin.name}/\`)`,
        ),
        fallback: fallback === undefined ? "unset" : defaultMarkdown(variable, fallback),
        accepts: acceptsMarkdown(schema, fallback),
      });
    }
  }
  const subjects: Entry[] = channels.map(({ plugin, subject }) => ({
    variable: `${SUBJECT_OVERRIDE_PREFIX}${plugin.name.toUpperCase()}`,
    description: sentence(
      `The NATS subject the \`${plugin.name}\` channel listens on, instead of its plugin's. An invalid subject, or one that overlaps another channel's, stops start-up`,
    ),
    fallback: `\`${subject}\``,
    accepts: undefined,
  }));
  const streams: Entry[] = channels
    .filter((channel) => channel.kind === "lossless")
    .map(({ plugin }) => ({
      variable: `${STREAM_NAME_OVERRIDE_PREFIX}${plugin.name.toUpperCase()}`,
      description: sentence(
        `The JetStream stream of the lossless \`${plugin.name}\` channel, e.g. a stream of yours; created when absent`,
      ),
      fallback: `unset: \`GATEWAY_${plugin.name.toUpperCase()}\`, or any stream that already captures the channel's subject`,
      accepts: undefined,
    }));
  return [
    { title: "Settings of the bundled plugins", entries: own },
    { title: "NATS subject of each channel", entries: subjects },
    { title: "JetStream stream of each lossless channel", entries: streams },
  ].filter((group) => group.entries.length > 0);
}

function entryMarkdown(entry: Entry): string {
  const facts = [`Default: ${entry.fallback}.`];
  if (entry.accepts) facts.push(`Accepts ${entry.accepts}.`);
  return [`### \`${entry.variable}\``, wrap(entry.description), wrap(facts.join(" "))].join("\n\n");
}

const INTRO = `# Configuration

<!-- Generated by \`npm run docs\` (scripts/configuration-docs.ts) from src/config.ts and the bundled
plugins' settings: edit those, not this page. A test fails when this page is stale. -->

Every setting is an environment variable, validated at start-up: a bad value stops the process
with a message naming the variable (\`WEBSOCKET_PING_INTERVAL="abc": Invalid input: expected number,
received NaN\`). An empty value means the default. The gateway also reads a \`.env\` file from the
current directory when there is one (Node's \`process.loadEnvFile\`; variables already set in the
environment win); [.env.example](../.env.example) lists every variable with its default. A
misspelled \`WEBSOCKET_*\`, \`NATS_*\` or \`GATEWAY_*\` variable gets a start-up warning naming the
closest setting. The seed's five variables (\`WEBSOCKET_ENABLED\` to \`WEBSOCKET_MAX_CONNECTIONS\`) keep
[the seed's](protocol.md#the-seed) names and defaults.

What the settings do, in context: [protocol.md](protocol.md) (intervals, limits),
[delivery-guarantees.md](delivery-guarantees.md) (JetStream, history and resume),
[operations.md](operations.md) (shutdown, NATS credentials), [authentication.md](authentication.md)
(JWT) and [plugins.md](plugins.md) (a plugin's own settings and subject overrides).`;

/** The whole page, as `npm run docs` writes it. */
export async function configurationMarkdown(): Promise<string> {
  const groups = [...ownGroups(), ...(await channelGroups())];
  const contents = groups.map((group) => `- [${group.title}](#${slug(group.title)})`).join("\n");
  const body = groups
    .map((group) => [`## ${group.title}`, ...group.entries.map(entryMarkdown)].join("\n\n"))
    .join("\n\n");
  return `${INTRO}\n\n${contents}\n\n${body}\n`;
}

/** GitHub's heading anchor: lower case, punctuation but hyphens and underscores dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/ /g, "-");
}
