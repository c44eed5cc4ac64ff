/**
 * What a lossless channel's epoch looks like on the wire (src/core/epochs.ts), spelled out
 * here on its own rather than imported, so that a change of the format fails these tests:
 * 12 characters, a letter for where the history is kept and 11 base64url characters.
 */
import { createHash } from "node:crypto";
import type { JetStreamManager } from "@nats-io/jetstream";
import { expect } from "vitest";
import type { TestClient } from "./test-client.js";

/** A lossless channel's epoch on a gateway without JetStream: random per process. */
export const MEMORY_EPOCH = /^m[A-Za-z0-9_-]{11}$/;
/** A lossless channel's epoch with JetStream: a hash of the stream's identity. */
export const STREAM_EPOCH = /^j[A-Za-z0-9_-]{11}$/;

/** The epoch of the stream whose identity (name and creation time) is `identity`. */
export function epochOfIdentity(identity: string): string {
  return `j${createHash("sha256").update(identity).digest("base64url").slice(0, 11)}`;
}

/** The stream `name` as the gateway names it now: its identity `NAME@created`, and its epoch. */
export async function streamEpochOf(
  jsm: JetStreamManager,
  name: string,
): Promise<{ identity: string; epoch: string }> {
  const info = await jsm.streams.info(name);
  const identity = `${info.config.name}@${info.created}`;
  return { identity, epoch: epochOfIdentity(identity) };
}

/**
 * Each gateway at `urls` stamps `channel` with the short epoch of `stream` as it is now: in its
 * welcome, and in the `subscribed` ack, which names the stream in full beside it. Gateway
 * instances on one stream agree on it without talking to each other: it is derived from the
 * stream. Returns the epoch.
 */
export async function expectStreamEpochOn(
  urls: string[],
  connect: (url: string) => Promise<TestClient>,
  jsm: JetStreamManager,
  stream: string,
  channel: string,
): Promise<string> {
  const { identity, epoch } = await streamEpochOf(jsm, stream);
  expect(epoch).toMatch(STREAM_EPOCH);
  for (const url of urls) {
    const client = await connect(url);
    const welcome = client.frames[0] as { positions?: Record<string, { epoch: string }> };
    expect(welcome.positions?.[channel]?.epoch).toBe(epoch);
    const ack = await client.request({ type: "subscribe", channel });
    expect(ack.position).toEqual({ seq: expect.any(Number), epoch, stream: identity });
    await client.close();
  }
  return epoch;
}
