/**
 * The two fields wire timing adds to a data frame (timed-frame.ts), as the published contract
 * shows them: optional on every data frame of every channel, present only on a subscription made
 * with `"timing": true`.
 */
import { z } from "zod";

const micros = (when: string) =>
  z
    .number()
    .int()
    .nonnegative()
    .optional()
    .describe(
      `Only on a subscription made with timing: true: wall-clock microseconds since the epoch ${when} (docs/latency.md)`,
    );

const wireTimingFields = {
  gw_rx: micros("when the gateway received the message from NATS (of a merged frame: its oldest message)"),
  gw_tx: micros("when the gateway wrote the frame to the socket"),
};

/** A data frame's schema with the optional timing fields, keeping its title and examples. */
export function withWireTiming(schema: z.ZodType, meta: Record<string, unknown> = {}): z.ZodType {
  return (schema as z.ZodObject).extend(wireTimingFields).meta(meta);
}
