/**
 * Who may see a message: everybody, or on an account-scoped channel (the plugin has `account`)
 * the holders of its account. Worked out once per message, so each recipient costs one set lookup
 * at most.
 */
import { mayReceiveAccount } from "../auth/grant.js";
import type { ClientSession } from "../client-session.js";
import type { AnyPlugin, PluginSettings } from "../plugin.js";

export type Audience = (session: ClientSession) => boolean;

/** The audience of a message on a channel that is not account-scoped. */
const EVERYBODY: Audience = () => true;

export function audienceOf(
  { plugin, settings }: { plugin: AnyPlugin; settings: PluginSettings },
  message: unknown,
): Audience {
  if (plugin.account === undefined) return EVERYBODY;
  return audienceOfAccount(plugin, plugin.account(message, settings));
}

/** The audience of a message whose account is already known (a stored history entry). */
export function audienceOfAccount(plugin: AnyPlugin, owner: string | undefined): Audience {
  if (plugin.account === undefined) return EVERYBODY;
  return (session) => mayReceiveAccount(session.grant, owner);
}
