"""The few statements whose spelling differs between PostgreSQL and SQLite."""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


def insert(on: AsyncConnection | str, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that supports ``on_conflict_do_*`` for a connection's backend, or for a
    dialect name (as ``LeanStatement`` builders receive it)."""
    name = on if isinstance(on, str) else on.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
