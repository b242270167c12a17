"""The turns this process takes to ask the accrual system.

The accrual system limits the whole service, not an order (SPEC §4.1). After a 429 nobody
sends anything before Retry-After has passed; from then on requests are spaced evenly at the
``N`` per minute the 429 announced — slightly slower, so that network jitter cannot squeeze
N+1 requests into one of its windows.

With several instances the turns are booked from the pace they share (``services.pace``):
once a limit is known, this process asks only in the turns it booked, and a pause announced
by any instance stops it at once. A turn it cannot have is refused, never taken, so that
the caller can hand the order back for later.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from gophermart.services.pace import PACE_MARGIN

__all__ = ["PACE_MARGIN", "RateLimiter"]


class RateLimiter:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._paused_until = 0.0
        self._interval: float | None = None
        self._next_slot = 0.0
        # With a known limit: the end of the turns booked for this process (None: no limit
        # known, so nothing is booked and turns are not counted).
        self._booked_until: float | None = None

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

    def pause(self, *, retry_after: float, limit_per_minute: int | None) -> bool:
        """A 429: nobody sends before ``retry_after`` seconds from now; then keep the pace.

        True when that is news: the pause ends later, or the pace changed (the requests in
        flight when a limit is hit come back 429 together; one of them is worth telling).
        Turns booked before no longer hold: the next ones are booked after the pause.
        """
        now = self._clock()
        # Within 10 ms counts as the same pause: Retry-After is whole seconds.
        news = now + retry_after > self._paused_until + 0.01
        self._paused_until = max(self._paused_until, now + retry_after)
        if limit_per_minute:
            interval = 60.0 / limit_per_minute * PACE_MARGIN
            news = news or interval != self._interval
            self._interval = interval
        self._next_slot = max(self._next_slot, self._paused_until)
        if self._interval is not None:
            self._booked_until = min(self._booked_until or 0.0, self._paused_until)
        return news

    def pause_announced(self, retry_after: float, limit_per_minute: int | None) -> None:
        """Another instance (or this one) announced a 429."""
        self.pause(retry_after=retry_after, limit_per_minute=limit_per_minute)

    def book(self, *, start_in: float, interval: float | None, count: int) -> None:
        """Follow the shared pace: ``count`` turns ``interval`` apart, from ``start_in``
        seconds from now, are this process's (``interval`` None: no limit is known, only a
        pause until ``start_in``)."""
        now = self._clock()
        if interval is None and self._interval is not None and now < self._paused_until:
            # An announced 429 that the shared pace did not show yet when these turns were
            # booked: nothing is booked until it does.
            self._booked_until = self._paused_until
            return
        self._interval = interval
        if interval is None:
            self._paused_until = max(self._paused_until, now + start_in)
            self._booked_until = None
            return
        # The booked times exactly: a pause that came since only means fewer of them are used.
        self._next_slot = now + start_in
        self._booked_until = self._next_slot + count * interval

    def next_turn_in(self) -> float:
        """Seconds until a request could go, if it were the next to ask (0: now)."""
        now = self._clock()
        turn = max(self._paused_until, self._next_slot if self._interval is not None else now)
        return max(0.0, turn - now)

    async def acquire(self, *, deadline: float | None = None) -> bool:
        """Wait for this request's turn; True when it may go.

        A turn that would come after ``deadline`` (on this limiter's clock), or that was not
        booked, is not waited for, nor taken from anyone: False at once. A 429 seen while
        this one waits voids its turn, so that is checked again after every sleep.
        """
        while True:
            now = self._clock()
            if self._interval is None:
                if now >= self._paused_until:
                    return True
                if deadline is not None and self._paused_until > deadline:
                    return False
                await asyncio.sleep(self._paused_until - now)
                continue
            slot = max(now, self._paused_until, self._next_slot)
            if deadline is not None and slot > deadline:
                return False
            # Half an interval of tolerance: the last booked turn ends at _booked_until.
            if self._booked_until is not None and slot > self._booked_until - self._interval / 2:
                return False
            self._next_slot = slot + self._interval
            if slot > now:
                await asyncio.sleep(slot - now)
                if self._clock() < self._paused_until:
                    continue
            return True
