"""Shared service values kept in the database (first writer wins)."""

from __future__ import annotations

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from gophermart.store import tables
from gophermart.store.dialect import insert
from gophermart.store.lean import LeanConnection, LeanStatement

_s = tables.app_setting


def _insert_if_missing(dialect_name: str) -> postgresql.Insert | sqlite.Insert:
    statement = insert(dialect_name, _s)
    return statement.values(key=bindparam("key"), value=bindparam("value")).on_conflict_do_nothing(
        index_elements=["key"]
    )


_INSERT_IF_MISSING = LeanStatement(_insert_if_missing)
_READ = LeanStatement(select(_s.c.value).where(_s.c.key == bindparam("key")))
# A write that changes nothing, to lock the row: a row lock on PostgreSQL, and on SQLite the
# database's write lock, which a SELECT (even spelled FOR UPDATE) would not take.
_TOUCH = LeanStatement(update(_s).where(_s.c.key == bindparam("key")).values(value=_s.c.value))
_WRITE = LeanStatement(
    update(_s).where(_s.c.key == bindparam("key")).values(value=bindparam("value"))
)


async def read(conn: LeanConnection, *, key: str) -> str | None:
    row = await conn.fetchrow(_READ, key=key)
    return None if row is None else str(row[0])


async def get_or_create(conn: LeanConnection, *, key: str, value: str) -> str:
    """Store ``value`` under ``key`` unless a value is there already; return the stored one."""
    await conn.execute(_INSERT_IF_MISSING, key=key, value=value)
    stored = await read(conn, key=key)
    assert stored is not None
    return stored


async def lock(conn: LeanConnection, *, key: str, default: str) -> str:
    """The value under ``key`` (``default`` stored first if there is none), locked until the
    transaction ends: read it, decide, ``write`` it, with no other instance in between."""
    if not await conn.execute(_TOUCH, key=key):
        await conn.execute(_INSERT_IF_MISSING, key=key, value=default)
        await conn.execute(_TOUCH, key=key)  # someone else's insert may have won: lock that
    row = await conn.fetchrow(_READ, key=key)
    assert row is not None
    return str(row[0])


async def write(conn: LeanConnection, *, key: str, value: str) -> None:
    await conn.execute(_WRITE, key=key, value=value)
