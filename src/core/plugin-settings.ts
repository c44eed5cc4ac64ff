/**
 * A plugin's own settings (`settings` in plugin.ts): a z.object whose keys come from environment
 * variables named after the channel, `<CHANNEL>_<KEY>` in upper snake case (channel `order_books`,
 * key `depth`: ORDER_BOOKS_DEPTH; key `maxLevels`: ORDER_BOOKS_MAX_LEVELS). The channel's prefix
 * keeps two plugins' settings apart, and the gateway's own prefixes (WEBSOCKET_, NATS_, GATEWAY_)
 * are never a channel's: channel names are lower case, and a plugin named `nats` would have to
 * call its setting NATS_..., which the loader refuses (plugin-validation.ts).
 *
 * They are read and validated at start with the messages of the gateway's own (config.ts), listed
 * by the misspelled-setting warning and in .env.example, and published in the channel's info.
 */

import type { z } from "zod";
import { ConfigError, type PluginSettingNames } from "../config.js";
import type { PluginSettings } from "./plugin.js";

/** What settings are read from: a plugin's name and its settings schema, whatever its kind. */
interface WithSettings {
  name: string;
  settings?: z.ZodObject | undefined;
}

/** `maxLevels` -> `MAX_LEVELS`. */
function upperSnake(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();
}

/** The environment variable of one setting of a channel. */
export function settingVariable(channel: string, key: string): string {
  return `${channel.toUpperCase()}_${upperSnake(key)}`;
}

/** Every setting of a plugin, by variable: its key and its default (undefined: none). */
export function settingVariables(
  plugin: WithSettings,
): { variable: string; key: string; fallback: unknown }[] {
  const shape = plugin.settings?.shape ?? {};
  const defaults = plugin.settings?.safeParse({});
  return Object.keys(shape).map((key) => ({
    variable: settingVariable(plugin.name, key),
    key,
    fallback: defaults?.success ? (defaults.data as Record<string, unknown>)[key] : undefined,
  }));
}

/**
 * The plugin's settings from `variables` (the environment, empty values meaning unset as in
 * config.ts). Throws a ConfigError naming every bad variable, as the gateway's own settings do.
 */
export function readSettings(
  plugin: WithSettings,
  variables: Readonly<Record<string, string>>,
): PluginSettings {
  if (plugin.settings === undefined) return {};
  const input: Record<string, string> = {};
  for (const { variable, key } of settingVariables(plugin)) {
    const value = variables[variable];
    if (value !== undefined && value !== "") input[key] = value;
  }
  const result = plugin.settings.safeParse(input);
  if (result.success) return result.data as PluginSettings;
  const problems = result.error.issues.map((issue) => {
    const key = String(issue.path[0] ?? "");
    const variable = settingVariable(plugin.name, key);
    return `${variable}=${JSON.stringify(variables[variable])}: ${issue.message}`;
  });
  throw new ConfigError(`Invalid configuration:\n  ${problems.join("\n  ")}`);
}

/** Each loaded channel's setting variables, for the misspelled-setting warning (config.ts). */
export function settingNames(channels: readonly { plugin: WithSettings }[]): PluginSettingNames[] {
  return channels.map(({ plugin }) => ({
    name: plugin.name,
    variables: settingVariables(plugin).map(({ variable }) => variable),
  }));
}
