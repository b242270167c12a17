"""The shared rate limiter on its own: pauses, the announced pace, and turns with a deadline."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from gophermart.accrual.limiter import PACE_MARGIN, RateLimiter


async def _turns(limiter: RateLimiter, count: int) -> list[float]:
    """When each of ``count`` workers asking at once got its turn."""

    async def one() -> float:
        assert await limiter.acquire()
        return time.monotonic()

    return sorted(await asyncio.gather(*(one() for _ in range(count))))


async def test_unlimited_until_told_otherwise() -> None:
    limiter = RateLimiter()
    started = time.monotonic()
    turns = await _turns(limiter, 20)
    assert turns[-1] - started < 0.05
    assert limiter.interval is None and limiter.next_turn_in() == 0


async def test_nobody_goes_during_a_pause_then_the_booked_turns_keep_the_pace() -> None:
    limiter = RateLimiter()
    limiter.pause(retry_after=0.3, limit_per_minute=600)  # then one every 0.1 s (+2 %)
    paused_at = time.monotonic()
    assert not await limiter.acquire()  # a limit is known: only booked turns may go
    limiter.book(start_in=limiter.paused_for(), interval=0.1 * PACE_MARGIN, count=5)
    turns = await _turns(limiter, 5)
    assert turns[0] - paused_at >= 0.3 - 0.005
    gaps = [b - a for a, b in itertools.pairwise(turns)]
    assert all(gap >= 0.1 * PACE_MARGIN - 0.005 for gap in gaps), gaps
    assert limiter.interval == pytest.approx(0.1 * PACE_MARGIN)


async def test_a_later_pause_voids_the_turns_still_waited_for() -> None:
    limiter = RateLimiter()
    limiter.book(start_in=0.0, interval=0.2, count=3)
    waiting = asyncio.gather(*(limiter.acquire() for _ in range(3)))
    await asyncio.sleep(0.05)
    limiter.pause(retry_after=0.5, limit_per_minute=None)
    paused_at = time.monotonic()
    # The first turn was at once; the two still waiting for theirs lost them to the pause,
    # and are told so when their turn would have come, not after the pause.
    assert await waiting == [True, False, False]
    assert time.monotonic() - paused_at < 0.5


async def test_a_turn_beyond_the_deadline_is_refused_at_once_and_not_taken() -> None:
    limiter = RateLimiter()
    limiter.pause(retry_after=1.0, limit_per_minute=60)  # then one a second
    limiter.book(start_in=1.0, interval=PACE_MARGIN, count=3)
    started = time.monotonic()
    assert not await limiter.acquire(deadline=limiter.now() + 0.5)
    assert time.monotonic() - started < 0.05
    assert limiter.next_turn_in() == pytest.approx(1.0, abs=0.05)
    # Within the deadline the turn is waited for; the next one is a pace later.
    assert await limiter.acquire(deadline=limiter.now() + 1.5)
    assert limiter.next_turn_in() == pytest.approx(PACE_MARGIN, abs=0.05)
    assert not await limiter.acquire(deadline=limiter.now() + 0.5)
    assert limiter.next_turn_in() == pytest.approx(PACE_MARGIN, abs=0.05)


async def test_with_a_limit_only_booked_turns_are_taken() -> None:
    limiter = RateLimiter()
    limiter.book(start_in=0.2, interval=0.05, count=3)
    started = time.monotonic()
    turns = [await limiter.acquire() for _ in range(3)]
    assert turns == [True, True, True]
    assert time.monotonic() - started >= 0.2 + 2 * 0.05 - 0.01
    # The fourth was not booked: refused at once, and left for the next booking.
    assert not await limiter.acquire()
    assert limiter.next_turn_in() == pytest.approx(0.0, abs=0.06)


async def test_without_a_limit_a_booking_is_only_a_pause() -> None:
    limiter = RateLimiter()
    limiter.book(start_in=0.2, interval=None, count=5)
    assert limiter.paused_for() == pytest.approx(0.2, abs=0.02)
    started = time.monotonic()
    turns = await _turns(limiter, 10)
    assert turns[0] - started >= 0.2 - 0.005 and turns[-1] - turns[0] < 0.05


async def test_a_pause_cancels_the_turns_booked_before_it() -> None:
    limiter = RateLimiter()
    limiter.book(start_in=0.0, interval=0.05, count=10)
    assert await limiter.acquire()
    assert limiter.pause(retry_after=0.2, limit_per_minute=1200)  # news: a pause
    assert not limiter.pause(retry_after=0.2, limit_per_minute=1200)  # the same one again
    assert not await limiter.acquire()  # the rest of the booking fell inside the pause
    assert limiter.next_turn_in() == pytest.approx(0.2, abs=0.02)


async def test_a_booking_that_missed_an_announced_pause_books_nothing() -> None:
    """Another instance's 429 arrived (announced) before the shared pace showed it: the
    unlimited booking made meanwhile must not undo the pause and pace just learned."""
    limiter = RateLimiter()
    limiter.pause_announced(0.3, 600)
    limiter.book(start_in=0.0, interval=None, count=5)
    assert limiter.interval == pytest.approx(0.1 * PACE_MARGIN)
    assert not await limiter.acquire()
    assert limiter.next_turn_in() == pytest.approx(0.3, abs=0.02)
