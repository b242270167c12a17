"""The accrual system's rate limit, shared by every instance on the database.

The limit is for the whole service (SPEC §4.1), so instances must not each spend it. The
pace lives in ``app_setting`` (one JSON value): until when nobody may ask (the last 429's
Retry-After), the announced ``N`` per minute, and the next free turn. Before asking about a
batch of orders an instance books that many consecutive turns, so that the turns of all
instances together are spaced at ``N`` a minute; a 429 is written there too (and announced
at once through the pub/sub by the caller, for the requests already booked).

Times are wall-clock seconds (``time.time()``) and answers are relative ("in 0.4 s"), so
instances need clocks that agree about as well as for the claims' leases. A learned limit
is forgotten ``LIMIT_MEMORY`` seconds after the last 429: should the accrual system raise
its limit, the service finds out at the cost of one 429 an hour.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import orjson

from gophermart.store import settings as settings_store
from gophermart.store.database import Database
from gophermart.store.lean import LeanConnection

PACE_SETTING_KEY = "accrual_pace"
# Requests are spaced this much slower than N a minute, so that network jitter cannot
# squeeze N + 1 of them into one of the accrual system's windows.
PACE_MARGIN = 1.02
LIMIT_MEMORY = 3600.0

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class _Pace:
    paused_until: float = 0.0
    next_turn: float = 0.0
    limit_per_minute: int | None = None
    limited_at: float = 0.0

    def interval(self, now: float) -> float | None:
        if self.limit_per_minute is None or now - self.limited_at > LIMIT_MEMORY:
            return None
        return 60.0 / self.limit_per_minute * PACE_MARGIN


_UNLIMITED = orjson.dumps(asdict(_Pace())).decode()


def _parse(value: str | None) -> _Pace:
    return _Pace(**orjson.loads(value)) if value else _Pace()


@dataclass(frozen=True, slots=True)
class Turns:
    """A run of consecutive turns booked to ask the accrual system."""

    start_in: float  # seconds from now to the first (0: at once)
    interval: float | None  # None: no limit known, nothing booked: ask as fast as you like
    count: int  # how many were booked (with a limit; may be fewer than asked for)


async def note_rate_limit(
    *, db: Database, retry_after: float, limit_per_minute: int | None, clock: Clock = time.time
) -> None:
    """A 429: nobody books a turn before ``retry_after`` seconds from now; the announced
    ``limit_per_minute`` (when the body gave one) sets the pace from then on."""
    now = clock()
    async with db.lean_transaction() as conn:
        pace = await _locked(conn)
        paused_until = max(pace.paused_until, now + retry_after)
        await _save(
            conn,
            replace(
                pace,
                paused_until=paused_until,
                next_turn=max(pace.next_turn, paused_until),
                limit_per_minute=limit_per_minute or pace.limit_per_minute,
                limited_at=now,
            ),
        )


async def book_turns(*, db: Database, count: int, within: float, clock: Clock = time.time) -> Turns:
    """Book up to ``count`` consecutive turns to ask the accrual system, after every turn
    booked before by any instance and after any pause; only turns that come within
    ``within`` seconds are booked (a claim's lease would not outlast a later one).

    While no limit is known nothing is booked (one read): the turns are "now", or when the
    current pause ends.
    """
    now = clock()
    async with db.lean_read() as conn:
        pace = _parse(await settings_store.read(conn, key=PACE_SETTING_KEY))
    if pace.interval(now) is not None:
        async with db.lean_transaction() as conn:
            pace = await _locked(conn)
            interval = pace.interval(now)
            if interval is not None:  # still known: not forgotten meanwhile
                start = max(now, pace.paused_until, pace.next_turn)
                fits = math.floor((now + within - start) / interval) + 1
                booked = max(0, min(count, fits))
                if booked:
                    await _save(conn, replace(pace, next_turn=start + booked * interval))
                return Turns(start_in=start - now, interval=interval, count=booked)
    return Turns(start_in=max(0.0, pace.paused_until - now), interval=None, count=count)


async def _locked(conn: LeanConnection) -> _Pace:
    return _parse(await settings_store.lock(conn, key=PACE_SETTING_KEY, default=_UNLIMITED))


async def _save(conn: LeanConnection, pace: _Pace) -> None:
    await settings_store.write(
        conn, key=PACE_SETTING_KEY, value=orjson.dumps(asdict(pace)).decode()
    )
