/**
 * A small chart of one stage's p50 and p99 over the latency window, drawn by hand as inline SVG
 * (no chart library): one line each, the newest bucket at the right edge, a gap where a bucket
 * had no samples, scaled to the window's highest p99, which the label names.
 */
import type { LatencyBucket } from "./latency-document.js";
import { milliseconds } from "./latency-document.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 132;
const HEIGHT = 34;
/** Room at the top for the scale label, so that the highest point does not run into it. */
const TOP = 11;

export type Stage = "hop" | "lag";

function svgElement<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attributes: Record<string, string>,
): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  return element;
}

/** The SVG path through `values` (null: a gap), the last one at the right edge of `slots`. */
function pathOf(values: (number | null)[], slots: number, max: number): string {
  const step = WIDTH / Math.max(1, slots - 1);
  const offset = slots - values.length;
  let d = "";
  let drawing = false;
  values.forEach((value, index) => {
    if (value === null) {
      drawing = false;
      return;
    }
    const x = (offset + index) * step;
    const y = HEIGHT - (value / max) * (HEIGHT - TOP);
    // A lone point between gaps still shows: a dot-length segment.
    d += drawing ? `L${x.toFixed(1)} ${y.toFixed(1)}` : `M${x.toFixed(1)} ${y.toFixed(1)}h0.01`;
    drawing = true;
  });
  return d;
}

/** An empty chart for `stage` of one channel; draw() fills it with each new document. */
export function latencyChart(channel: string, stage: Stage) {
  const svg = svgElement("svg", {
    class: `latency-chart ${stage}`,
    viewBox: `-2 -1 ${WIDTH + 4} ${HEIGHT + 2}`,
    width: String(WIDTH + 4),
    height: String(HEIGHT + 2),
    role: "img",
    "data-testid": `latency-chart-${channel}-${stage}`,
  });
  const title = svgElement("title", {});
  const baseline = svgElement("line", {
    class: "axis",
    x1: "0",
    x2: String(WIDTH),
    y1: String(HEIGHT),
    y2: String(HEIGHT),
  });
  const p50 = svgElement("path", { class: "p50", d: "" });
  const p99 = svgElement("path", { class: "p99", d: "" });
  const scale = svgElement("text", { class: "scale", x: "0", y: "8" });
  svg.append(title, baseline, p50, p99, scale);

  /** Draw the window's buckets (`slots` of them in a full window); `missing`: why there is nothing. */
  const draw = (series: LatencyBucket[], slots: number, missing?: string) => {
    const p50s = series.map((bucket) => (stage === "hop" ? bucket.hop_p50_ms : bucket.lag_p50_ms));
    const p99s = series.map((bucket) => (stage === "hop" ? bucket.hop_p99_ms : bucket.lag_p99_ms));
    const max = Math.max(
      0,
      ...p99s.filter((value) => value !== null),
      ...p50s.filter((value) => value !== null),
    );
    const empty = missing ?? (max > 0 ? undefined : "no frames in the window");
    p50.setAttribute("d", empty ? "" : pathOf(p50s, slots, max));
    p99.setAttribute("d", empty ? "" : pathOf(p99s, slots, max));
    scale.textContent = empty ?? `${milliseconds(max)} ms`;
    const name = stage === "hop" ? "gateway hop" : "upstream lag";
    title.textContent = empty
      ? `${channel} ${name}: ${empty}`
      : `${channel} ${name}, p50 and p99 per bucket (top: ${milliseconds(max)} ms)`;
  };
  return { element: svg, draw };
}
