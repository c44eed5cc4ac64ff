/**
 * History entries read back from JetStream for replays older than the ring, shared by every replay
 * of the channel: in a reconnect storm a thousand clients missed the same messages, and each page
 * is then read from the stream, parsed, validated and framed once, not once per client.
 *
 * Keyed by stream sequence; `null` marks a position that holds nothing to deliver (an invalid
 * message, or one of another subject on a shared stream), so a cached range has no holes. Bounded:
 * beyond `capacity` the entries read longest ago are forgotten.
 *
 * Reads are shared too: replays that need a position while a read from it is under way wait for
 * that read instead of starting their own (a storm's clients mostly resume from the same position,
 * and before this they each took a replay consumer to read the same page).
 */
import type { HistoryEntry } from "./channel-history.js";

/** The entries of consecutive positions from a read's first position on (null: nothing there). */
export type EntryRun = (HistoryEntry | null)[];

export class StreamCache {
  private readonly entries = new Map<number, HistoryEntry | null>();
  /** Reads under way, by the position they start at. */
  private readonly reading = new Map<number, Promise<EntryRun | undefined>>();

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

  /**
   * The run of entries from `from` on: what `read` returns (undefined: it did not read, ask the
   * cache again), cached for later replays. A caller that asks for a position a read already
   * under way starts at gets that read's run.
   */
  read(from: number, read: () => Promise<EntryRun | undefined>): Promise<EntryRun | undefined> {
    let pending = this.reading.get(from);
    if (pending === undefined) {
      pending = read()
        .then((run) => {
          for (const [offset, entry] of run?.entries() ?? []) this.put(from + offset, entry);
          return run;
        })
        .finally(() => this.reading.delete(from));
      this.reading.set(from, pending);
    }
    return pending;
  }
}
