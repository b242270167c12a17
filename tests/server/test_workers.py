"""``gophermart --workers N``: several server processes on one socket (PostgreSQL only)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import httpx
import pytest

from gophermart.server.settings import SettingsError, load_settings
from gophermart.store.database import Backend, DatabaseTarget
from tests.factories import order_number, sign_up
from tests.pg import empty_pg_database, pg_dsn
from tests.server.test_cli import (
    TEXT,
    clean_env,
    closed_accrual_address,
    exit_status,
    log_of,
    run_cli,
    server,
    stopped_at_end,
)

pytestmark = pytest.mark.slow


def worker_pids(supervisor: int) -> set[int]:
    """The supervisor's children that serve (not multiprocessing's resource tracker)."""
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    pids = set()
    for pid in map(int, children):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:  # ended between the two reads
            continue
        if b"spawn_main" in command:
            pids.add(pid)
    return pids


async def wait_for_workers(supervisor: int, count: int, *, timeout: float = 30) -> set[int]:
    deadline = asyncio.get_running_loop().time() + timeout
    while len(pids := worker_pids(supervisor)) != count:
        assert asyncio.get_running_loop().time() < deadline, f"workers: {pids}"
        await asyncio.sleep(0.1)
    return pids


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sqlite_is_served_by_one_process() -> None:
    sqlite = {"DATABASE_URI": "sqlite:///gophermart.db"}
    assert load_settings(environ=sqlite).workers == 1
    assert load_settings(environ={**sqlite, "WORKERS": "1"}).workers == 1
    with pytest.raises(SettingsError, match=r"^WORKERS: SQLite"):
        load_settings(environ=sqlite, workers="2")
    with pytest.raises(SettingsError, match=r"^WORKERS: expected a positive integer"):
        load_settings(environ={"WORKERS": "0"})
    postgres = {"DATABASE_URI": "postgresql://localhost/gophermart", "WORKERS": "3"}
    assert load_settings(environ=postgres).workers == 3
    assert load_settings(environ=postgres, workers="2").workers == 2  # the flag wins


async def test_workers_on_sqlite_stop_with_one_line(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'never-created.db'}"
    result = await run_cli(
        "-d", db, "-r", closed_accrual_address(), "--workers", "2", env=clean_env(), cwd=tmp_path
    )
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("gophermart: WORKERS: SQLite")
    assert not os.listdir(tmp_path)


async def test_workers_share_the_socket_the_secret_and_stop_gracefully(tmp_path: Path) -> None:
    """Two workers serve one port; a token issued by one is accepted by the other (many
    requests on fresh connections reach both); a worker that dies is replaced; SIGTERM stops
    them all and the supervisor exits 0."""
    log = tmp_path / "server.log"
    async with empty_pg_database() as name:
        target = DatabaseTarget(Backend.POSTGRESQL, pg_dsn(name))
        process = server(target, log)
        process.args += ["--workers", "2"]
        process.start()
        assert process.process is not None
        supervisor = process.process.pid
        with stopped_at_end(process):
            await process.wait_ready()
            first = await wait_for_workers(supervisor, 2)
            async with httpx.AsyncClient(base_url=process.base_url, timeout=30) as client:
                auth = await sign_up(client)
                number = order_number()
                uploaded = await client.post(
                    "/api/user/orders", content=number, headers={**auth, **TEXT}
                )
                assert uploaded.status_code == 202, uploaded.text

            async def balance_on_a_new_connection() -> int:
                async with httpx.AsyncClient(base_url=process.base_url, timeout=30) as fresh:
                    return (await fresh.get("/api/user/balance", headers=auth)).status_code

            statuses = await asyncio.gather(*(balance_on_a_new_connection() for _ in range(40)))
            assert statuses == [200] * 40, log_of(log)

            victim = min(first)
            os.kill(victim, signal.SIGKILL)
            replaced = await wait_for_workers(supervisor, 2)
            assert victim not in replaced
            await process.wait_ready()
            async with httpx.AsyncClient(base_url=process.base_url, timeout=30) as client:
                listed = await client.get("/api/user/orders", headers=auth)
            assert [item["number"] for item in listed.json()] == [number]

            process.process.send_signal(signal.SIGTERM)
            assert await exit_status(process) == 0, log_of(log)
            assert not any(alive(pid) for pid in replaced)
        assert "Traceback" not in log_of(log), log_of(log)
