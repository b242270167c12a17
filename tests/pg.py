"""Throw-away PostgreSQL databases for tests that need an empty one of their own
(migrations from scratch, several processes starting at once)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

PG_ADMIN_DSN = os.environ.get("TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def pg_dsn(database: str) -> str:
    return PG_ADMIN_DSN.rsplit("/", 1)[0] + "/" + database


async def pg_admin() -> asyncpg.Connection:
    """A connection to the admin database; skips when PostgreSQL is unreachable (fails under
    CI=true, where PostgreSQL tests must never skip)."""
    try:
        return await asyncpg.connect(PG_ADMIN_DSN)
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI=true but unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_DSN}: {exc}")


@contextlib.asynccontextmanager
async def empty_pg_database() -> AsyncIterator[str]:
    """Create an empty database (no schema at all); yield its name; drop it afterwards."""
    admin = await pg_admin()
    name = f"gm_empty_{uuid.uuid4().hex[:12]}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
