"""/healthz says the process answers; /readyz says the database answers too."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from gophermart.server.app import create_app
from gophermart.server.settings import Settings
from gophermart.store.database import Backend, DatabaseTarget
from tests.conftest import TEST_SECRET, _pg_admin, pg_dsn
from tests.servers import serve_app


@pytest.fixture
async def own_pg_database() -> AsyncIterator[str]:
    """A database of its own: the test cuts every connection to it."""
    admin = await _pg_admin()
    name = f"gm_ready_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_readiness_follows_the_database(own_pg_database: str) -> None:
    target = DatabaseTarget(Backend.POSTGRESQL, pg_dsn(own_pg_database))
    settings = Settings(host="127.0.0.1", port=0, database=target, secret_key=TEST_SECRET)
    admin = await _pg_admin()
    try:
        async with (
            serve_app(create_app(settings)) as base_url,
            httpx.AsyncClient(base_url=base_url) as client,
        ):
            assert (await client.get("/readyz")).text == "ok"

            await admin.execute(f'ALTER DATABASE "{own_pg_database}" ALLOW_CONNECTIONS false')
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                own_pg_database,
            )
            away = await client.get("/readyz")
            assert (away.status_code, away.text) == (503, "database unreachable")
            assert (await client.get("/healthz")).text == "ok"  # alive all the same

            await admin.execute(f'ALTER DATABASE "{own_pg_database}" ALLOW_CONNECTIONS true')
            back = await client.get("/readyz")
            assert (back.status_code, back.text) == (200, "ok")
    finally:
        await admin.close()
