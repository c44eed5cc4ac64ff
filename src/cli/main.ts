/**
 * `gateway <command>`: the command line of the gateway's client side. `tail` follows frames live
 * through the SDK (so it reconnects like any SDK user); `status` reads GET /websocket/status;
 * `latency` reads GET /websocket/latency (src/cli/latency.ts).
 * Arguments are parsed with node:util's parseArgs: no CLI dependency.
 */
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { VERSION } from "../version.js";
import { DEFAULT_LATENCY_INTERVAL_MS, latency } from "./latency.js";
import { status } from "./status.js";
import { tail } from "./tail.js";

export const USAGE = `Usage: gateway <command> [options]

Commands:
  tail     Print the gateway's frames live, one line each, reconnecting when the connection drops.
           Data frames go to stdout; connection state and replies go to stderr.
  status   Print GET /websocket/status as a table.
  latency  Print each channel's p50/p99 gateway hop and upstream lag (GET /websocket/latency)
           as a table, refreshed until Ctrl-C.

tail options:
  --url <url>           WebSocket endpoint (default ws://localhost:8000/ws)
  --channel <name>      Follow this channel only; repeat for several (default: every channel)
  --symbols <A,B,...>   Only these symbols of the --channel(s) (accounts, on portfolio)
  --client-id <id>      client_id to connect with
  --token <jwt>         Token for WEBSOCKET_AUTH=jwt (default: the GATEWAY_TOKEN variable)
  --json                One frame per line as JSON, instead of human-readable lines

status options:
  --url <url>           The gateway's HTTP address (default http://localhost:8000)
  --json                The status document as JSON

latency options:
  --url <url>           The gateway's HTTP address (default http://localhost:8000)
  --once                Print one table and exit
  --interval <seconds>  Refresh period (default 2)
  --json                The latency document as JSON (one line per refresh)

  -h, --help            This help
  --version             The gateway's version (package.json's, as /websocket/status reports it)

Times are UTC. Examples:
  gateway tail --channel price_updates --symbols AAPL,MSFT
  gateway tail --channel order_books --symbols AAPL   # best bid/ask of the verified book
  gateway tail --json | jq .
  gateway status --url http://localhost:8000
  gateway latency --once`;

/** Exit statuses: 0 done, 1 failed (gateway unreachable, connection refused for good), 2 usage. */
export async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    process.stderr.write(`gateway: ${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, ...extra] = positionals;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const usageError = (message: string) => {
    process.stderr.write(`gateway: ${message}\n\n${USAGE}\n`);
    return 2;
  };
  if (extra.length > 0) return usageError(`unexpected argument: ${extra[0]}`);
  switch (command) {
    case "tail": {
      for (const option of ["once", "interval"] as const)
        if (values[option] !== undefined) return usageError(`--${option} is a latency option`);
      if (values.symbols !== undefined && values.channel === undefined)
        return usageError("--symbols needs --channel (which channel are they symbols of?)");
      const symbols = values.symbols
        ?.split(",")
        .map((symbol) => symbol.trim())
        .filter(Boolean);
      if (symbols !== undefined && symbols.length === 0) return usageError("--symbols is empty");
      return tail({
        url: values.url ?? "ws://localhost:8000/ws",
        channels: values.channel ?? [],
        symbols,
        clientId: values["client-id"],
        token: values.token ?? (process.env.GATEWAY_TOKEN || undefined),
        json: values.json ?? false,
      });
    }
    case "status":
      for (const option of ["channel", "symbols", "client-id", "token"] as const)
        if (values[option] !== undefined) return usageError(`--${option} is a tail option`);
      for (const option of ["once", "interval"] as const)
        if (values[option] !== undefined) return usageError(`--${option} is a latency option`);
      return status({ url: values.url ?? "http://localhost:8000", json: values.json ?? false });
    case "latency": {
      for (const option of ["channel", "symbols", "client-id", "token"] as const)
        if (values[option] !== undefined) return usageError(`--${option} is a tail option`);
      const interval = values.interval === undefined ? undefined : Number(values.interval);
      if (interval !== undefined && !(interval >= 0.1 && interval <= 3600))
        return usageError("--interval must be a number of seconds from 0.1 to 3600");
      return latency({
        url: values.url ?? "http://localhost:8000",
        json: values.json ?? false,
        once: values.once ?? false,
        intervalMs: interval === undefined ? DEFAULT_LATENCY_INTERVAL_MS : interval * 1000,
      });
    }
    case undefined:
      return usageError("a command is needed");
    default:
      return usageError(`unknown command: ${command}`);
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      url: { type: "string" },
      channel: { type: "string", multiple: true },
      symbols: { type: "string" },
      "client-id": { type: "string" },
      token: { type: "string" },
      json: { type: "boolean" },
      once: { type: "boolean" },
      interval: { type: "string" },
      help: { type: "boolean", short: "h" },
      version: { type: "boolean" },
    },
  });
}

// Run when executed directly (tsx src/cli/main.ts, npm run cli); the bin launcher calls main().
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
