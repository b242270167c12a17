"""Engines and units of work for both backends.

PostgreSQL: one pool; row locks and conditional UPDATEs serialise money moves.
SQLite: one process, one writer. All writes go through a single pooled connection, so
transactions queue in-process instead of failing with SQLITE_BUSY when a reader's snapshot
would have to be upgraded; reads use a separate pool and, in WAL mode, never wait for writes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine


class Backend(StrEnum):
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


@dataclass(frozen=True)
class DatabaseTarget:
    """Where the data lives: the backend and how to reach it.

    For PostgreSQL ``dsn`` is the libpq URI exactly as configured; asyncpg parses it itself
    (``sslmode``, ``connect_timeout``, …), so it behaves as documented for libpq.
    For SQLite ``dsn`` is the database file path.
    """

    backend: Backend
    dsn: str

    @property
    def display(self) -> str:
        """The location without a password, for logs."""
        if self.backend is Backend.SQLITE:
            return f"sqlite:///{self.dsn}"
        scheme, _, rest = self.dsn.partition("://")
        creds, at, host = rest.rpartition("@")
        if at and ":" in creds:
            creds = creds.split(":", 1)[0] + ":***"
        return f"{scheme}://{creds}{at}{host}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: readers never block the writer. synchronous=NORMAL in WAL survives a process crash
    # (kill -9) without losing a commit; only a power loss can drop the last transactions.
    for pragma in (
        "PRAGMA journal_mode=WAL",
        "PRAGMA synchronous=NORMAL",
        "PRAGMA foreign_keys=ON",
        "PRAGMA busy_timeout=10000",
    ):
        cursor.execute(pragma)
    cursor.close()


class Database:
    """The engines of one database and the two kinds of unit of work the services use."""

    def __init__(self, target: DatabaseTarget, *, pool_size: int = 10) -> None:
        self.target = target
        self.backend = target.backend
        if target.backend is Backend.POSTGRESQL:
            dsn = target.dsn

            async def connect() -> asyncpg.Connection:
                return await asyncpg.connect(dsn)

            self.engine = create_async_engine(
                "postgresql+asyncpg://",
                async_creator=connect,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=False,
            )
            self.write_engine = self.engine
        else:
            url = f"sqlite+aiosqlite:///{target.dsn}"
            self.engine = create_async_engine(url, pool_size=pool_size, max_overflow=0)
            self.write_engine = create_async_engine(url, pool_size=1, max_overflow=0)
            for engine in (self.engine, self.write_engine):
                event.listen(engine.sync_engine, "connect", _sqlite_pragmas)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A read-write transaction: committed when the block ends, rolled back on error."""
        async with self.write_engine.begin() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only unit of work (one snapshot on PostgreSQL and in WAL mode)."""
        async with self.engine.connect() as conn:
            yield conn

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.write_engine is not self.engine:
            await self.write_engine.dispose()
