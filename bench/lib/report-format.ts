/**
 * What every benchmark report page shares: the header each result set carries (when, where, from
 * which commit, how loaded the machine was, by which command) and how figures are written.
 */

/** The first fields of every benchmark's results: where and how its figures were taken. */
export interface BenchRunHeader {
  at: string;
  machine: string;
  commit: string;
  loadAverage: number;
  command: string;
}

/** Milliseconds: one decimal below 100, whole above. */
export const ms = (value: number) => (value >= 100 ? `${value.toFixed(0)} ms` : `${value.toFixed(1)} ms`);
export const pct = (value: number) => `${value.toFixed(0)}%`;
export const count = (value: number) => Math.round(value).toLocaleString("en");
export const verdict = (met: boolean) => (met ? "**met**" : "**not met**");
