/**
 * When one upstream message passed the ingest stages, in StageClock milliseconds: received from
 * NATS, and validated. Made once per message (never per client); the delivery adds when the frame
 * built from it was queued, and the writer when it was written.
 */
export interface StageStamp {
  readonly rx: number;
  readonly validated: number;
}

/** Of several messages merged into one frame, the one received first: the frame's data is that old. */
export function earliest(stamps: Iterable<StageStamp | undefined>): StageStamp | undefined {
  let first: StageStamp | undefined;
  for (const stamp of stamps)
    if (stamp !== undefined && (first === undefined || stamp.rx < first.rx)) first = stamp;
  return first;
}
