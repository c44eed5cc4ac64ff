/**
 * The epoch stamped on every frame of a lossless channel: short, because it is on every frame.
 *
 * An epoch names the history a frame's `seq` counts in. It was the history's full identity (the
 * stream's `NAME@created`, 43 to 46 characters, or `memory-<uuid>`, 43), and with `"seq"` that was
 * about a third of a small trade frame. Now it is 12 characters: one letter for where the history
 * is kept, then 11 base64url characters (66 bits; JSON-safe, never escaped):
 *
 * - JetStream, `j…`: the first 66 bits of SHA-256 of the stream's identity (`NAME@created`,
 *   jetstream-log.ts). Derived, never chosen: every gateway instance on the stream stamps the same
 *   epoch without talking to the others, and a recreated stream (a new creation time) gets a new
 *   one. Collision risk: a recreated stream keeps the old epoch (so a position in the lost stream
 *   would be taken for one in the new) with probability 2^-66 (about 1.4e-20) per recreation.
 * - Memory, `m…`: 66 random bits per process (as the UUID was), shared by its channels. Two
 *   processes collide with probability 2^-66 per pair (for a million restarts, about 7e-9 that any
 *   two ever do, and a client would still have to move between exactly those two).
 *
 * The full identity stays available: the `subscribed` ack (and `replayed`) carry it as
 * `position.stream` on a JetStream channel, and the logs name both. And for one release a resume
 * with the long epoch that earlier releases stamped (`since.epoch` = `NAME@created`) is taken as
 * the stream's short epoch (ChannelHistory.names), so that clients that stored positions before
 * an upgrade, or a rolling upgrade's clients moving from an old instance to a new one, resume
 * instead of starting over. A memory epoch needs no such alias: it never outlives its process.
 * Remove the alias in the release after the one that introduced short epochs (0.2.0).
 */
import { createHash, randomBytes } from "node:crypto";

/** Characters after the kind letter: 11 base64url characters, 66 bits. */
const EPOCH_BODY_LENGTH = 11;

/** The epoch of a JetStream stream, from its identity `NAME@created`: the same on every instance. */
export function streamEpoch(identity: string): string {
  const digest = createHash("sha256").update(identity).digest("base64url");
  return `j${digest.slice(0, EPOCH_BODY_LENGTH)}`;
}

/** A fresh epoch for this process's in-memory histories. */
export function memoryEpoch(): string {
  // 9 random bytes are 12 base64url characters; 11 of them are kept (66 bits).
  return `m${randomBytes(9).toString("base64url").slice(0, EPOCH_BODY_LENGTH)}`;
}
