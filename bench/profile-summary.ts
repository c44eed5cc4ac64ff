/**
 * `tsx bench/profile-summary.ts <file.cpuprofile>`: where a gateway's CPU time went, by stage of
 * the path from a NATS message to the socket write, from a V8 CPU profile taken under load:
 *
 *   BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" npm run bench:quick -- --targets=gateway
 *
 * Each sample is put in the stage of the first frame on its stack, from the leaf up, that names
 * one (so JSON.parse called by the ingest is "JSON.parse", and the ingest's own code is "ingest").
 * Start-up (module loading) and idle samples are counted apart; shares are of the busy rest.
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Stage {
  name: string;
  matches(functionName: string, url: string): boolean;
}

const STAGES: Stage[] = [
  { name: "idle", matches: (name) => name === "(idle)" },
  { name: "start-up (module loading)", matches: (_name, url) => url.startsWith("node:internal/modules") },
  { name: "garbage collection", matches: (name) => name === "(garbage collector)" },
  { name: "JSON.parse", matches: (name, url) => url === "" && name === "parse" },
  { name: "JSON.stringify", matches: (name, url) => url === "" && name === "stringify" },
  {
    name: "socket write (syscall and Node's stream code)",
    matches: (name, url) =>
      name === "writeBuffer" ||
      name === "writev" ||
      url.startsWith("node:net") ||
      url.startsWith("node:internal/stream_base_commons") ||
      url.startsWith("node:internal/streams"),
  },
  { name: "zod validation", matches: (_name, url) => url.includes("node_modules/zod/") },
  { name: "NATS client (socket read, protocol parse)", matches: (_name, url) => url.includes("@nats-io/") },
  { name: "frame encode", matches: (_name, url) => url.includes("/delivery/frame-encoder.") },
  {
    name: "queue and flush (outbound writer)",
    matches: (_name, url) => url.includes("/delivery/outbound-writer."),
  },
  {
    name: "routing (subscriptions, delivery, history)",
    matches: (_name, url) =>
      url.includes("/src/core/delivery/") ||
      url.includes("/src/core/history/") ||
      url.includes("subscription-index"),
  },
  {
    name: "ingest (decode, validate, frame build)",
    matches: (_name, url) => url.includes("/src/core/ingest/"),
  },
  { name: "plugins (toFrame, key)", matches: (_name, url) => url.includes("/plugins/") },
  { name: "rest of the gateway", matches: (_name, url) => url.includes("/src/") },
  { name: "ws library", matches: (_name, url) => url.includes("node_modules/ws/") },
];
const OTHER = "other (Node internals, timers, ...)";

const file = process.argv[2];
if (!file) throw new Error("usage: tsx bench/profile-summary.ts <file.cpuprofile>");
const profile = JSON.parse(readFileSync(file, "utf8")) as { nodes: ProfileNode[]; samples: number[] };
const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
const parents = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);

const stageOfNode = new Map<number, string>();
function stageOf(id: number): string {
  const known = stageOfNode.get(id);
  if (known !== undefined) return known;
  let stage = OTHER;
  for (let at: number | undefined = id; at !== undefined; at = parents.get(at)) {
    const { functionName, url } = (nodes.get(at) as ProfileNode).callFrame;
    const match = STAGES.find((candidate) => candidate.matches(functionName, url));
    if (match) {
      stage = match.name;
      break;
    }
  }
  stageOfNode.set(id, stage);
  return stage;
}

const samples = new Map<string, number>();
for (const id of profile.samples) {
  const stage = stageOf(id);
  samples.set(stage, (samples.get(stage) ?? 0) + 1);
}
const apart = new Set(["idle", "start-up (module loading)"]);
const busy = [...samples].filter(([stage]) => !apart.has(stage)).reduce((sum, [, count]) => sum + count, 0);
console.log(
  `${profile.samples.length} samples: ${samples.get("idle") ?? 0} idle, ${samples.get("start-up (module loading)") ?? 0} start-up, ${busy} busy\n`,
);
console.log("| Stage | Share of busy time |\n| --- | ---: |");
for (const [stage, count] of [...samples].filter(([name]) => !apart.has(name)).sort((a, b) => b[1] - a[1])) {
  console.log(`| ${stage} | ${((count / busy) * 100).toFixed(1)}% |`);
}
