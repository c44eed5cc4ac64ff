"""A third-party client of the trading stream gateway, built from its asyncapi.yaml alone.

It subscribes to the prices of some symbols and to every trade, prints them as they come, prints the
gateway's error frames, reconnects with exponential backoff and full jitter, and resumes trades with
`since` after a reconnect, so that no trade is missed or printed twice. With --books it also keeps
the order books of some symbols, verifies each frame's checksum, and prints their top of book.

    python3 client.py --url ws://localhost:8000/ws --symbols AAPL,MSFT --books AAPL

Needs Python 3.8+ and the websockets package (Debian: apt-get install python3-websockets).
The frame models in gateway_models.py are generated from asyncapi.yaml (npm run models:python).
"""

import argparse
import asyncio
import json
import random
import signal
import sys
import time
import uuid
from typing import Dict, List, Optional
from urllib.parse import quote

import websockets
from backoff import Backoff
from gateway_models import (
    ChannelName,
    Error,
    OrderBookSnapshot,
    OrderBookUpdate,
    PriceUpdate,
    Replayed,
    StateStatus,
    StreamStatus,
    Subscribe,
    Subscribed,
    TradeExecuted,
    Unsubscribe,
    Welcome,
    parse_server_frame,
)
from order_books import Applied, Broken, LocalBook, OrderBooks, Stale, js_number
from trade_resume import TradeResume

#: Close codes after which reconnecting would repeat the failure or fight another connection
#: (docs/errors.md): policy violation, message too big, replaced by a newer connection with the same
#: client_id, authentication failed, authentication timed out.
FINAL_CLOSE_CODES = {1008: "POLICY_VIOLATION", 1009: "MESSAGE_TOO_BIG", 4000: "REPLACED", 4401: "AUTH_FAILED", 4408: "AUTH_TIMEOUT"}
#: Refused upgrades that a retry would only repeat: bad client_id or URL, wrong origin, wrong path.
FINAL_HTTP_STATUSES = {400, 403, 404}

class UnreadableWelcome(Exception):
    """The gateway's first frame does not fit these models: they were made from another version of its document."""


#: Request ids, echoed by the gateway in its ack or error, so an error names what it answers.
PRICES_REQUEST = "prices"
TRADES_REQUEST = "trades"
BOOKS_REQUEST = "books"


def say(line: str) -> None:
    print(line, flush=True)


def http_status(refused: Exception) -> Optional[int]:
    """The HTTP status of a refused upgrade (websockets 10 to 13: status_code; 14 on: response.status_code)."""
    status = getattr(refused, "status_code", None)
    if status is None:
        status = getattr(getattr(refused, "response", None), "status_code", None)
    return status


def signed(number: float) -> str:
    return f"{number:+.2f}"


class StreamClient:
    def __init__(self, url: str, client_id: str, symbols: List[str], backoff: Backoff, books: List[str]) -> None:
        self.url = f"{url}?client_id={quote(client_id)}"
        self.symbols = symbols
        self.backoff = backoff
        self.trades = TradeResume()
        self.books = OrderBooks(books)
        #: The quote last printed per symbol: a snapshot after a reconnect repeats nothing unchanged.
        self.printed_quotes: Dict[str, dict] = {}
        self.requests: Dict[str, str] = {}
        self.stopping = asyncio.Event()
        self.connection = None

    def stop(self) -> None:
        self.stopping.set()
        if self.connection is not None:
            asyncio.ensure_future(self.connection.close())

    async def run(self) -> int:
        """Connect, and reconnect until stopped or told not to; the process exit status."""
        while not self.stopping.is_set():
            connected_at = None
            try:
                async with websockets.connect(self.url, open_timeout=10) as connection:
                    self.connection = connection
                    connected_at = time.monotonic()
                    if not self.stopping.is_set():  # a stop that came while connecting
                        await self.session(connection)
                    code, reason = connection.close_code, connection.close_reason
            except UnreadableWelcome as problem:
                say(f"cannot read the gateway's welcome frame ({problem}); regenerate gateway_models.py from its /asyncapi.yaml")
                return 1
            except websockets.exceptions.ConnectionClosed as closed:
                # rcvd: the close frame the gateway sent; none when the link just dropped (1006).
                code, reason = (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (1006, "")
            except websockets.exceptions.InvalidHandshake as refused:
                status = http_status(refused)
                if status in FINAL_HTTP_STATUSES:
                    say(f"the gateway refused the connection (HTTP {status}); not retrying")
                    return 1
                code, reason = None, f"HTTP {status}" if status else str(refused)
            except (OSError, asyncio.TimeoutError) as failure:
                code, reason = None, str(failure) or type(failure).__name__
            finally:
                self.connection = None
            if self.stopping.is_set():
                break
            if code in FINAL_CLOSE_CODES:
                say(f"the gateway closed the connection with {code} {FINAL_CLOSE_CODES[code]} ({reason}); not reconnecting")
                return 1
            lasted = time.monotonic() - connected_at if connected_at is not None else 0.0
            delay = self.backoff.next_delay(lasted)
            what = f"connection lost (code {code})" if code is not None else f"cannot connect ({reason})"
            say(f"{what}; reconnecting in {delay:.2f} s (attempt {self.backoff.attempt})")
            try:
                await asyncio.wait_for(self.stopping.wait(), timeout=delay)
            except asyncio.TimeoutError:
                pass
        say("bye")
        return 0

    async def session(self, connection) -> None:
        """One connection: the welcome, the subscriptions, then every frame until it closes."""
        try:
            welcome = parse_server_frame(json.loads(await connection.recv()))
        except (KeyError, TypeError, ValueError) as problem:
            raise UnreadableWelcome(repr(problem)) from problem
        if not isinstance(welcome, Welcome):
            raise websockets.exceptions.InvalidHandshake("the first frame was not a welcome")
        say(f"connected as {welcome.client_id} (channels: {', '.join(welcome.channels)})")
        since = self.trades.on_connected()
        self.books.on_connected()
        shown = [ChannelName.PRICE_UPDATES.value, ChannelName.TRADES.value]
        await self.send(connection, Subscribe(channel=ChannelName.PRICE_UPDATES, symbols=self.symbols, id=PRICES_REQUEST))
        await self.send(connection, Subscribe(channel=ChannelName.TRADES, since=since, id=TRADES_REQUEST))
        if self.books.symbols:
            shown.append(ChannelName.ORDER_BOOKS.value)
            await self.send(connection, Subscribe(channel=ChannelName.ORDER_BOOKS, symbols=self.books.symbols, id=BOOKS_REQUEST))
        # Most channels start subscribed to everything (order_books to nothing): leave the ones not shown.
        for channel in welcome.channels:
            if channel not in shown and welcome.subscriptions.get(channel):
                await self.send(connection, Unsubscribe(channel=ChannelName(channel), id=f"leave {channel}"))
        async for message in connection:
            data = json.loads(message)
            try:
                frame = parse_server_frame(data)
            except (KeyError, TypeError, ValueError) as problem:
                # Not what these models know (a newer info.version, say): show it and go on.
                say(f"cannot read a {data.get('type')} frame with these models ({problem!r}); ignored")
                continue
            if isinstance(frame, (OrderBookSnapshot, OrderBookUpdate, StateStatus)):
                await self.on_book_frame(connection, frame)
            else:
                self.handle(frame)

    async def send(self, connection, frame) -> None:
        data = frame.to_dict()
        self.requests[str(frame.id)] = f"{data['type']} {data['channel']}"
        await connection.send(json.dumps(data))

    def handle(self, frame) -> None:
        if isinstance(frame, PriceUpdate):
            for symbol, entry in frame.symbols.items():
                self.print_price(symbol, entry.to_dict())
        elif isinstance(frame, TradeExecuted):
            for trade in self.trades.accept(frame):
                self.print_trade(trade)
        elif isinstance(frame, Subscribed):
            self.on_subscribed(frame)
        elif isinstance(frame, Replayed):
            for trade in self.trades.release(frame.position):
                self.print_trade(trade)
            say(f"replayed {frame.count} missed trades; live from here")
        elif isinstance(frame, Error):
            what = self.requests.get(str(frame.id), "a request")
            say(f"gateway error {frame.code.value} for {what}: {frame.error}")
            if frame.id == TRADES_REQUEST:
                self.release_trades(None)
        elif isinstance(frame, StreamStatus) and frame.channel in (ChannelName.PRICE_UPDATES.value, ChannelName.TRADES.value):
            why = f" ({frame.reason.value})" if frame.reason is not None else ""
            say(f"{frame.channel} stream {frame.status.value}{why}")
        # Anything else (pongs, acks of leaving a channel, frames of types newer than these models) is not shown.

    async def on_book_frame(self, connection, frame) -> None:
        """A book frame: print the verified top of book, or subscribe again to a book that broke."""
        outcome = self.books.receive(frame)
        if isinstance(outcome, Applied):
            self.print_book(outcome.book)
        elif isinstance(outcome, Broken):
            say(f"book {outcome.symbol} resync: {outcome.why}; subscribing again for a fresh snapshot")
            request = Subscribe(channel=ChannelName.ORDER_BOOKS, symbols=[outcome.symbol], id=f"resync {outcome.symbol}")
            await self.send(connection, request)
        elif isinstance(outcome, Stale):
            say(f"book {outcome.symbol} stale ({outcome.reason}) after seq {outcome.sequence}: not current until the next snapshot")

    def on_subscribed(self, ack: Subscribed) -> None:
        if ack.id == BOOKS_REQUEST:  # a resync's ack is not shown: its resync line was
            symbols = "all symbols" if ack.symbols == "*" else ", ".join(ack.symbols)
            say(f"subscribed order_books: {symbols}")
        elif ack.channel == ChannelName.PRICE_UPDATES.value:
            symbols = "all symbols" if ack.symbols == "*" else ", ".join(ack.symbols)
            say(f"subscribed price_updates: {symbols}")
        elif ack.channel == ChannelName.TRADES.value:
            if ack.recovered is True:
                since = self.trades.position.seq if self.trades.position else 0
                say(f"resuming trades after #{since}")
                return  # the replay follows, then `replayed`
            if ack.recovered is False:
                say(f"trades could not be resumed ({ack.reason.value}): live from now; reload missed trades from their system of record")
            else:
                say("subscribed trades: all symbols")
            self.release_trades(ack.position)

    def release_trades(self, head) -> None:
        for trade in self.trades.release(head):
            self.print_trade(trade)

    def print_price(self, symbol: str, entry: dict) -> None:
        if symbol not in self.symbols or self.printed_quotes.get(symbol) == entry:
            return
        self.printed_quotes[symbol] = entry
        change = f" ({signed(entry['change_pct'])}%)" if "change_pct" in entry else ""
        say(f"price {symbol} {entry['price']:.2f}{change}")

    def print_trade(self, trade: TradeExecuted) -> None:
        say(f"trade #{trade.seq} {trade.side.value} {trade.quantity:g} {trade.symbol} @ {trade.price:.2f}")

    def print_book(self, book: LocalBook) -> None:
        """One line per verified frame: best bid and ask (price x size), spread, sequence."""

        def level(best) -> str:
            return "-" if best is None else f"{js_number(best[0])} x {js_number(best[1])}"

        spread = book.spread()
        say(
            f"book {book.symbol} bid {level(book.best_bid())} ask {level(book.best_ask())}"
            f" spread {'-' if spread is None else spread} seq {book.sequence} checksum ok"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description="Print prices, trades and order books from a trading stream gateway.")
    parser.add_argument("--url", default="ws://localhost:8000/ws", help="the gateway's WebSocket endpoint")
    parser.add_argument("--symbols", default="AAPL,MSFT", help="comma-separated symbols to show prices of")
    parser.add_argument("--books", default="", help="comma-separated symbols to keep the order books of")
    parser.add_argument("--client-id", default=f"python-client-{uuid.uuid4().hex[:8]}", help="kept across reconnects")
    parser.add_argument("--initial-backoff", type=float, default=0.5, help="ceiling of the first retry's delay, seconds")
    parser.add_argument("--max-backoff", type=float, default=30.0, help="the ceiling never exceeds this, seconds")
    parser.add_argument("--jitter-seed", type=int, help="seed the jitter, for reproducible runs")
    options = parser.parse_args()
    backoff = Backoff(
        initial_delay=options.initial_backoff,
        max_delay=options.max_backoff,
        rng=random.Random(options.jitter_seed),
    )
    books = [symbol for symbol in options.books.split(",") if symbol]
    client = StreamClient(options.url, options.client_id, options.symbols.split(","), backoff, books)

    async def run() -> int:
        loop = asyncio.get_running_loop()
        for stop_signal in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(stop_signal, client.stop)
        return await client.run()

    return asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
