"""Publish/subscribe between server processes: a channel name and a small string payload.

Two implementations behind one Protocol, picked by ``create_pubsub``:

- ``InProcessPubSub`` — one process (SQLite deployments, tests): plain asyncio.
- ``PostgresPubSub`` — ``LISTEN``/``NOTIFY`` on ONE dedicated asyncpg connection per process,
  so an event published by any instance reaches the subscribers of every instance that shares
  the database (SPEC §8).

Delivery is live and at most once: nothing is kept for a process that is not listening, so a
payload is a hint ("this changed"), and subscribers re-read the state it names.

Overflow policy: every subscriber has a bounded queue (``SUBSCRIBER_QUEUE_SIZE`` messages) and
publishing never waits for a subscriber. A subscriber that falls a whole queue behind is cut
off: after the messages it already holds, its iterator raises ``SubscriptionLost``. Dropping
messages quietly would leave it showing stale state forever; cut off, its owner knows to
subscribe again and re-read. For the same reason, losing the PostgreSQL listening connection
cuts off every subscriber of the process (notifications sent meanwhile are gone); the
connection is opened again by the next ``subscribe`` or ``publish``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import asyncpg

from gophermart.store.database import Backend, DatabaseTarget

logger = logging.getLogger("gophermart.pubsub")

SUBSCRIBER_QUEUE_SIZE = 256
# PostgreSQL refuses a NOTIFY payload of 8000 bytes or more; both implementations enforce it
# so that code tested on one backend does not fail on the other.
MAX_PAYLOAD_BYTES = 7999
CONNECT_TIMEOUT_SECONDS = 10.0
# After a failed connect, callers fail at once for this long instead of each waiting for a
# connect of their own: a publisher (the poller) must not crawl while the database is away.
RECONNECT_DELAY_SECONDS = 1.0


class SubscriptionLost(Exception):
    """The subscription stopped receiving: it fell behind, or the listener connection dropped.

    Messages published after this point were not delivered to it; subscribe again and re-read.
    """


class PubSub(Protocol):
    async def publish(self, channel: str, payload: str) -> None:
        """Send ``payload`` to every current subscriber of ``channel``, in any process."""

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[AsyncIterator[str]]:
        """Listen to ``channel`` while the context is open; the iterator yields payloads.

        Once the context is entered, every later ``publish`` to the channel is delivered.
        """

    def subscriber_count(self, channel: str) -> int:
        """Subscribers of ``channel`` in this process that are listening now."""

    async def close(self) -> None:
        """Release the resources; current subscribers get SubscriptionLost."""


def check_payload(payload: str) -> None:
    if len(payload.encode()) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"a pub/sub payload must be at most {MAX_PAYLOAD_BYTES} bytes")


class Subscription:
    """The messages of one channel for one subscriber, in order (an async iterator)."""

    def __init__(self, channel: str, *, limit: int) -> None:
        self.channel = channel
        self.listening = False
        self._limit = limit
        self._messages: deque[str] = deque()
        self._arrived = asyncio.Event()
        self._lost: str | None = None

    def deliver(self, payload: str) -> None:
        """Queue a message; never blocks (see the overflow policy in the module docstring)."""
        if self._lost is not None:
            return
        if len(self._messages) >= self._limit:
            logger.warning(
                "a subscriber of %s fell %d messages behind and was cut off",
                self.channel,
                self._limit,
            )
            self.lose(f"fell {self._limit} messages behind")
            return
        self._messages.append(payload)
        self._arrived.set()

    def lose(self, reason: str) -> None:
        if self._lost is None:
            self._lost = reason
            self._arrived.set()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> str:
        while not self._messages:
            if self._lost is not None:
                raise SubscriptionLost(f"the subscription to {self.channel} {self._lost}")
            self._arrived.clear()
            await self._arrived.wait()
        return self._messages.popleft()


class _Fanout:
    """This process's subscribers, by channel."""

    def __init__(self, queue_size: int) -> None:
        self._queue_size = queue_size
        self._channels: dict[str, set[Subscription]] = {}

    def add(self, channel: str) -> Subscription:
        subscription = Subscription(channel, limit=self._queue_size)
        self._channels.setdefault(channel, set()).add(subscription)
        return subscription

    def remove(self, subscription: Subscription) -> None:
        subscribers = self._channels.get(subscription.channel)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._channels[subscription.channel]

    def has_subscribers(self, channel: str) -> bool:
        return channel in self._channels

    def count(self, channel: str) -> int:
        return sum(1 for s in self._channels.get(channel, ()) if s.listening)

    def deliver(self, channel: str, payload: str) -> None:
        for subscription in tuple(self._channels.get(channel, ())):
            subscription.deliver(payload)

    def lose_all(self, reason: str) -> None:
        for subscribers in self._channels.values():
            for subscription in subscribers:
                subscription.lose(reason)


class InProcessPubSub:
    """Subscribers and publishers in one process, connected by bounded in-memory queues."""

    def __init__(self, *, queue_size: int = SUBSCRIBER_QUEUE_SIZE) -> None:
        self._fanout = _Fanout(queue_size)

    async def publish(self, channel: str, payload: str) -> None:
        check_payload(payload)
        self._fanout.deliver(channel, payload)

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[str]]:
        subscription = self._fanout.add(channel)
        subscription.listening = True
        try:
            yield subscription
        finally:
            self._fanout.remove(subscription)

    def subscriber_count(self, channel: str) -> int:
        return self._fanout.count(channel)

    async def close(self) -> None:
        self._fanout.lose_all("ended: the server is shutting down")


class PostgresPubSub:
    """LISTEN/NOTIFY on one dedicated connection per process, shared by every subscriber.

    The process LISTENs to a channel while it has at least one subscriber to it, and
    publishes with ``pg_notify`` on the same connection (PostgreSQL delivers a session's own
    notifications to it too, so local and remote subscribers are served the same way).
    ``pg_notify`` runs outside any transaction, so it is delivered at once: publish only
    after the change it announces is committed.
    """

    def __init__(self, dsn: str, *, queue_size: int = SUBSCRIBER_QUEUE_SIZE) -> None:
        self._dsn = dsn
        self._fanout = _Fanout(queue_size)
        self._conn: Any = None  # asyncpg.Connection; asyncpg ships no type information
        self._listening: set[str] = set()
        # asyncpg runs one command at a time on a connection.
        self._lock = asyncio.Lock()
        self._closed = False
        self._retry_at = 0.0

    async def _connection(self) -> Any:
        """The listening connection, opened (again) if needed. Call with the lock held."""
        if self._closed:
            raise RuntimeError("the pub/sub is closed")
        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        loop = asyncio.get_running_loop()
        if loop.time() < self._retry_at:
            raise ConnectionError("the pub/sub connection failed a moment ago")
        try:
            conn = await asyncpg.connect(self._dsn, timeout=CONNECT_TIMEOUT_SECONDS)
        except Exception:
            self._retry_at = loop.time() + RECONNECT_DELAY_SECONDS
            raise
        conn.add_termination_listener(self._on_connection_lost)
        self._conn = conn
        self._listening.clear()
        return conn

    def _on_connection_lost(self, conn: Any) -> None:
        if conn is not self._conn:
            return
        self._conn = None
        self._listening.clear()
        if not self._closed:
            logger.warning("the PostgreSQL pub/sub connection was lost; subscribers cut off")
            self._fanout.lose_all("was interrupted: the database connection was lost")

    def _on_notification(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        self._fanout.deliver(channel, payload)

    async def publish(self, channel: str, payload: str) -> None:
        check_payload(payload)
        async with self._lock:
            conn = await self._connection()
            await conn.execute("SELECT pg_notify($1, $2)", channel, payload)

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[str]]:
        # Registered before LISTEN, so nothing that arrives in between is missed.
        subscription = self._fanout.add(channel)
        try:
            async with self._lock:
                conn = await self._connection()
                if channel not in self._listening:
                    await conn.add_listener(channel, self._on_notification)
                    self._listening.add(channel)
            subscription.listening = True
            yield subscription
        finally:
            self._fanout.remove(subscription)
            await self._unlisten_if_unused(channel)

    async def _unlisten_if_unused(self, channel: str) -> None:
        async with self._lock:
            # Checked under the lock: a new subscriber may have come while we waited for it.
            if self._fanout.has_subscribers(channel) or channel not in self._listening:
                return
            self._listening.discard(channel)
            conn = self._conn
            if conn is None or conn.is_closed():
                return
            try:
                await conn.remove_listener(channel, self._on_notification)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                logger.warning("could not stop listening to %s", channel, exc_info=True)

    def subscriber_count(self, channel: str) -> int:
        return self._fanout.count(channel)

    async def close(self) -> None:
        self._closed = True
        self._fanout.lose_all("ended: the server is shutting down")
        async with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None and not conn.is_closed():
                await conn.close(timeout=5)


def create_pubsub(target: DatabaseTarget) -> PubSub:
    """LISTEN/NOTIFY on PostgreSQL (several instances may share it); in-process on SQLite."""
    if target.backend is Backend.POSTGRESQL:
        return PostgresPubSub(target.dsn)
    return InProcessPubSub()
