"""Statements of the user aggregate: users, credentials, loyalty accounts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gophermart.models.types import uuid7
from gophermart.services.records import Principal
from gophermart.store import tables
from gophermart.store.dialect import insert
from gophermart.store.lean import LeanConnection, LeanShapes, in_list, in_list_of


@dataclass(frozen=True, slots=True)
class Credentials:
    principal: Principal
    login: str
    password_hash: str


async def create_user(
    conn: AsyncConnection, *, login: str, login_key: str, password_hash: str, now: datetime
) -> Principal | None:
    """Insert a user with an empty loyalty account; None when the login is taken.

    On None the caller must roll back: the user and account rows were already inserted.
    """
    principal = Principal(user_id=uuid7(), account_id=uuid7())
    await conn.execute(tables.loyalty_account.insert().values(id=principal.account_id))
    await conn.execute(
        tables.user.insert().values(
            id=principal.user_id, loyalty_account_id=principal.account_id, created_at=now
        )
    )
    statement = (
        insert(conn, tables.user_account)
        .values(
            id=uuid7(),
            user_id=principal.user_id,
            login=login,
            login_key=login_key,
            password_hash=password_hash,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["login_key"])
        .returning(tables.user_account.c.id)
    )
    inserted = (await conn.execute(statement)).first()
    return principal if inserted is not None else None


async def find_credentials(conn: AsyncConnection, *, login_key: str) -> Credentials | None:
    ua, u = tables.user_account, tables.user
    statement = (
        select(u.c.id, u.c.loyalty_account_id, ua.c.login, ua.c.password_hash)
        .join(u, u.c.id == ua.c.user_id)
        .where(ua.c.login_key == login_key)
    )
    row = (await conn.execute(statement)).first()
    if row is None:
        return None
    return Credentials(
        principal=Principal(user_id=row.id, account_id=row.loyalty_account_id),
        login=row.login,
        password_hash=row.password_hash,
    )


async def update_password_hash(
    conn: AsyncConnection, *, user_id: uuid.UUID, password_hash: str
) -> None:
    ua = tables.user_account
    await conn.execute(
        update(ua).where(ua.c.user_id == user_id).values(password_hash=password_hash)
    )


async def find_login(conn: AsyncConnection, *, user_id: uuid.UUID) -> str | None:
    ua = tables.user_account
    return (
        await conn.execute(select(ua.c.login).where(ua.c.user_id == user_id))
    ).scalar_one_or_none()


_FIND_LOGINS = LeanShapes[int](
    lambda size: select(tables.user_account.c.user_id, tables.user_account.c.login).where(
        in_list_of(tables.user_account.c.user_id, "id_", size)
    )
)


async def find_logins(
    conn: LeanConnection, *, user_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The logins of several users in one statement (users not found are absent)."""
    ids = in_list("id_", sorted(set(user_ids)))
    rows = await conn.fetch(_FIND_LOGINS[len(ids)], **ids)
    return {row[0]: row[1] for row in rows}
