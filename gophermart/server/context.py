"""The objects the lifespan owns and every interface shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

from gophermart.server.settings import Settings
from gophermart.services.auth import PasswordHasher, TokenCodec
from gophermart.store.database import Database

if TYPE_CHECKING:
    from gophermart.accrual.poller import Poller
    from gophermart.server.metrics import Metrics


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    db: Database
    hasher: PasswordHasher
    tokens: TokenCodec
    metrics: Metrics
    poller: Poller | None = None

    def order_uploaded(self) -> None:
        """Hand a new order to this process's poller at once (not at its next timer)."""
        if self.poller is not None:
            self.poller.wake()


def app_context(conn: HTTPConnection) -> AppContext:
    context: AppContext = conn.app.state.context
    return context
