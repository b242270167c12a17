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

    async def acquire(self) -> None:
        """Wait for this request's turn."""
        while True:
            now = self._clock()
            if now < self._paused_until:
                await asyncio.sleep(self._paused_until - now)
                continue
            if self._interval is None:
                return
            slot = max(now, self._next_slot)
            self._next_slot = slot + self._interval
            if slot > now:
                await asyncio.sleep(slot - now)
                # A 429 seen by another worker while we slept moves everyone's turn.
                if self._clock() < self._paused_until:
                    continue
            return
