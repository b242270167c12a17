"""The pub/sub seam and the event vocabulary: in-process, and across PostgreSQL connections."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from gophermart.models.enums import OrderStatus
from gophermart.server.events import (
    EVENTS_CHANNEL,
    UserEvent,
    encode_event,
    parse_event,
    publish_order_change,
    user_events,
)
from gophermart.server.pubsub import (
    MAX_PAYLOAD_BYTES,
    InProcessPubSub,
    PostgresPubSub,
    PubSub,
    SubscriptionLost,
    create_pubsub,
)
from gophermart.services.accrual import OrderChange
from gophermart.store.database import Backend, DatabaseTarget
from tests.conftest import PG_ADMIN_DSN, _pg_admin


async def _next(messages: AsyncIterator[str], timeout: float = 5.0) -> str:
    return await asyncio.wait_for(anext(messages), timeout)


async def test_in_process_delivery() -> None:
    pubsub = InProcessPubSub()
    async with (
        pubsub.subscribe("a") as first,
        pubsub.subscribe("a") as second,
        pubsub.subscribe("b") as other,
    ):
        assert pubsub.subscriber_count("a") == 2
        await pubsub.publish("a", "one")
        await pubsub.publish("a", "two")
        assert [await _next(first), await _next(first)] == ["one", "two"]
        assert [await _next(second), await _next(second)] == ["one", "two"]
        with pytest.raises(TimeoutError):
            await _next(other, timeout=0.05)
    assert pubsub.subscriber_count("a") == 0
    await pubsub.publish("a", "nobody listens")  # not an error
    with pytest.raises(ValueError, match="at most"):
        await pubsub.publish("a", "x" * (MAX_PAYLOAD_BYTES + 1))
    await pubsub.close()


async def test_a_slow_subscriber_is_cut_off_without_blocking_publishers() -> None:
    pubsub = InProcessPubSub(queue_size=3)
    async with pubsub.subscribe("c") as slow, pubsub.subscribe("c") as fast:
        for index in range(3):
            await pubsub.publish("c", str(index))
            assert await _next(fast) == str(index)
        await asyncio.wait_for(pubsub.publish("c", "3"), 0.1)  # the slow queue is full
        assert await _next(fast) == "3"
        # What it held is still delivered, then it learns that it missed something.
        assert [await _next(slow) for _ in range(3)] == ["0", "1", "2"]
        with pytest.raises(SubscriptionLost, match="fell 3 messages behind"):
            await _next(slow)
        await pubsub.publish("c", "4")
        assert await _next(fast) == "4"


async def test_closing_ends_subscriptions() -> None:
    pubsub = InProcessPubSub()
    async with pubsub.subscribe("d") as messages:
        waiting = asyncio.create_task(_next(messages))
        await asyncio.sleep(0)
        await pubsub.close()
        with pytest.raises(SubscriptionLost, match="shutting down"):
            await waiting


def test_events_round_trip_and_malformed_payloads(caplog: pytest.LogCaptureFixture) -> None:
    event = UserEvent(user_id=uuid.uuid4(), order_number="12345678903", balance_changed=True)
    assert parse_event(encode_event(event)) == event
    assert len(encode_event(event).encode()) < 200  # a hint, far below NOTIFY's 8000 bytes
    for bad in ("", "{", "[]", '{"user": "x", "order": null, "balance": true}', '{"user": 1}'):
        assert parse_event(bad) is None
    user = str(uuid.uuid4())
    assert parse_event(f'{{"user": "{user}", "order": 5, "balance": true}}') is None
    assert parse_event(f'{{"user": "{user}", "order": null, "balance": "yes"}}') is None
    assert len([r for r in caplog.records if "malformed" in r.getMessage()]) == 7


async def test_user_events_skip_other_users_and_garbage() -> None:
    pubsub = InProcessPubSub()
    me, someone = uuid.uuid4(), uuid.uuid4()
    change = OrderChange(
        order_number="12345678903",
        user_id=me,
        account_id=uuid.uuid4(),
        status=OrderStatus.PROCESSED,
        credited=500,
    )
    async with user_events(pubsub, user_id=me) as events:
        await pubsub.publish(EVENTS_CHANNEL, "garbage")
        await publish_order_change(
            pubsub, OrderChange("79927398713", someone, None, OrderStatus.NEW, 0)
        )
        await publish_order_change(pubsub, change)
        event = await asyncio.wait_for(anext(events), 5)
    assert event == UserEvent(user_id=me, order_number="12345678903", balance_changed=True)


async def test_publishing_is_best_effort(caplog: pytest.LogCaptureFixture) -> None:
    """An unreachable pub/sub must not fail the caller: the change is already committed."""
    unreachable = PostgresPubSub("postgresql://postgres@127.0.0.1:1/nothing")
    change = OrderChange("12345678903", uuid.uuid4(), None, OrderStatus.PROCESSING, 0)
    await publish_order_change(unreachable, change)
    assert any("could not publish" in r.getMessage() for r in caplog.records)
    await unreachable.close()


@pytest.fixture
async def pg_dsn() -> str:
    """LISTEN/NOTIFY needs no tables: any database of the test server will do."""
    admin = await _pg_admin()  # skips when PostgreSQL is down (fails under CI=true)
    await admin.close()
    return PG_ADMIN_DSN


def _channel() -> str:
    # Unique per test: nothing else listening on the server can interfere, or be interfered with.
    return f"test_{uuid.uuid4().hex}"


async def test_create_pubsub_picks_by_backend(database: DatabaseTarget) -> None:
    pubsub: PubSub = create_pubsub(database)
    expected = PostgresPubSub if database.backend is Backend.POSTGRESQL else InProcessPubSub
    assert isinstance(pubsub, expected)
    await pubsub.close()


async def test_postgres_events_cross_processes(pg_dsn: str) -> None:
    """Two instances, each with its own connection (as two server processes would have)."""
    channel, elsewhere = _channel(), _channel()
    here, there = PostgresPubSub(pg_dsn), PostgresPubSub(pg_dsn)
    try:
        async with here.subscribe(channel) as mine, there.subscribe(channel) as theirs:
            assert (here.subscriber_count(channel), there.subscriber_count(channel)) == (1, 1)
            await there.publish(channel, "from there")
            await here.publish(channel, "from here")
            assert [await _next(mine), await _next(mine)] == ["from there", "from here"]
            assert [await _next(theirs), await _next(theirs)] == ["from there", "from here"]
        async with here.subscribe(elsewhere) as other:
            await there.publish(channel, "not for this channel")
            await there.publish(elsewhere, "ok")
            assert await _next(other) == "ok"
    finally:
        await here.close()
        await there.close()


async def test_postgres_connection_loss_cuts_off_and_recovers(pg_dsn: str) -> None:
    channel = _channel()
    listener, publisher = PostgresPubSub(pg_dsn), PostgresPubSub(pg_dsn)
    admin = await asyncpg.connect(pg_dsn)
    try:
        async with listener.subscribe(channel) as messages:
            await publisher.publish(channel, "before")
            assert await _next(messages) == "before"
            # Whoever ends our session (a restart, a failover, an admin): we must notice.
            ended = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query = $1",
                f'LISTEN "{channel}"',
            )
            assert ended == 1
            with pytest.raises(SubscriptionLost, match="connection was lost"):
                await _next(messages)
        # The next subscription opens a new connection.
        async with listener.subscribe(channel) as again:
            await publisher.publish(channel, "after")
            assert await _next(again) == "after"
    finally:
        await admin.close()
        await listener.close()
        await publisher.close()


async def test_postgres_stops_listening_when_nobody_subscribes(pg_dsn: str) -> None:
    channel = _channel()
    pubsub = PostgresPubSub(pg_dsn)
    try:
        async with pubsub.subscribe(channel):
            assert pubsub.subscriber_count(channel) == 1
        assert pubsub.subscriber_count(channel) == 0
        admin = await asyncpg.connect(pg_dsn)
        try:
            # The session's last statement: UNLISTEN, once its only subscriber left.
            query = await admin.fetchval(
                "SELECT query FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()",
                f"%{channel}%",
            )
        finally:
            await admin.close()
        assert query == f'UNLISTEN "{channel}"'
    finally:
        await pubsub.close()


@pytest.fixture(autouse=True)
def _quiet_expected_warnings(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)


async def test_postgres_fails_fast_while_the_database_is_away() -> None:
    pubsub = PostgresPubSub("postgresql://postgres@127.0.0.1:1/nothing")
    with pytest.raises(ConnectionRefusedError):
        await pubsub.publish("x", "first: a real attempt")
    with pytest.raises(ConnectionError, match="a moment ago"):
        await asyncio.wait_for(pubsub.publish("x", "second: at once"), 0.1)
    await pubsub.close()
