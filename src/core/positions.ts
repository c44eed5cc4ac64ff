/**
 * Positions in a lossless channel's history, and the protocol pieces of resume.
 *
 * Every frame of a channel that delivers immediately (`delivery: { mode: "immediate" }`) carries
 * `seq` and `epoch`. `seq` counts within the history `epoch` names: with JetStream it
 * is the stream sequence and the epoch is the stream's identity, so every gateway instance on the
 * cluster agrees on positions; without it, a counter and an epoch per process. A client that kept
 * the last `(seq, epoch)` it saw sends them back as `since` when it subscribes again, and gets what
 * it missed, or is told plainly that it cannot (`recovered: false` and a `reason`).
 *
 * The epoch is short (12 characters, src/core/epochs.ts), because it is on every frame:
 * with JetStream a hash of the stream's identity, announced in full as `position.stream` in the
 * `subscribed` ack; clients compare epochs for equality only.
 *
 * Schemas only (zod, no node: modules), so the browser SDK can import this file.
 */
import { z } from "zod";

export const positionFields = {
  seq: z
    .number()
    .int()
    .positive()
    .describe("Position in the channel's history: strictly increasing within an epoch (gaps are normal)"),
  epoch: z
    .string()
    .min(1)
    .describe(
      "Names the history seq counts in; it changes only when that history was lost. Opaque: compare it for equality only",
    ),
};

/** The identity of the example stream the protocol's examples count in: its name and creation time. */
export const EXAMPLE_STREAM_IDENTITY = "GATEWAY_TRADES@2024-12-19T11:00:00.000000000Z";
/** streamEpoch(EXAMPLE_STREAM_IDENTITY) (epochs.ts, not imported: no node: modules here). */
export const EXAMPLE_EPOCH = "jaE0LMyxxrVh";

/** A lossless channel's data frame schema, with the position the gateway stamps on every frame. */
export function withPosition<Shape extends z.ZodRawShape>(frame: z.ZodObject<Shape>) {
  return frame.extend(positionFields);
}

/** A position as a client sends it back: the last frame it has, or 0 for "from the beginning". */
export const sincePosition = z
  .object({
    seq: z.number().int().min(0).describe("The seq of the last frame the client has (0: none yet)"),
    epoch: z.string().min(1).max(256).describe("The epoch that seq counts in"),
  })
  .meta({
    title: "Resume position",
    description: "The last (seq, epoch) a client received on a lossless channel",
  });
export type SincePosition = z.output<typeof sincePosition>;

/** Where a lossless channel's history stands: every frame after it is still to come. */
export const channelPosition = z
  .object({
    seq: z.number().int().min(0).describe("The channel's head: the last position so far (0: none)"),
    epoch: z.string().min(1),
    stream: z
      .string()
      .optional()
      .describe(
        "JetStream channels, in the subscribed ack and replayed: the stream the epoch is a hash of, as its name and creation time. For people and logs; since takes the epoch",
      ),
  })
  .meta({
    title: "Channel position",
    description: "A lossless channel's head: resume with it as since to get everything after it",
  });

/** Why a resume could not be honoured. The subscription is live from now either way. */
export const RESUME_FAILURES = {
  epoch_mismatch:
    "since.epoch names another history (the stream was recreated, or a gateway without JetStream restarted)",
  too_old: "since.seq is older than the oldest message kept (JetStream retention, or the in-memory ring)",
  ahead_of_head: "since.seq is beyond the last message of the channel",
  replay_limit: "more than WEBSOCKET_MAX_REPLAY messages lie after since.seq",
  upstream_unavailable:
    "history is needed from JetStream and the gateway had no NATS link for NATS_REPLAY_WAIT_MS",
} as const;
export type ResumeFailure = keyof typeof RESUME_FAILURES;

export const resumeFailure = z
  .enum(Object.keys(RESUME_FAILURES) as [ResumeFailure, ...ResumeFailure[]])
  .describe("Why recovered is false: reload what was missed from the system of record");
