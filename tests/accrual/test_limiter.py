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


async def test_nobody_goes_during_a_pause_then_the_pace_holds() -> None:
    limiter = RateLimiter()
    limiter.pause(retry_after=0.3, limit_per_minute=600)  # then one every 0.1 s (+2 %)
    paused_at = time.monotonic()
    turns = await _turns(limiter, 5)
    assert turns[0] - paused_at >= 0.3 - 0.005
    gaps = [b - a for a, b in itertools.pairwise(turns)]
    assert all(gap >= 0.1 * PACE_MARGIN - 0.005 for gap in gaps), gaps
    assert limiter.interval == pytest.approx(0.1 * PACE_MARGIN)


async def test_a_later_pause_moves_everyone_already_waiting() -> None:
    limiter = RateLimiter()
    limiter.pause(retry_after=0.0, limit_per_minute=300)  # a turn every 0.2 s
    waiting = asyncio.gather(*(limiter.acquire() for _ in range(3)))
    await asyncio.sleep(0.05)
    limiter.pause(retry_after=0.5, limit_per_minute=None)
    paused_at = time.monotonic()
    await waiting
    # The first turn was at once; the two that still waited went after the new pause.
    assert time.monotonic() - paused_at >= 0.5 - 0.005


async def test_a_turn_beyond_the_deadline_is_refused_at_once_and_not_taken() -> None:
    limiter = RateLimiter()
    limiter.pause(retry_after=1.0, limit_per_minute=60)  # then one a second
    started = time.monotonic()
    assert not await limiter.acquire(deadline=limiter.now() + 0.5)
    assert time.monotonic() - started < 0.05
    assert limiter.next_turn_in() == pytest.approx(1.0, abs=0.05)
    # Within the deadline the turn is waited for; the next one is a pace later.
    assert await limiter.acquire(deadline=limiter.now() + 1.5)
    assert limiter.next_turn_in() == pytest.approx(PACE_MARGIN, abs=0.05)
    assert not await limiter.acquire(deadline=limiter.now() + 0.5)
    assert limiter.next_turn_in() == pytest.approx(PACE_MARGIN, abs=0.05)
