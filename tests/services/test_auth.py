"""Passwords and the token secret (SPEC §2): argon2id off the event loop, hashes upgraded
when the parameters change, one secret per database shared by every instance."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from datetime import timedelta

import pytest
from sqlalchemy import select

from gophermart.services import auth
from gophermart.services.auth import Argon2Parameters, PasswordHasher, TokenCodec
from gophermart.services.errors import InvalidCredentials
from gophermart.store import tables
from gophermart.store.database import Database
from tests.factories import PASSWORD, new_login

# Cheaper than the defaults, so that a stored hash is "outdated" for the default hasher.
WEAK = Argon2Parameters(memory_kib=8_192, time_cost=1, parallelism=1)
DEFAULT_PREFIX = "$argon2id$v=19$m=19456,t=2,p=1$"


async def _largest_stall(work: Awaitable[object]) -> tuple[float, float]:
    """(the longest the event loop went without running this coroutine while ``work`` ran,
    how long ``work`` took). Work done on the loop shows as one stall as long as itself."""
    task = asyncio.ensure_future(work)
    started = last = time.perf_counter()
    stall = 0.0
    while not task.done():
        await asyncio.sleep(0.001)
        now = time.perf_counter()
        stall, last = max(stall, now - last), now
    await task
    return stall, last - started


async def test_hashing_and_verifying_never_block_the_event_loop() -> None:
    hasher = PasswordHasher()
    password_hash = await hasher.hash(PASSWORD)  # warm: the first call builds the context
    for work in (
        hasher.hash(PASSWORD),
        hasher.verify(PASSWORD, password_hash),
        hasher.verify(PASSWORD, None),  # an unknown login: the dummy hash, made on first use
        hasher.verify(PASSWORD, None),
    ):
        stall, took = await _largest_stall(work)
        # argon2id at 19 MiB takes tens of milliseconds; on the loop it would be one stall
        # as long as the whole call.
        assert stall < took / 2, (stall, took)


async def _stored_hash(db: Database, login: str) -> str:
    ua = tables.user_account
    async with db.read() as conn:
        value: str = (
            await conn.execute(select(ua.c.password_hash).where(ua.c.login == login))
        ).scalar_one()
    return value


async def test_login_upgrades_a_hash_made_with_outdated_parameters(db: Database) -> None:
    tokens = TokenCodec(secret="s" * 32, ttl=timedelta(minutes=5))
    login = new_login()
    await auth.register(
        db=db, hasher=PasswordHasher(WEAK), tokens=tokens, login=login, password=PASSWORD
    )
    weak_hash = await _stored_hash(db, login)
    assert weak_hash.startswith("$argon2id$v=19$m=8192,t=1,p=1$")

    current = PasswordHasher()
    with pytest.raises(InvalidCredentials):
        await auth.login(db=db, hasher=current, tokens=tokens, login=login, password="wrong-pass")
    assert await _stored_hash(db, login) == weak_hash  # a failed login changes nothing

    session = await auth.login(db=db, hasher=current, tokens=tokens, login=login, password=PASSWORD)
    upgraded = await _stored_hash(db, login)
    assert upgraded.startswith(DEFAULT_PREFIX)
    assert upgraded != weak_hash and PASSWORD not in upgraded
    again = await auth.login(db=db, hasher=current, tokens=tokens, login=login, password=PASSWORD)
    assert again.principal == session.principal
    assert await _stored_hash(db, login) == upgraded  # current parameters: left as it is


async def test_the_token_secret_is_generated_once_per_database(db: Database) -> None:
    secrets = await asyncio.gather(*(auth.load_or_create_secret(db=db) for _ in range(5)))
    assert len(set(secrets)) == 1
    assert len(secrets[0]) >= auth.MIN_SECRET_LENGTH
    assert await auth.load_or_create_secret(db=db) == secrets[0]
    s = tables.app_setting
    async with db.read() as conn:
        rows = (await conn.execute(select(s.c.key, s.c.value))).all()
    assert [tuple(row) for row in rows] == [(auth.SECRET_SETTING_KEY, secrets[0])]
