/**
 * The stalled-clients step of `npm run bench`: 1% of 1,000 clients stop reading while 2 KB frames
 * are published, and the gateway must disconnect exactly them (the slow-consumer policy) while the
 * others lose nothing. Shared by the step (bench/run.ts) and its report (bench/lib/report.ts).
 *
 * A stalled client is one the kernel hides for a while: loopback sockets here absorb about 4 MB
 * (the sender's buffer grows to net.ipv4.tcp_wmem's 4 MB; the receiver's stays near its initial
 * 128 KB when nothing is read) before the server sees anything, so the step must run long enough
 * for that plus the gateway's own threshold (below) to fill: at 2 KB x 80 msg/s, about 31 s.
 *
 * The rate is 80 msg/s, not 160: at 160 (330 MB/s through the load core, for 20 s) the clients
 * that kept reading fell 0.9 to 3.4 s behind at p99 (3 gateway runs, 7 December 21:27 UTC; console
 * output, not kept), and in 2 of the 6 gateway runs of the full benchmark at 9892de4 every client
 * was disconnected. At 80 for 40 s (`npx tsx bench/run.ts --only=80r-2k --targets=gateway`,
 * bench/results/partial-latest.json, 22:56 UTC): each of 3 runs disconnected exactly the 10 stalled
 * clients, the others lost nothing, p99 62 to 76 ms; without stalled clients, p99 80 to 696 ms.
 */
export const STALLED_RATE = 80;
export const STALLED_RUN_MS = 40_000;
/**
 * The gateway's thresholds in this step: low enough that clients which stop reading pass them
 * within the run, so that the policy engages and the harness can check it did.
 */
export const STALLED_GATEWAY_ENV = {
  WEBSOCKET_MAX_BUFFERED_BYTES: "1048576",
  WEBSOCKET_CONFLATED_DROP_BYTES: "524288",
};
export const STALLED_STEP_ID = `stalled-1pct-1000c-${STALLED_RATE}r-2k`;
/** The same load without stalled clients, in the same run: the report's comparison columns. */
export const STALLED_PEER_STEP_ID = `fanout-1000c-${STALLED_RATE}r-2k`;
