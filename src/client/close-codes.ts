/**
 * Which close codes end the client for good, read from the gateway's own table so that a code
 * the server adds (or reclassifies) reaches the SDK without an edit here.
 */
import { CloseCodes } from "../core/errors.js";

/** Codes after which reconnecting would repeat the failure or fight another connection. */
export const TERMINAL_CLOSE_CODES: ReadonlySet<number> = new Set(
  Object.values(CloseCodes)
    .filter((entry) => !entry.reconnect)
    .map((entry) => entry.code),
);

/** The gateway's name for a close code (REPLACED, GOING_AWAY, ...), if it is one of its own. */
export function closeCodeName(code: number): string | undefined {
  for (const [name, entry] of Object.entries(CloseCodes)) if (entry.code === code) return name;
  return undefined;
}

/** RFC 6455: the connection dropped without a close frame (also what a refused upgrade looks like). */
export const ABNORMAL_CLOSURE = 1006;
