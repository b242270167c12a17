"""The objects the lifespan owns and every interface shares."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from gophermart.server.settings import Settings
from gophermart.services.auth import PasswordHasher, TokenCodec
from gophermart.store.database import Database


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    db: Database
    hasher: PasswordHasher
    tokens: TokenCodec


def app_context(conn: HTTPConnection) -> AppContext:
    context: AppContext = conn.app.state.context
    return context
