/**
 * Building one frame from plugin code (toFrame, mergeFrames, a state plugin's toSnapshot and
 * toUpdate), which may throw or return what JSON cannot hold (a BigInt, a cycle): that costs the
 * frame and a counted error (gateway_frames_failed_total), never the flush, the connection or the
 * process; the log says so at most once a second per channel.
 */
import type { Logger } from "pino";
import { encodeFrame } from "../frame-encoder.js";
import type { DeliveryCounters } from "./delivery.js";

export class FrameBuilder {
  private lastFailureLog = 0;

  constructor(
    private readonly channel: string,
    private readonly counters: DeliveryCounters,
    private readonly logger: Logger,
  ) {}

  /** The encoded frame, or undefined (counted, and logged at most once a second) when it failed. */
  build(make: () => unknown): Buffer | undefined {
    try {
      return encodeFrame(make());
    } catch (error) {
      this.counters.framesFailed++;
      const now = Date.now();
      if (now - this.lastFailureLog >= 1000) {
        this.lastFailureLog = now;
        this.logger.error(
          { err: error, channel: this.channel, failed: this.counters.framesFailed },
          "a frame could not be built; skipped",
        );
      }
      return undefined;
    }
  }
}
