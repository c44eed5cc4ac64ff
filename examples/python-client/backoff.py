"""Reconnect delays: exponential backoff with full jitter.

Full jitter (a uniformly random delay between 0 and the ceiling) spreads the clients of a restarted
gateway over the whole window instead of bringing them back in synchronised waves.
"""

import random
from typing import Optional


class Backoff:
    """The attempt counter between a lost connection and the next stable one."""

    def __init__(
        self,
        initial_delay: float = 0.5,
        max_delay: float = 30.0,
        factor: float = 2.0,
        stable_after: float = 10.0,
        rng: Optional[random.Random] = None,
    ) -> None:
        self.initial_delay = initial_delay
        self.max_delay = max_delay
        self.factor = factor
        #: A connection that stayed open this long (seconds) starts the next retries from the beginning.
        self.stable_after = stable_after
        self.rng = rng or random.Random()
        self.attempt = 0

    def next_delay(self, connected_for: float = 0.0) -> float:
        """Count one more retry and draw its delay; `connected_for` is how long the last connection lasted."""
        if connected_for >= self.stable_after:
            self.attempt = 0
        self.attempt += 1
        ceiling = min(self.max_delay, self.initial_delay * self.factor ** (self.attempt - 1))
        return self.rng.uniform(0, ceiling)
