"""Resume of the trades channel: where the client stands, and the frames held while the gateway replays.

Every trade frame carries its position (`seq`, `epoch`). The client keeps the last one it printed
and sends it back as `since` when it subscribes again after a reconnect; the gateway answers
`subscribed` with `recovered`, replays what was missed, then sends `replayed`.

On a new connection the gateway sends live trades at once (every channel starts subscribed), and the
replay that follows the resume is older than those. So from the welcome until the resume is answered
the client holds trade frames, then prints them in `seq` order, each once.
"""

from typing import List, Optional

from gateway_models import ChannelPosition, ResumePosition, TradeExecuted


class TradeResume:
    def __init__(self) -> None:
        #: The last trade printed (or the head the gateway reported before any trade).
        self.position: Optional[ResumePosition] = None
        self.holding = False
        self.held: List[TradeExecuted] = []

    def on_connected(self) -> Optional[ResumePosition]:
        """A new connection: start holding trades if there is something to resume. Returns `since`."""
        self.holding = self.position is not None
        self.held = []
        return self.position

    def accept(self, trade: TradeExecuted) -> List[TradeExecuted]:
        """A trade frame arrived: the trades to print now."""
        if self.holding:
            self.held.append(trade)
            return []
        return self._new([trade])

    def release(self, head: Optional[ChannelPosition] = None) -> List[TradeExecuted]:
        """The resume was answered (replayed, refused, or no resume at all): the held trades, in order.

        `head` is where the gateway says the subscription starts; with nothing printed yet in its
        epoch, the next resume starts from there, so trades published while away are not missed.
        """
        held, self.held, self.holding = self.held, [], False
        printable = self._new(sorted(held, key=lambda trade: trade.seq))
        if head is not None and (self.position is None or self.position.epoch != head.epoch):
            self.position = ResumePosition(seq=head.seq, epoch=head.epoch)
        return printable

    def _new(self, trades: List[TradeExecuted]) -> List[TradeExecuted]:
        fresh = []
        for trade in trades:
            seen = self.position
            if seen is not None and trade.epoch == seen.epoch and trade.seq <= seen.seq:
                continue  # printed before this reconnect
            self.position = ResumePosition(seq=trade.seq, epoch=trade.epoch)
            fresh.append(trade)
        return fresh
