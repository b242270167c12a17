"""The ``gophermart`` command as real processes (SPEC §6): start-up errors, migrations,
graceful stops, a crash right after a 202, and several instances on one database."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import orjson
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text

from gophermart.migrations import MIGRATION_LOCK_KEY, alembic_config
from gophermart.models import metadata
from gophermart.store import tables
from gophermart.store.database import Backend, Database, DatabaseTarget
from tests.factories import PASSWORD, new_login, order_number, sign_up
from tests.openapi_contract import ContractChecker, checked_client
from tests.pg import empty_pg_database, pg_dsn
from tests.servers import ServerProcess, database_uri, free_port

pytestmark = pytest.mark.slow

# Every variable load_settings reads: the runner's own environment must not leak into the
# processes under test.
SETTING_VARIABLES = (
    "RUN_ADDRESS",
    "DATABASE_URI",
    "ACCRUAL_SYSTEM_ADDRESS",
    "SECRET_KEY",
    "TOKEN_TTL_SECONDS",
    "COOKIE_SECURE",
    "DB_POOL_SIZE",
    "LOG_LEVEL",
    "ACCRUAL_POLL_INTERVAL_CAP_SECONDS",
    "ACCRUAL_LEASE_SECONDS",
)
TEXT = {"Content-Type": "text/plain"}


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SETTING_VARIABLES}
    env.update(extra)
    return env


def closed_accrual_address() -> str:
    """An accrual system that is not there: the poller sees refused connections and backs off."""
    return f"http://127.0.0.1:{free_port()}"


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


async def run_cli(*args: str, env: dict[str, str], cwd: Path, timeout: float = 60) -> CliResult:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gophermart",
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return CliResult(process.returncode, out.decode(), err.decode())


def server(target: DatabaseTarget, log_path: Path, **env: str) -> ServerProcess:
    """``gophermart -a … -d … -r …`` on a free port; SECRET_KEY unset unless given, so the
    token secret is the one generated into the database."""
    port = free_port()
    process = ServerProcess(
        [
            "-a",
            f"127.0.0.1:{port}",
            "-d",
            database_uri(target),
            "-r",
            closed_accrual_address(),
        ],
        port=port,
        log_path=log_path,
    )
    process.env = clean_env(**env)
    return process


@contextlib.contextmanager
def stopped_at_end(*processes: ServerProcess) -> Iterator[None]:
    try:
        yield
    finally:
        for process in processes:
            process.kill()


def log_of(path: Path) -> str:
    return path.read_text(errors="replace")[-4000:] if path.exists() else "(no log)"


# ---------------------------------------------------------------- start-up errors


@dataclass(frozen=True)
class BadStart:
    label: str
    args: tuple[str, ...]
    env: dict[str, str]
    setting: str


def bad_starts(tmp_path: Path) -> list[BadStart]:
    """One case per way in (flag, environment, sub-command); test_settings covers every
    rule of every setting without processes."""
    db = f"sqlite:///{tmp_path / 'never-created.db'}"
    accrual = closed_accrual_address()
    return [
        BadStart("no accrual address", ("serve", "-d", db), {}, "ACCRUAL_SYSTEM_ADDRESS"),
        BadStart("empty -r", ("-d", db, "-r", ""), {}, "ACCRUAL_SYSTEM_ADDRESS"),
        BadStart("bad -r", ("-d", db, "-r", "ftp://accrual"), {}, "ACCRUAL_SYSTEM_ADDRESS"),
        BadStart("bad -a", ("-a", "localhost", "-d", db, "-r", accrual), {}, "RUN_ADDRESS"),
        BadStart("bad -d", ("-d", "mysql://localhost/db", "-r", accrual), {}, "DATABASE_URI"),
        BadStart(
            "bad sslmode",
            ("-d", "postgresql://postgres@127.0.0.1/db?sslmode=bogus", "-r", accrual),
            {},
            "DATABASE_URI",
        ),
        BadStart(
            "bad DATABASE_URI",
            ("-r", accrual),
            {"DATABASE_URI": "sqlite:///:memory:"},
            "DATABASE_URI",
        ),
        BadStart(
            "bad DATABASE_URI for migrate",
            ("migrate",),
            {"DATABASE_URI": "postgresql://localhost:port/db"},
            "DATABASE_URI",
        ),
        BadStart("bad LOG_LEVEL", ("-d", db, "-r", accrual), {"LOG_LEVEL": "chatty"}, "LOG_LEVEL"),
    ]


async def test_invalid_settings_stop_with_one_line_naming_them(tmp_path: Path) -> None:
    """Exit status 2 and exactly one line on stderr that names the setting; no traceback,
    nothing created. All cases run at once to keep the test fast."""
    cases = bad_starts(tmp_path)
    results = await asyncio.gather(
        *(run_cli(*case.args, env=clean_env(**case.env), cwd=tmp_path) for case in cases)
    )
    problems = []
    for case, result in zip(cases, results, strict=True):
        lines = result.stderr.splitlines()
        if (
            result.returncode != 2
            or len(lines) != 1
            or case.setting not in lines[0]
            or "Traceback" in result.stderr
            or result.stdout
        ):
            problems.append(f"{case.label}: exit {result.returncode}, stderr {result.stderr!r}")
    assert not problems, "\n".join(problems)
    assert not os.listdir(tmp_path)  # no database file, nothing at all


async def test_unreachable_database_is_one_line_and_exit_1(tmp_path: Path) -> None:
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/gophermart"
    for args in (
        ("-d", unreachable, "-r", closed_accrual_address()),
        ("migrate", "-d", unreachable),
    ):
        result = await run_cli(*args, env=clean_env(), cwd=tmp_path)
        assert result.returncode == 1, result.stderr
        [line] = result.stderr.splitlines()
        assert line.startswith("gophermart: DATABASE_URI: cannot use postgresql://")
        assert "Connect call failed" in line or "refused" in line.lower()


# ---------------------------------------------------------------- migrate


@contextlib.asynccontextmanager
async def fresh_target(backend: Backend, tmp_path: Path) -> AsyncIterator[DatabaseTarget]:
    """An empty database of its own: no tables at all."""
    if backend is Backend.SQLITE:
        yield DatabaseTarget(Backend.SQLITE, str(tmp_path / "fresh.db"))
        return
    async with empty_pg_database() as name:
        yield DatabaseTarget(Backend.POSTGRESQL, pg_dsn(name))


async def schema_state(target: DatabaseTarget) -> tuple[set[str], list[str]]:
    """(the tables, the rows of alembic_version)."""
    db = Database(target, pool_size=1)
    try:
        async with db.read() as conn:
            names = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
            versions = (
                list(
                    (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars()
                )
                if "alembic_version" in names
                else []
            )
    finally:
        await db.dispose()
    return names, versions


@pytest.mark.parametrize("backend", [Backend.SQLITE, Backend.POSTGRESQL], ids=str)
async def test_migrate_fresh_then_again(backend: Backend, tmp_path: Path) -> None:
    async with fresh_target(backend, tmp_path) as target:
        assert await schema_state(target) == (set(), [])
        env = clean_env()
        for attempt in ("fresh", "already migrated"):
            result = await run_cli("migrate", "-d", database_uri(target), env=env, cwd=tmp_path)
            assert result.returncode == 0, f"{attempt}: {result.stderr}"
            assert "Traceback" not in result.stderr
            assert result.stdout.strip().endswith("is up to date")
            names, versions = await schema_state(target)
            assert set(metadata.tables) <= names
            assert versions == [head_revision()]


# ---------------------------------------------------------------- graceful stop


async def _slow_body(
    payload: bytes, first_part_sent: asyncio.Event, release: asyncio.Event
) -> AsyncIterator[bytes]:
    yield payload[:7]
    first_part_sent.set()
    await release.wait()
    yield payload[7:]


async def stored_logins(target: DatabaseTarget, logins: list[str]) -> set[str]:
    db = Database(target, pool_size=1)
    try:
        ua = tables.user_account
        async with db.read() as conn:
            rows = await conn.execute(select(ua.c.login).where(ua.c.login.in_(logins)))
            return {row.login for row in rows}
    finally:
        await db.dispose()


async def exit_status(process: ServerProcess, timeout: float = 30) -> int:
    """Wait for the process to end by itself (a second SIGINT would mean "force quit")."""
    assert process.process is not None
    deadline = asyncio.get_running_loop().time() + timeout
    while (status := process.process.poll()) is None:
        assert asyncio.get_running_loop().time() < deadline, "the server did not stop"
        await asyncio.sleep(0.05)
    return status


async def check_graceful_stop(
    target: DatabaseTarget, log: Path, sig: signal.Signals, contract: ContractChecker
) -> None:
    """Requests the server has accepted when the signal arrives all finish with their 200 and
    their users are stored; new connections are refused; the exit status is 0.

    Each register request sends its headers and part of its body, then waits until the signal
    has been delivered: the server has certainly accepted it, and it is certainly in flight.
    The rest then arrives, and eight argon2 hashes queue (one per core) behind each other."""
    process = server(target, log).start()
    with stopped_at_end(process):
        await process.wait_ready()
        logins = [new_login() for _ in range(8)]
        release = asyncio.Event()
        sent = [asyncio.Event() for _ in logins]
        async with checked_client(contract, process.base_url, timeout=30) as client:
            requests = [
                asyncio.create_task(
                    client.post(
                        "/api/user/register",
                        content=_slow_body(
                            orjson.dumps({"login": login, "password": PASSWORD}), event, release
                        ),
                        headers={"Content-Type": "application/json"},
                    )
                )
                for login, event in zip(logins, sent, strict=True)
            ]
            await asyncio.wait_for(asyncio.gather(*(event.wait() for event in sent)), 10)
            await asyncio.sleep(0.4)  # the server has read every request's headers
            assert process.process is not None
            process.process.send_signal(sig)
            await asyncio.sleep(0.5)  # it is shutting down: no longer listening
            with pytest.raises(httpx.ConnectError):
                async with httpx.AsyncClient(base_url=process.base_url, timeout=5) as late:
                    await late.get("/healthz")
            assert process.process.poll() is None, log_of(log)  # still finishing the requests
            release.set()
            responses = await asyncio.gather(*requests, return_exceptions=True)
        statuses = [r.status_code if isinstance(r, httpx.Response) else repr(r) for r in responses]
        assert statuses == [200] * len(logins), log_of(log)
        assert await exit_status(process) == 0, log_of(log)
    assert await stored_logins(target, logins) == set(logins)
    assert "Traceback" not in log_of(log), log_of(log)


async def test_sigterm_stops_gracefully(
    database: DatabaseTarget, tmp_path: Path, contract: ContractChecker
) -> None:
    await check_graceful_stop(database, tmp_path / "server.log", signal.SIGTERM, contract)


async def test_sigint_stops_gracefully(tmp_path: Path, contract: ContractChecker) -> None:
    """Ctrl-C: the same. (On a SQLite file of its own, which the server creates.)"""
    target = DatabaseTarget(Backend.SQLITE, str(tmp_path / "ctrl-c.db"))
    await check_graceful_stop(target, tmp_path / "server.log", signal.SIGINT, contract)


# ---------------------------------------------------------------- crash right after a 202


async def test_kill_9_right_after_202_keeps_the_order(
    database: DatabaseTarget, tmp_path: Path, contract: ContractChecker
) -> None:
    """A 202 means committed: SIGKILL straight after it loses nothing. The token issued before
    the crash still works after it (the token secret lives in the database)."""
    log = tmp_path / "server.log"
    first = server(database, log).start()
    with stopped_at_end(first):
        await first.wait_ready()
        async with checked_client(contract, first.base_url, timeout=30) as client:
            auth = await sign_up(client)
            number = order_number()
            uploaded = await client.post(
                "/api/user/orders", content=number, headers={**auth, **TEXT}
            )
            assert uploaded.status_code == 202, uploaded.text
        first.kill()
        assert first.process is not None and first.process.returncode == -signal.SIGKILL

    second = server(database, log).start()
    with stopped_at_end(second):
        await second.wait_ready()
        async with checked_client(contract, second.base_url, timeout=30) as client:
            listed = await client.get("/api/user/orders", headers=auth)
            assert listed.status_code == 200, listed.text
            assert [(item["number"], item["status"]) for item in listed.json()] == [(number, "NEW")]
            again = await client.post("/api/user/orders", content=number, headers={**auth, **TEXT})
            assert again.status_code == 200  # the same user's order, known already
        assert second.stop() == 0, log_of(log)


# ---------------------------------------------------------------- several instances


@contextlib.asynccontextmanager
async def migration_lock_held(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """Hold the migration advisory lock so that instances starting now queue up behind it;
    releasing it lets them all go at the same instant."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1::bigint)", MIGRATION_LOCK_KEY)
        yield conn
    finally:
        await conn.close()


async def wait_for_lock_waiters(conn: asyncpg.Connection, count: int, timeout: float = 30) -> None:
    async def waiting() -> int:
        value: int = await conn.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        return value

    deadline = asyncio.get_running_loop().time() + timeout
    while await waiting() < count:
        assert asyncio.get_running_loop().time() < deadline, f"{count} waiters never appeared"
        await asyncio.sleep(0.05)


async def test_two_migrations_at_once_on_a_fresh_database(tmp_path: Path) -> None:
    async with empty_pg_database() as name:
        target = DatabaseTarget(Backend.POSTGRESQL, pg_dsn(name))
        async with migration_lock_held(target.dsn) as lock:
            runs = [
                asyncio.create_task(
                    run_cli("migrate", "-d", target.dsn, env=clean_env(), cwd=tmp_path)
                )
                for _ in range(2)
            ]
            await wait_for_lock_waiters(lock, 2)  # both are in, neither has migrated
            await lock.execute("SELECT pg_advisory_unlock($1::bigint)", MIGRATION_LOCK_KEY)
            results = await asyncio.gather(*runs)
        for result in results:
            assert result.returncode == 0, result.stderr
            assert "Traceback" not in result.stderr
        names, versions = await schema_state(target)
        assert set(metadata.tables) <= names
        assert versions == [head_revision()]


async def test_two_servers_at_once_on_a_fresh_database(
    tmp_path: Path, contract: ContractChecker
) -> None:
    """Both migrate (once), generate one shared token secret, and serve; a token from one is
    accepted by the other, and what one stores the other shows."""
    async with empty_pg_database() as name:
        target = DatabaseTarget(Backend.POSTGRESQL, pg_dsn(name))
        log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
        a, b = server(target, log_a), server(target, log_b)
        with stopped_at_end(a, b):
            async with migration_lock_held(target.dsn) as lock:
                a.start()
                b.start()
                await wait_for_lock_waiters(lock, 2)
                await lock.execute("SELECT pg_advisory_unlock($1::bigint)", MIGRATION_LOCK_KEY)
                await asyncio.gather(a.wait_ready(), b.wait_ready())

            async with (
                checked_client(contract, a.base_url, timeout=30) as on_a,
                checked_client(contract, b.base_url, timeout=30) as on_b,
            ):
                auth = await sign_up(on_a)
                balance = await on_b.get("/api/user/balance", headers=auth)
                assert balance.status_code == 200, balance.text
                assert balance.json() == {"current": 0, "withdrawn": 0}
                number = order_number()
                uploaded = await on_b.post(
                    "/api/user/orders", content=number, headers={**auth, **TEXT}
                )
                assert uploaded.status_code == 202
                listed = await on_a.get("/api/user/orders", headers=auth)
                assert [item["number"] for item in listed.json()] == [number]
                other = await sign_up(on_b)
                assert (await on_a.get("/api/user/balance", headers=other)).status_code == 200
            assert a.stop() == 0, log_of(log_a)
            assert b.stop() == 0, log_of(log_b)

        assert (await schema_state(target))[1] == [head_revision()]
        db = Database(target, pool_size=1)
        try:
            async with db.read() as conn:
                secrets = (
                    await conn.execute(select(tables.app_setting.c.key, tables.app_setting.c.value))
                ).all()
        finally:
            await db.dispose()
        assert [key for key, _ in secrets] == ["token_secret"]
