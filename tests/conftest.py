"""Fixtures: every test that takes ``database`` runs on SQLite and on PostgreSQL.

Each backend gets one migrated template per session; each test gets a clean database
(a copy of the SQLite file; truncated tables on PostgreSQL).
Under CI=true PostgreSQL must be reachable: its tests fail rather than skip.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from gophermart.migrations import migrate
from gophermart.server.app import create_app
from gophermart.server.context import AppContext
from gophermart.server.settings import Settings
from gophermart.store.database import Backend, Database, DatabaseTarget
from tests.openapi_contract import ContractChecker, checked_client
from tests.servers import serve_app

PG_ADMIN_DSN = os.environ.get("TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
TEST_SECRET = "test-secret-0123456789abcdef-0123456789"
TABLES = (
    "loyalty_account_transaction",
    "bonus_calculation",
    '"order"',
    "user_account",
    '"user"',
    "loyalty_account",
    "app_setting",
)


def pg_dsn(database: str) -> str:
    return PG_ADMIN_DSN.rsplit("/", 1)[0] + "/" + database


async def _pg_admin() -> asyncpg.Connection:
    try:
        return await asyncpg.connect(PG_ADMIN_DSN)
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI=true but unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_DSN}: {exc}")


@dataclass
class DatabaseFactory:
    backend: Backend
    fresh: Callable[[Path], Awaitable[DatabaseTarget]]


@pytest.fixture(scope="session", params=[Backend.SQLITE, Backend.POSTGRESQL], ids=str)
async def database_factory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[DatabaseFactory]:
    backend: Backend = request.param
    if backend is Backend.SQLITE:
        template = tmp_path_factory.mktemp("sqlite-template") / "template.db"
        db = Database(DatabaseTarget(Backend.SQLITE, str(template)))
        await migrate(db)
        await db.dispose()

        async def fresh_sqlite(tmp_path: Path) -> DatabaseTarget:
            path = tmp_path / "gophermart.db"
            shutil.copyfile(template, path)
            return DatabaseTarget(Backend.SQLITE, str(path))

        yield DatabaseFactory(backend, fresh_sqlite)
        return

    admin = await _pg_admin()
    name = f"gm_test_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    target = DatabaseTarget(Backend.POSTGRESQL, pg_dsn(name))
    db = Database(target)
    await migrate(db)
    await db.dispose()

    async def fresh_pg(_tmp_path: Path) -> DatabaseTarget:
        conn = await asyncpg.connect(target.dsn)
        try:
            await conn.execute(f"TRUNCATE {', '.join(TABLES)} CASCADE")
        finally:
            await conn.close()
        return target

    try:
        yield DatabaseFactory(backend, fresh_pg)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def database(database_factory: DatabaseFactory, tmp_path: Path) -> DatabaseTarget:
    """A clean, migrated database on the backend of this test's parameter."""
    return await database_factory.fresh(tmp_path)


@pytest.fixture
async def db(database: DatabaseTarget) -> AsyncIterator[Database]:
    """Direct access to the test's database, for arranging and checking stored state."""
    handle = Database(database, pool_size=5)
    yield handle
    await handle.dispose()


@pytest.fixture
def settings(database: DatabaseTarget) -> Settings:
    return Settings(host="127.0.0.1", port=0, database=database, secret_key=TEST_SECRET)


@dataclass
class RunningApp:
    app: Starlette
    base_url: str

    @property
    def context(self) -> AppContext:
        context: AppContext = self.app.state.context
        return context


@pytest.fixture
async def running_app(settings: Settings) -> AsyncIterator[RunningApp]:
    app = create_app(settings)
    async with serve_app(app) as base_url:
        yield RunningApp(app, base_url)


@pytest.fixture(scope="session")
def contract() -> ContractChecker:
    return ContractChecker()


@pytest.fixture
async def client(
    running_app: RunningApp, contract: ContractChecker
) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose every answer from a documented operation is checked against
    openapi.json: a response the document does not allow fails the test."""

    async with checked_client(contract, running_app.base_url, timeout=30) as http:
        yield http


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI a skipped test is a failure: both databases must really have been tested."""
    if os.environ.get("CI") != "true":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter is not None else 0
    if skipped and reporter is not None:
        reporter.write_line(f"CI=true: {skipped} skipped test(s) count as failures", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
