"""Order books: a local copy of each symbol's book, kept from the order_books channel and verified.

The gateway sends a symbol's view (its top `depth` levels per side) as an order_book_snapshot, then
order_book_updates: each lists the levels whose size changed (size 0: the level left the view) and
turns the view at `prev_sequence` into the view at `sequence`. After every frame the client checks
its copy against the frame's checksum: CRC-32 (zlib's) of the top 10 asks ascending, `|`, the top
10 bids descending, each level `price:size` with the numbers as JavaScript's JSON.stringify writes
them, levels joined with `,`.

An update that does not follow the last sequence (or comes before any snapshot) or a checksum that
does not match breaks the book: the only way back is a fresh snapshot, which the gateway sends when
the client subscribes to the symbol again. Until it comes, updates still in flight for the symbol
are dropped. A `state_status` stale (upstream skipped a sequence, so the gateway stopped the
symbol's updates) keeps the last verified levels, marked stale, until the next snapshot.
"""

import math
import zlib
from decimal import Decimal
from typing import Dict, Iterable, List, NamedTuple, Optional, Set, Tuple, Union

from gateway_models import OrderBookSnapshot, OrderBookUpdate, StateStatus

CHANNEL = "order_books"
#: Levels per side the checksum covers.
CHECKSUM_LEVELS = 10

Level = Tuple[float, float]


def js_number(x: Union[int, float]) -> str:
    """`x` as JavaScript's JSON.stringify writes a number: 150.0 -> "150", 0.1 -> "0.1", 1e21 -> "1e+21".

    Python's repr differs from JavaScript in the notation, not in the digits: both give the shortest
    digits that read back as the same double. So the digits come from repr and the layout follows
    ECMAScript's Number::toString. What repr alone would get wrong: integers held as floats (repr
    150.0 is "150.0", JS "150"), exponents (repr 1e16 is "1e+16" and 1e-05 "1e-05", JS writes
    "10000000000000000" and "0.00001"; from 1e21 up and below 1e-6 JS writes "1e+21", "1e-7"), and
    -0.0 (JS "0"). An int is read as JavaScript reads every JSON number, as a double, so one past
    2**53 is rounded as the gateway rounded it.
    Where this can still differ from JSON.stringify: NaN and the infinities (never in a JSON frame;
    JS writes null) and ints too large for a double (OverflowError here, null in JS). For the finite
    decimals that prices and sizes are, it writes what the gateway wrote.
    """
    x = float(x)
    if math.isnan(x) or math.isinf(x):
        return "null"
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    digits_tuple, exponent = Decimal(repr(abs(x))).normalize().as_tuple()[1:]
    digits = "".join(map(str, digits_tuple))
    k = len(digits)
    n = exponent + k  # the value is 0.<digits> * 10**n
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{sign}{mantissa}e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"


def checksum_text(asks: Iterable[Level], bids: Iterable[Level]) -> str:
    """The text the checksum covers: asks best (lowest) first, then bids best (highest) first."""

    def side(levels: Iterable[Level]) -> str:
        return ",".join(f"{js_number(price)}:{js_number(size)}" for price, size in list(levels)[:CHECKSUM_LEVELS])

    return f"{side(asks)}|{side(bids)}"


class LocalBook:
    """One symbol's view as this client holds it: price -> size per side."""

    def __init__(self, symbol: str, sequence: int, bids: Iterable[List[float]], asks: Iterable[List[float]]) -> None:
        self.symbol = symbol
        self.sequence = sequence
        self.bids: Dict[float, float] = {}
        self.asks: Dict[float, float] = {}
        self.stale = False
        self.apply(bids, asks)

    def apply(self, bids: Iterable[List[float]], asks: Iterable[List[float]]) -> None:
        """Set each listed level's size; 0 removes the level."""
        for levels, side in ((bids, self.bids), (asks, self.asks)):
            for price, size in levels:
                if size == 0:
                    side.pop(price, None)
                else:
                    side[price] = size

    def top_bids(self) -> List[Level]:
        return sorted(self.bids.items(), reverse=True)

    def top_asks(self) -> List[Level]:
        return sorted(self.asks.items())

    def checksum(self) -> int:
        return zlib.crc32(checksum_text(self.top_asks(), self.top_bids()).encode("utf-8"))

    def best_bid(self) -> Optional[Level]:
        return max(self.bids.items(), default=None)

    def best_ask(self) -> Optional[Level]:
        return min(self.asks.items(), default=None)

    def spread(self) -> Optional[Decimal]:
        """Best ask minus best bid, in decimal (150.25 - 150.24 is 0.01, not 0.009999999999990905)."""
        bid, ask = self.best_bid(), self.best_ask()
        if bid is None or ask is None:
            return None
        return Decimal(js_number(ask[0])) - Decimal(js_number(bid[0]))


class Applied(NamedTuple):
    """A snapshot or update was applied and its checksum matched."""

    book: LocalBook


class Broken(NamedTuple):
    """The symbol's book is gone: subscribe to it again for a fresh snapshot."""

    symbol: str
    why: str


class Stale(NamedTuple):
    """The gateway stopped the symbol's updates; the book (if any) is kept, stale, until a snapshot."""

    symbol: str
    reason: str
    sequence: int


class OrderBooks:
    """The books of the symbols this client asked for, on the current connection."""

    def __init__(self, symbols: Iterable[str]) -> None:
        self.symbols = list(dict.fromkeys(symbols))
        self.books: Dict[str, LocalBook] = {}
        #: Symbols subscribed again after a broken book: their updates are dropped until the snapshot.
        self.resyncing: Set[str] = set()

    def on_connected(self) -> None:
        """A new connection starts from the snapshots that answer its subscribe."""
        self.books.clear()
        self.resyncing.clear()

    def receive(self, frame: Union[OrderBookSnapshot, OrderBookUpdate, StateStatus]) -> Union[Applied, Broken, Stale, None]:
        """What a book frame means for the books: None when it is dropped."""
        if frame.symbol not in self.symbols:
            return None
        if isinstance(frame, OrderBookSnapshot):
            self.resyncing.discard(frame.symbol)
            return self._verified(LocalBook(frame.symbol, frame.sequence, frame.bids, frame.asks), frame.checksum)
        if isinstance(frame, OrderBookUpdate):
            if frame.symbol in self.resyncing:
                return None  # on the broken chain: the snapshot asked for is on its way
            book = self.books.get(frame.symbol)
            if book is None:
                return self._broken(frame.symbol, f"update seq {frame.sequence} before any snapshot")
            if frame.prev_sequence != book.sequence:
                return self._broken(
                    frame.symbol, f"update seq {frame.sequence} follows seq {frame.prev_sequence}, not {book.sequence}"
                )
            book.apply(frame.bids, frame.asks)
            book.sequence = frame.sequence
            return self._verified(book, frame.checksum)
        if isinstance(frame, StateStatus) and frame.channel == CHANNEL:
            book = self.books.get(frame.symbol)
            if book is not None:
                book.stale = True
            return Stale(frame.symbol, frame.reason, frame.sequence)
        return None

    def _verified(self, book: LocalBook, expected: int) -> Union[Applied, Broken]:
        computed = book.checksum()
        if computed != expected:
            return self._broken(book.symbol, f"checksum {computed} at seq {book.sequence} is not the gateway's {expected}")
        self.books[book.symbol] = book
        return Applied(book)

    def _broken(self, symbol: str, why: str) -> Broken:
        self.books.pop(symbol, None)
        self.resyncing.add(symbol)
        return Broken(symbol, why)
