/**
 * `tsx bench/profile-summary.ts <file.cpuprofile>`: the functions with the most self time in a
 * V8 CPU profile (from BENCH_NODE_ARGS="--cpu-prof ..."), as a table for BENCHMARKS.md.
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

const file = process.argv[2];
if (!file) throw new Error("usage: tsx bench/profile-summary.ts <file.cpuprofile>");
const profile = JSON.parse(readFileSync(file, "utf8")) as { nodes: ProfileNode[]; samples: number[] };
const selfSamples = new Map<number, number>();
for (const id of profile.samples) selfSamples.set(id, (selfSamples.get(id) ?? 0) + 1);
const byFunction = new Map<string, number>();
for (const node of profile.nodes) {
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url ? `${url.replace(/^.*\/(node_modules|src|plugins)\//, "$1/")}:${lineNumber + 1}` : "";
  const name = `${functionName || "(anonymous)"} ${where}`.trim();
  byFunction.set(name, (byFunction.get(name) ?? 0) + (selfSamples.get(node.id) ?? 0));
}
const total = profile.samples.length;
console.log("| Self time | Function |\n| ---: | --- |");
for (const [name, samples] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 15)) {
  console.log(`| ${((samples / total) * 100).toFixed(1)}% | \`${name}\` |`);
}
