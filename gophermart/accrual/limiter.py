"""One pace for every request to the accrual system, however many workers send them.

The accrual system limits the whole service, not an order (SPEC §4.1). After a 429 nobody
sends anything before Retry-After has passed; from then on requests are spaced evenly at the
``N`` per minute the 429 announced — slightly slower, so that network jitter cannot squeeze
N+1 requests into one of its windows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

PACE_MARGIN = 1.02


class RateLimiter:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._paused_until = 0.0
        self._interval: float | None = None
        self._next_slot = 0.0

    def now(self) -> float:
        """The limiter's clock, on which deadlines are given."""
        return self._clock()

    @property
    def interval(self) -> float | None:
        """Seconds between requests once a limit is known; None while unlimited."""
        return self._interval

    def paused_for(self) -> float:
        """Seconds left of the current pause (0 when requests may go)."""
        return max(0.0, self._paused_until - self._clock())

    def pause(self, *, retry_after: float, limit_per_minute: int | None) -> None:
        """A 429: nobody sends before ``retry_after`` seconds from now; then keep the pace."""
        now = self._clock()
        self._paused_until = max(self._paused_until, now + retry_after)
        if limit_per_minute:
            self._interval = 60.0 / limit_per_minute * PACE_MARGIN
        self._next_slot = max(self._next_slot, self._paused_until)

    def next_turn_in(self) -> float:
        """Seconds until a request could go, if it were the next to ask (0: now)."""
        now = self._clock()
        turn = max(self._paused_until, self._next_slot if self._interval is not None else now)
        return max(0.0, turn - now)

    async def acquire(self, *, deadline: float | None = None) -> bool:
        """Wait for this request's turn; True when it may go.

        With a ``deadline`` (on this limiter's clock) a turn that would come later is not
        waited for, nor taken from anyone: False at once. A 429 seen by another worker while
        this one waits moves its turn, so that is checked again after every sleep.
        """
        while True:
            now = self._clock()
            if now < self._paused_until:
                if deadline is not None and self._paused_until > deadline:
                    return False
                await asyncio.sleep(self._paused_until - now)
                continue
            if self._interval is None:
                return True
            slot = max(now, self._next_slot)
            if deadline is not None and slot > deadline:
                return False
            self._next_slot = slot + self._interval
            if slot > now:
                await asyncio.sleep(slot - now)
                if self._clock() < self._paused_until:
                    continue
            return True
