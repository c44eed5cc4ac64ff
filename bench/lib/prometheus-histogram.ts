/**
 * Prometheus histograms read from a `/metrics` text exposition, as a benchmark needs them: one
 * histogram (every series of a name that carries the given labels, added up), the difference of a
 * scrape taken after a measurement window and one taken before it (so that only the window counts,
 * not what the process observed since it started), and percentiles estimated from the bucket counts
 * as Prometheus' histogram_quantile() does: a straight line within the bucket that holds the rank.
 *
 * Bucket counts only bound a percentile to its bucket: with the gateway's bounds (50 µs, 100 µs,
 * 250 µs, 500 µs, 1 ms, 2.5 ms, 5 ms, ...) a p99 of "3.1 ms" means "between 2.5 and 5 ms".
 */

/** One histogram: cumulative counts per upper bound (`le`, in the metric's unit), ascending, +Inf last. */
export interface HistogramSnapshot {
  buckets: { le: number; cumulative: number }[];
  sum: number;
  count: number;
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$/;
const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** A label value as the exposition escapes it (\\, \", \n). */
function unescapeLabel(value: string): string {
  return value.replace(/\\(.)/g, (_, character: string) => (character === "n" ? "\n" : character));
}

/** A sample value: a float, or +Inf / -Inf / NaN. */
function parseValue(text: string): number {
  if (text === "+Inf") return Number.POSITIVE_INFINITY;
  if (text === "-Inf") return Number.NEGATIVE_INFINITY;
  return Number(text);
}

function samplesOf(text: string, names: Set<string>): Sample[] {
  const samples: Sample[] = [];
  for (const rawLine of text.split("\n")) {
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#")) continue;
    const match = SAMPLE_LINE.exec(line);
    if (!match || !names.has(match[1] as string)) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? "").matchAll(LABEL_PAIR))
      labels[pair[1] as string] = unescapeLabel(pair[2] as string);
    samples.push({ name: match[1] as string, labels, value: parseValue(match[3] as string) });
  }
  return samples;
}

const carries = (labels: Record<string, string>, wanted: Record<string, string>) =>
  Object.entries(wanted).every(([key, value]) => labels[key] === value);

/**
 * The histogram `name` (without `_bucket`) from an exposition: every series whose labels include
 * `labels`, added up bucket by bucket (e.g. prom-client's GC histogram over all its `kind`s).
 * Undefined when no series matches (the metric is not exposed, or not for these labels).
 */
export function scrapeHistogram(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): HistogramSnapshot | undefined {
  const samples = samplesOf(text, new Set([`${name}_bucket`, `${name}_sum`, `${name}_count`])).filter(
    (sample) => carries(sample.labels, labels),
  );
  const buckets = new Map<number, number>();
  let sum = 0;
  let count = 0;
  let found = false;
  for (const sample of samples) {
    found = true;
    if (sample.name === `${name}_sum`) sum += sample.value;
    else if (sample.name === `${name}_count`) count += sample.value;
    else {
      const le = parseValue(sample.labels.le ?? "");
      if (Number.isNaN(le)) throw new Error(`${name}_bucket without a numeric le label`);
      buckets.set(le, (buckets.get(le) ?? 0) + sample.value);
    }
  }
  if (!found) return undefined;
  return {
    buckets: [...buckets].map(([le, cumulative]) => ({ le, cumulative })).sort((a, b) => a.le - b.le),
    sum,
    count,
  };
}

/**
 * What was observed between two scrapes of the same process: `after` minus `before`, bucket by
 * bucket. Without `before` (the metric appeared only after the first scrape: no series exists
 * before a channel's first observation), everything in `after` is the window's.
 */
export function histogramWindow(after: HistogramSnapshot, before?: HistogramSnapshot): HistogramSnapshot {
  if (!before) return after;
  if (after.count < before.count)
    throw new Error(
      `histogram count went down between scrapes (${before.count} -> ${after.count}): two different processes?`,
    );
  const earlier = new Map(before.buckets.map((bucket) => [bucket.le, bucket.cumulative]));
  return {
    buckets: after.buckets.map(({ le, cumulative }) => ({
      le,
      cumulative: cumulative - (earlier.get(le) ?? 0),
    })),
    sum: after.sum - before.sum,
    count: after.count - before.count,
  };
}

/**
 * The q-quantile (0 <= q <= 1) in the metric's unit, as histogram_quantile() estimates it: the
 * bucket holding rank q x count, interpolated linearly from its lower bound (0 for the first
 * bucket) to its upper bound. A rank in the +Inf bucket gives the highest finite bound ("at least
 * that"). Undefined for an empty histogram.
 */
export function histogramQuantile(histogram: HistogramSnapshot, q: number): number | undefined {
  const { buckets } = histogram;
  const total = buckets.at(-1)?.cumulative ?? 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const { le, cumulative } of buckets) {
    if (cumulative >= rank && cumulative > below) {
      if (le === Number.POSITIVE_INFINITY) return lower;
      return lower + ((le - lower) * (rank - below)) / (cumulative - below);
    }
    lower = le;
    below = cumulative;
  }
  return lower;
}

/** Observations above `bound` (which must be one of the bucket bounds), from the cumulative counts. */
export function countAbove(histogram: HistogramSnapshot, bound: number): number {
  const bucket = histogram.buckets.find((candidate) => candidate.le === bound);
  if (!bucket) throw new Error(`no bucket with le=${bound}`);
  return (histogram.buckets.at(-1)?.cumulative ?? 0) - bucket.cumulative;
}
