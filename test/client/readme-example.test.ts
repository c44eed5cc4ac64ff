/**
 * The SDK guide's example (docs/sdk.md, its first TypeScript block) typechecks and runs: taken from the page,
 * compiled with the project's compiler options, then run with tsx against a real gateway fed by
 * real NATS, where it logs a line for each of the four data frame types. Two substitutions only:
 * the import path (the file runs from test/.tmp/ instead of the repository root) and the URL (the
 * example hard-codes port 8000; tests never listen on fixed ports).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitForIngest } from "../helpers/gateway.js";
import { SEED_UPSTREAM } from "../helpers/seed-payloads.js";
import { tsxArgs } from "../helpers/tsx-args.js";
import { withGateway } from "../helpers/with-gateway.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const TMP = path.join(ROOT, "test/.tmp");
const EXAMPLE = path.join(TMP, `readme-example-${process.pid}.ts`);

/** The first TypeScript block of docs/sdk.md. */
function readmeExample(): string {
  const page = readFileSync(path.join(ROOT, "docs", "sdk.md"), "utf8");
  const block = /```ts\n([\s\S]*?)```/.exec(page)?.[1];
  if (!block) throw new Error("docs/sdk.md has no TypeScript block");
  return block;
}

const stack = withGateway();
let child: ChildProcess | undefined;

beforeAll(() => {
  const source = readmeExample();
  expect(source).toContain('from "./src/client/node.js"');
  expect(source).toContain('"ws://localhost:8000/ws"');
  mkdirSync(TMP, { recursive: true });
  writeFileSync(
    EXAMPLE,
    source
      .replace('"./src/client/node.js"', '"../../src/client/node.js"')
      .replace('"ws://localhost:8000/ws"', JSON.stringify(stack.running.wsUrl)),
  );
});

afterAll(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  rmSync(EXAMPLE, { force: true });
});

describe("docs/sdk.md's SDK example", () => {
  it("typechecks with the project's compiler options", () => {
    const config = ts.getParsedCommandLineOfConfigFile(
      path.join(ROOT, "tsconfig.json"),
      {},
      {
        ...ts.sys,
        onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
          throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n"));
        },
      },
    );
    const program = ts.createProgram([EXAMPLE], { ...config?.options, noEmit: true });
    const problems = ts
      .getPreEmitDiagnostics(program)
      .map((diagnostic) => ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n"));
    expect(problems).toEqual([]);
    // A whole-program type check: seconds alone, much longer on a loaded 2-core machine.
  }, 90_000);

  it("logs price updates, signals, trades and portfolio updates", async () => {
    const { running, publisher } = stack;
    // Conflated channels are sent as a snapshot on (auto-)subscribe: publish them first.
    publisher.publish("market.prices.AAPL", JSON.stringify(SEED_UPSTREAM.aaplTick));
    publisher.publish("portfolio.updates", JSON.stringify(SEED_UPSTREAM.portfolio));
    await waitForIngest(running, publisher, "price_updates", 1);
    await waitForIngest(running, publisher, "portfolio", 1);

    const started = spawn(process.execPath, tsxArgs(EXAMPLE), {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    child = started;
    const lines: string[] = [];
    let output = "";
    let wake = () => {};
    started.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      lines.splice(0, lines.length, ...output.split("\n"));
      wake();
    });
    started.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      wake();
    });
    const logged = (line: string) =>
      new Promise<void>((resolve, reject) => {
        const deadline = setTimeout(
          () => reject(new Error(`never logged "${line}"; output:\n${output}`)),
          15_000,
        );
        const check = () => {
          if (lines.includes(line)) {
            clearTimeout(deadline);
            resolve();
          } else wake = check;
        };
        check();
      });

    // The price line comes from the subscribe snapshot: from then on the example is subscribed,
    // and the events (signal, trade) it receives are published now.
    await logged("AAPL: $150.25 (0.33%)");
    await logged("Portfolio: 1 positions");
    publisher.publish("strategy.signals.seed", JSON.stringify(SEED_UPSTREAM.signal));
    publisher.publish("execution.trades.seed", JSON.stringify(SEED_UPSTREAM.trade));
    await logged("Signal: BUY AAPL @ $150.25 (0.85)");
    await logged("Trade: BUY 10 AAPL @ $150.25");
    expect(output).not.toMatch(/Error|MSFT/);
  });
});
