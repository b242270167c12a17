"""The objects the lifespan owns and every interface shares."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

from gophermart.server.events import (
    announce_rate_limit,
    publish_balance_change,
    publish_order_change,
)
from gophermart.server.settings import Settings
from gophermart.services.accrual import OrderChange
from gophermart.services.auth import PasswordHasher, TokenCodec
from gophermart.store.database import Database

if TYPE_CHECKING:
    from gophermart.accrual.poller import Poller
    from gophermart.server.metrics import Metrics
    from gophermart.server.pubsub import PubSub


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    db: Database
    hasher: PasswordHasher
    tokens: TokenCodec
    metrics: Metrics
    pubsub: PubSub  # events for GraphQL subscriptions, across instances
    poller: Poller | None = None

    def order_uploaded(self) -> None:
        """Hand a new order to this process's poller at once (not at its next timer)."""
        if self.poller is not None:
            self.poller.wake()

    async def balance_changed(self, user_id: uuid.UUID) -> None:
        """A withdrawal moved the balance: tell subscribers, in this process and others."""
        await publish_balance_change(self.pubsub, user_id=user_id)

    async def rate_limited(self, retry_after: float, limit_per_minute: int | None) -> None:
        """The poller met a new 429: every instance pauses (see ``server.events``)."""
        await announce_rate_limit(
            self.pubsub, retry_after=retry_after, limit_per_minute=limit_per_minute
        )

    async def order_changed(self, change: OrderChange) -> None:
        """The poller applied an answer that changed an order (and maybe the balance)."""
        if change.credited:
            self.metrics.points_credited.inc(change.credited / 100)
        await publish_order_change(self.pubsub, change)


def app_context(conn: HTTPConnection) -> AppContext:
    context: AppContext = conn.app.state.context
    return context
