"""The events subscriptions listen for, and their wire form on the pub/sub.

A payload names what changed, never the new state: a NOTIFY carries at most 8000 bytes, and
a subscriber re-reads the order or the balance through the services anyway, so what it sends
is committed state even when events arrive late, twice, or out of order.

Wire form (JSON): ``{"user": "<uuid>", "order": "<number>" | null, "balance": true | false}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import orjson

from gophermart.server.pubsub import PubSub, SubscriptionLost
from gophermart.services.accrual import OrderChange

logger = logging.getLogger("gophermart.events")

EVENTS_CHANNEL = "gophermart_events"


@dataclass(frozen=True, slots=True)
class UserEvent:
    """Something of one user's changed: an order (by number), the balance, or both."""

    user_id: uuid.UUID
    order_number: str | None
    balance_changed: bool


def encode_event(event: UserEvent) -> str:
    return orjson.dumps(
        {
            "user": str(event.user_id),
            "order": event.order_number,
            "balance": event.balance_changed,
        }
    ).decode()


def parse_event(payload: str) -> UserEvent | None:
    """The event in a payload; None (and a warning) for anything malformed."""
    try:
        data = orjson.loads(payload)
        order = data["order"]
        balance = data["balance"]
        if not (order is None or isinstance(order, str)) or not isinstance(balance, bool):
            raise TypeError("wrong field types")
        return UserEvent(
            user_id=uuid.UUID(data["user"]), order_number=order, balance_changed=balance
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        logger.warning("ignoring a malformed event payload: %.200r", payload)
        return None


async def publish_event(pubsub: PubSub, event: UserEvent) -> None:
    """Publish after the change is committed. Best effort: a failure is logged, not raised.

    The change itself is already durable; an event is only a hint to live subscribers, so
    losing one must never make the caller (the poller, a request) fail or repeat its work.
    """
    try:
        await pubsub.publish(EVENTS_CHANNEL, encode_event(event))
    except Exception:
        logger.warning("could not publish %s", event, exc_info=True)


async def publish_order_change(pubsub: PubSub, change: OrderChange) -> None:
    """Tell subscribers about an applied accrual answer (call it after ``apply_result``)."""
    await publish_event(
        pubsub,
        UserEvent(
            user_id=change.user_id,
            order_number=change.order_number,
            balance_changed=change.credited > 0,
        ),
    )


async def publish_balance_change(pubsub: PubSub, *, user_id: uuid.UUID) -> None:
    """Tell subscribers a user's balance moved for another reason (a withdrawal)."""
    await publish_event(pubsub, UserEvent(user_id=user_id, order_number=None, balance_changed=True))


class _UserEvents:
    """The events of one user among all the payloads of the channel."""

    def __init__(self, payloads: AsyncIterator[str], user_id: uuid.UUID) -> None:
        self._payloads = payloads
        self._user_id = user_id

    def __aiter__(self) -> _UserEvents:
        return self

    async def __anext__(self) -> UserEvent:
        async for payload in self._payloads:
            event = parse_event(payload)
            if event is not None and event.user_id == self._user_id:
                return event
        raise StopAsyncIteration


@contextlib.asynccontextmanager
async def user_events(
    pubsub: PubSub, *, user_id: uuid.UUID
) -> AsyncIterator[AsyncIterator[UserEvent]]:
    """Listen for one user's events while the context is open.

    The iterator raises ``SubscriptionLost`` when delivery was interrupted (see pubsub).
    """
    async with pubsub.subscribe(EVENTS_CHANNEL) as payloads:
        yield _UserEvents(payloads, user_id)


# ------------------------------------------------------------------ the accrual system's pauses

PACE_CHANNEL = "gophermart_accrual_pace"
"""A 429 one instance saw: every instance stops asking until Retry-After (SPEC §4.1).

Wire form (JSON): ``{"retry_after": <seconds from now>, "limit": <N a minute> | null}``.
"""

OnRateLimit = Callable[[float, int | None], object]


async def announce_rate_limit(
    pubsub: PubSub, *, retry_after: float, limit_per_minute: int | None
) -> None:
    """Tell every instance about a 429 at once. Best effort: the pause is also in the shared
    pace (``services.pace``), which every instance reads before its next batch."""
    payload = orjson.dumps({"retry_after": retry_after, "limit": limit_per_minute}).decode()
    try:
        await pubsub.publish(PACE_CHANNEL, payload)
    except Exception:
        logger.warning("could not announce the accrual system's rate limit", exc_info=True)


def parse_rate_limit(payload: str) -> tuple[float, int | None] | None:
    try:
        data = orjson.loads(payload)
        retry_after, limit = data["retry_after"], data["limit"]
        if isinstance(retry_after, bool) or not isinstance(retry_after, int | float):
            raise TypeError("retry_after is not a number")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
            raise TypeError("limit is not a whole number")
        return float(retry_after), limit
    except (ValueError, TypeError, KeyError):
        logger.warning("ignoring a malformed rate-limit payload: %.200r", payload)
        return None


async def follow_rate_limits(
    pubsub: PubSub, on_rate_limit: OnRateLimit, *, retry_delay: float = 1.0
) -> None:
    """Hand every announced 429 to ``on_rate_limit`` until cancelled; when the subscription
    is lost (the database went away), subscribe again."""
    while True:
        try:
            async with pubsub.subscribe(PACE_CHANNEL) as payloads:
                async for payload in payloads:
                    parsed = parse_rate_limit(payload)
                    if parsed is not None:
                        on_rate_limit(*parsed)
        except SubscriptionLost:
            logger.info("rate-limit announcements interrupted; listening again")
        except Exception:
            logger.warning("cannot listen for rate-limit announcements", exc_info=True)
        await asyncio.sleep(retry_delay)
