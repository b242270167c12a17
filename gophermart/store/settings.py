"""Shared service values kept in the database (first writer wins)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gophermart.store import tables
from gophermart.store.dialect import insert

_s = tables.app_setting


async def get_or_create(conn: AsyncConnection, *, key: str, value: str) -> str:
    """Store ``value`` under ``key`` unless a value is there already; return the stored one."""
    await conn.execute(
        insert(conn, _s).values(key=key, value=value).on_conflict_do_nothing(index_elements=["key"])
    )
    stored: str = (await conn.execute(select(_s.c.value).where(_s.c.key == key))).scalar_one()
    return stored
