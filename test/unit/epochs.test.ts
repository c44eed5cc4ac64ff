/**
 * The short epoch on every lossless frame (src/core/epochs.ts): derived from the stream's
 * identity with JetStream (the same for every instance, a new one for a recreated stream), random
 * per process in memory; and what a history answers about it (ChannelHistory): which epochs name
 * it (the long form of earlier releases too, for a stream) and the positions acks report.
 */
import { describe, expect, it } from "vitest";
import { memoryEpoch, streamEpoch } from "../../src/core/epochs.js";
import { ChannelHistory } from "../../src/core/history/channel-history.js";
import { EXAMPLE_EPOCH, EXAMPLE_STREAM_IDENTITY } from "../../src/core/positions.js";
import { epochOfIdentity, MEMORY_EPOCH, STREAM_EPOCH } from "../helpers/epochs.js";

const IDENTITY = "GATEWAY_TRADES@2026-12-07T15:34:01.674867087Z";

describe("epochs", () => {
  it("a stream's epoch: j and 11 base64url characters of SHA-256 of its identity, the same every time", () => {
    const epoch = streamEpoch(IDENTITY);
    expect(epoch).toMatch(STREAM_EPOCH);
    expect(epoch).toBe(epochOfIdentity(IDENTITY));
    expect(streamEpoch(IDENTITY)).toBe(epoch);
  });

  it("a recreated stream (same name, another creation time) gets another epoch", () => {
    expect(streamEpoch("GATEWAY_TRADES@2026-12-07T15:34:01.674867088Z")).not.toBe(streamEpoch(IDENTITY));
  });

  it("a memory epoch: m and 11 base64url characters, another one per call", () => {
    const epochs = new Set(Array.from({ length: 1000 }, () => memoryEpoch()));
    expect(epochs.size).toBe(1000);
    for (const epoch of epochs) expect(epoch).toMatch(MEMORY_EPOCH);
  });

  it("the protocol's examples name the example stream's epoch", () => {
    expect(EXAMPLE_EPOCH).toBe(streamEpoch(EXAMPLE_STREAM_IDENTITY));
  });
});

describe("ChannelHistory and its epoch", () => {
  it("in JetStream: named by its short epoch and, for one release, by the stream's identity; acks name the stream", () => {
    const history = new ChannelHistory(4);
    history.begin(streamEpoch(IDENTITY), 10, IDENTITY);
    expect(history.position()).toBeUndefined(); // not ready yet
    history.markReady();
    expect(history.names(streamEpoch(IDENTITY))).toBe(true);
    expect(history.names(IDENTITY)).toBe(true);
    expect(history.names("GATEWAY_TRADES@2024-12-19T11:00:00.000000000Z")).toBe(false);
    expect(history.names(streamEpoch("GATEWAY_TRADES@2024-12-19T11:00:00.000000000Z"))).toBe(false);
    expect(history.position()).toEqual({ seq: 10, epoch: streamEpoch(IDENTITY), stream: IDENTITY });
    expect(history.position(7)).toEqual({ seq: 7, epoch: streamEpoch(IDENTITY), stream: IDENTITY });
  });

  it("in memory: named by its epoch only, and positions carry no stream", () => {
    const history = new ChannelHistory(4);
    const epoch = memoryEpoch();
    history.begin(epoch, 0);
    history.markReady();
    expect(history.names(epoch)).toBe(true);
    expect(history.names(memoryEpoch())).toBe(false);
    expect(history.position()).toEqual({ seq: 0, epoch });
  });

  it("a stream begun again in memory forgets the stream's identity", () => {
    const history = new ChannelHistory(4);
    history.begin(streamEpoch(IDENTITY), 0, IDENTITY);
    history.begin("mAAAAAAAAAAA", 0);
    expect(history.names(IDENTITY)).toBe(false);
  });
});
