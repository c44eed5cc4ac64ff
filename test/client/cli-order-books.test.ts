/**
 * `gateway tail --channel order_books` end to end: the bin launcher as a process, a real gateway
 * with the order_books plugin, a real nats-server. It prints one line per snapshot or update the
 * SDK verified and applied (time, symbol, best bid, best ask, spread, sequence), each once and in
 * order, from the SDK's book rather than the frame; a resync (a frame forged by a relay) and a
 * stale book are told on stderr.
 */
import { describe, expect, it } from "vitest";
import {
  type BookMessage,
  bookDelta,
  bookSnapshot,
  EXAMPLE_BOOK,
  forgedUpdate,
  publishBook,
} from "../helpers/book-messages.js";
import { waitForIngest } from "../helpers/gateway.js";
import { withGateway } from "../helpers/with-gateway.js";
import { CliProcess } from "./helpers/cli-process.js";
import { TcpProxy, webSocketFrame } from "./helpers/tcp-proxy.js";

const stack = withGateway();
/** Upstream messages published on market.books.* in this file (what the gateway has taken in). */
let published = 0;

/** Publish a book message upstream (at 12:00:00 + `second` s) and wait until the gateway took it in. */
async function publish(message: BookMessage, second: number): Promise<void> {
  const timestamp = new Date(Date.parse("2024-12-19T12:00:00Z") + second * 1000).toISOString();
  publishBook(stack.publisher, { ...message, timestamp });
  await waitForIngest(stack.running, stack.publisher, "order_books", ++published);
}

function tail(url: string, symbol: string): CliProcess {
  const cli = CliProcess.start(["tail", "--url", url, "--channel", "order_books", "--symbols", symbol]);
  stack.defer(async () => {
    cli.kill();
    await cli.exited;
  });
  return cli;
}

/** Interrupt the tail (it must exit 0): the lines it printed on stdout. */
async function printedUntilInterrupted(cli: CliProcess): Promise<string[]> {
  expect(await cli.interrupt()).toBe(0);
  return cli.stdout.lines.filter(Boolean);
}

describe("gateway tail --channel order_books", () => {
  it("prints one line per verified snapshot or update, each once and in order, and says on stderr when the book goes stale", async () => {
    await publish(bookSnapshot("AAPL", 1000, EXAMPLE_BOOK.bids, EXAMPLE_BOOK.asks), 0);
    const cli = tail(stack.running.wsUrl, "AAPL");
    await cli.nextErr(/subscribed order_books: AAPL$/);
    await cli.nextOut(/order_book_snapshot/);

    await publish(bookDelta("AAPL", 1001, [[150.24, 250]], []), 1);
    await publish(bookDelta("AAPL", 1002, [], [[150.25, 0]]), 2);
    await publish(bookDelta("AAPL", 1003, [[150.245, 10]], []), 3);
    await cli.nextOut(/seq 1003$/);

    // Upstream skips 1004: the gateway stops AAPL's updates and the tail says so, on stderr.
    await publish(bookDelta("AAPL", 1005, [[150.2, 1]], []), 5);
    expect(await cli.nextErr(/order_books AAPL: stale/)).toMatch(
      /^\d{2}:\d{2}:\d{2}\.\d{3} {2}order_books AAPL: stale \(upstream_gap\), last good at sequence 1003; waiting for a snapshot$/,
    );
    await publish(bookSnapshot("AAPL", 1006, [[150.1, 7]], [[150.3, 8]]), 6);
    await cli.nextOut(/seq 1006$/);

    expect(await printedUntilInterrupted(cli)).toEqual([
      "12:00:00.000  order_book_snapshot  AAPL  bid 150.24 x 300  ask 150.25 x 200  spread 0.01  seq 1000",
      "12:00:01.000  order_book_update    AAPL  bid 150.24 x 250  ask 150.25 x 200  spread 0.01  seq 1001",
      "12:00:02.000  order_book_update    AAPL  bid 150.24 x 250  ask 150.26 x 500  spread 0.02  seq 1002",
      "12:00:03.000  order_book_update    AAPL  bid 150.245 x 10  ask 150.26 x 500  spread 0.015  seq 1003",
      "12:00:06.000  order_book_snapshot  AAPL  bid 150.1 x 7  ask 150.3 x 8  spread 0.2  seq 1006",
    ]);
    expect(cli.stderr.lines.some((line) => line.includes("resubscribed"))).toBe(false);
  });

  it("says so when a frame breaks the book, and prints the fresh snapshot the resubscribe brings", async () => {
    await publish(bookSnapshot("MSFT", 70, [[380.1, 10]], [[380.2, 20]]), 10);
    const proxy = stack.track(await TcpProxy.start(stack.running.port));
    const cli = tail(proxy.wsUrl, "MSFT");
    await cli.nextErr(/subscribed order_books: MSFT$/);
    await cli.nextOut(/seq 70$/);

    // A frame the gateway never sent, continuing the chain with a checksum that does not match.
    const forged = forgedUpdate("MSFT", 70, [[380.15, 1]], "2024-12-19T12:00:11.000Z");
    proxy.inject(webSocketFrame(Buffer.from(JSON.stringify(forged))));
    expect(await cli.nextErr(/order_books MSFT:/)).toMatch(
      /^\d{2}:\d{2}:\d{2}\.\d{3} {2}order_books MSFT: the checksum did not match; resubscribed for a fresh snapshot$/,
    );
    await cli.nextErr(/subscribed order_books: MSFT$/);
    await cli.nextOut(/seq 70$/);
    await publish(bookDelta("MSFT", 71, [[380.12, 3]], []), 12);
    await cli.nextOut(/seq 71$/);

    // The forged frame never made a line: the book it would have made was not verified.
    expect(await printedUntilInterrupted(cli)).toEqual([
      "12:00:10.000  order_book_snapshot  MSFT  bid 380.1 x 10  ask 380.2 x 20  spread 0.1  seq 70",
      "12:00:10.000  order_book_snapshot  MSFT  bid 380.1 x 10  ask 380.2 x 20  spread 0.1  seq 70",
      "12:00:12.000  order_book_update    MSFT  bid 380.12 x 3  ask 380.2 x 20  spread 0.08  seq 71",
    ]);
  });
});
