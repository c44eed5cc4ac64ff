/**
 * History entries read back from JetStream for replays older than the ring, shared by every replay
 * of the channel: in a reconnect storm a thousand clients missed the same messages, and each page
 * is then read from the stream, parsed, validated and framed once, not once per client.
 *
 * Keyed by stream sequence; `null` marks a position that holds nothing to deliver (an invalid
 * message, or one of another subject on a shared stream), so a cached range has no holes. Bounded:
 * beyond `capacity` the entries read longest ago are forgotten.
 */
import type { HistoryEntry } from "./channel-history.js";

export class StreamCache {
  private readonly entries = new Map<number, HistoryEntry | null>();

  constructor(private readonly capacity: number) {}

  has(seq: number): boolean {
    return this.entries.has(seq);
  }

  /** The entry at `seq` (null: nothing to deliver there); only meaningful when `has(seq)`. */
  get(seq: number): HistoryEntry | null {
    return this.entries.get(seq) ?? null;
  }

  put(seq: number, entry: HistoryEntry | null): void {
    if (this.entries.has(seq)) return;
    if (this.entries.size >= this.capacity) {
      const oldest = this.entries.keys().next().value as number;
      this.entries.delete(oldest);
    }
    this.entries.set(seq, entry);
  }
}
