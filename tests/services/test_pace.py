"""The accrual system's pace, shared through the database by every instance."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from gophermart.services import pace
from gophermart.services.pace import LIMIT_MEMORY, PACE_MARGIN, PACE_SETTING_KEY, Turns
from gophermart.store import settings as settings_store
from gophermart.store.database import Database, DatabaseTarget

T0 = 1_800_000_000.0  # a fixed wall clock: the pace is compared to "now" only


def at(seconds: float) -> pace.Clock:
    return lambda: T0 + seconds


async def stored(db: Database) -> dict[str, float | int | None] | None:
    async with db.lean_read() as conn:
        value = await settings_store.read(conn, key=PACE_SETTING_KEY)
    return None if value is None else orjson.loads(value)


async def test_without_a_limit_nothing_is_booked_or_stored(db: Database) -> None:
    turns = await pace.book_turns(db=db, count=40, within=15, clock=at(0))
    assert turns == Turns(start_in=0.0, interval=None, count=40)
    assert await stored(db) is None


async def test_after_a_429_turns_start_when_the_pause_ends_and_follow_each_other(
    db: Database,
) -> None:
    await pace.note_rate_limit(db=db, retry_after=2, limit_per_minute=600, clock=at(0))
    interval = 0.1 * PACE_MARGIN
    first = await pace.book_turns(db=db, count=5, within=15, clock=at(0.5))
    assert first.count == 5 and first.interval == pytest.approx(interval)
    assert first.start_in == pytest.approx(1.5)
    second = await pace.book_turns(db=db, count=3, within=15, clock=at(0.5))
    assert second.start_in == pytest.approx(1.5 + 5 * interval)
    state = await stored(db)
    assert state is not None
    assert state["paused_until"] == pytest.approx(T0 + 2)
    assert state["next_turn"] == pytest.approx(T0 + 2 + 8 * interval)
    assert state["limit_per_minute"] == 600


async def test_only_turns_within_the_window_are_booked(db: Database) -> None:
    await pace.note_rate_limit(db=db, retry_after=1, limit_per_minute=60, clock=at(0))
    # One turn a second (and 2 %): from 1 s on, only those before 3.5 s fit.
    turns = await pace.book_turns(db=db, count=10, within=3.5, clock=at(0))
    assert turns.count == 3
    later = await pace.book_turns(db=db, count=10, within=3.5, clock=at(0))
    assert later.count == 0 and later.start_in == pytest.approx(1 + 3 * PACE_MARGIN)
    # Nothing booked the second time: the next one still starts where the first run ended.
    again = await pace.book_turns(db=db, count=1, within=10, clock=at(0))
    assert again.start_in == pytest.approx(1 + 3 * PACE_MARGIN)


async def test_a_pause_without_a_limit_delays_but_does_not_pace(db: Database) -> None:
    await pace.note_rate_limit(db=db, retry_after=3, limit_per_minute=None, clock=at(0))
    assert await pace.book_turns(db=db, count=7, within=15, clock=at(1)) == Turns(
        start_in=2.0, interval=None, count=7
    )
    assert await pace.book_turns(db=db, count=7, within=15, clock=at(4)) == Turns(
        start_in=0.0, interval=None, count=7
    )


async def test_a_limit_is_forgotten_an_hour_after_the_last_429(db: Database) -> None:
    await pace.note_rate_limit(db=db, retry_after=1, limit_per_minute=600, clock=at(0))
    assert (await pace.book_turns(db=db, count=1, within=15, clock=at(10))).interval is not None
    forgotten = await pace.book_turns(db=db, count=1, within=15, clock=at(LIMIT_MEMORY + 1))
    assert forgotten == Turns(start_in=0.0, interval=None, count=1)
    # A later 429 without a body keeps the N learned before, and the hour starts again.
    await pace.note_rate_limit(
        db=db, retry_after=1, limit_per_minute=None, clock=at(LIMIT_MEMORY + 2)
    )
    renewed = await pace.book_turns(db=db, count=1, within=15, clock=at(LIMIT_MEMORY + 2))
    assert renewed.interval == pytest.approx(0.1 * PACE_MARGIN)


async def test_instances_booking_at_once_get_turns_of_their_own(
    database: DatabaseTarget, db: Database
) -> None:
    """Two instances (two pools) booking together: no turn is handed out twice, none lost."""
    await pace.note_rate_limit(db=db, retry_after=1, limit_per_minute=6000, clock=at(0))
    other = Database(database, pool_size=5)
    try:
        runs = await asyncio.gather(
            *(
                pace.book_turns(db=(db, other)[index % 2], count=3, within=60, clock=at(0))
                for index in range(20)
            )
        )
    finally:
        await other.dispose()
    interval = 0.01 * PACE_MARGIN
    starts = sorted(round((run.start_in - 1) / interval) for run in runs)
    assert starts == [3 * index for index in range(20)]
