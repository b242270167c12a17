"""The services a benchmark measures, started as real processes on this machine."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import asyncpg
import httpx

PG_ADMIN_DSN = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET = "bench-secret-0123456789abcdef-0123456789"  # noqa: S105 - benchmark only
REPO_ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (all its threads'), from /proc."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found.extend(int(child) for child in (task / "children").read_text().split())
    return found


def process_tree(pid: int) -> list[int]:
    """``pid`` and every descendant (uvicorn's worker processes, when there are several)."""
    tree, queue = [], [pid]
    while queue:
        current = queue.pop()
        tree.append(current)
        queue.extend(_children(current))
    return tree


def _status_kib(pid: int, field: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time used so far by ``pid`` and its live descendants."""
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{member}/stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()  # after "(comm)", which may hold spaces
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def postgres_cpu() -> dict[int, int]:
    """CPU clock ticks used so far by each live ``postgres`` process on this machine (the
    server, its backends, autovacuum, the checkpointer), by pid."""
    ticks: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError):
            stat = (entry / "stat").read_text()
            name, rest = stat.split("(", 1)[1].rsplit(")", 1)
            if name == "postgres":
                fields = rest.split()
                ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
    return ticks


def postgres_cpu_between(before: dict[int, int], after: dict[int, int]) -> float:
    """CPU seconds PostgreSQL used between two snapshots. A process that exited in between
    counts for nothing (its last ticks are unknown) rather than for minus its earlier ones."""
    return sum(ticks - before.get(pid, 0) for pid, ticks in after.items()) / CLOCK_TICKS


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(values[:8])  # user nice system idle iowait irq softirq steal
    idle = values[3] + values[4]
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    base_url: str

    def peak_rss_mib(self) -> float:
        """VmHWM (peak resident memory so far) of the largest of the process and its workers:
        the figure per process that a worker count multiplies."""
        peaks = [_status_kib(pid, "VmHWM") for pid in process_tree(self.process.pid)]
        return max(peaks) / 1024 if any(peaks) else float("nan")

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.process.pid)


async def _wait_ready(service: Service, path: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if service.process.poll() is not None:
                raise RuntimeError(f"{service.base_url} exited with {service.process.returncode}")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(service.base_url + path)).status_code < 500:
                    return
            await asyncio.sleep(0.05)
    raise TimeoutError(service.base_url)


def _spawn(
    argv: Sequence[str], *, env: dict[str, str] | None, stderr: IO[bytes]
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        list(argv),
        env={**os.environ, "LOG_LEVEL": "warning", **(env or {})},
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )


@contextlib.asynccontextmanager
async def started(
    argv: Sequence[str], *, port: int, ready_path: str, env: dict[str, str] | None = None
) -> AsyncIterator[Service]:
    """Run ``argv`` (listening on ``port``) until the block ends; ready when ``ready_path``
    answers below 500. Its stderr goes to a temporary file, quoted when it fails to start."""
    with tempfile.TemporaryFile() as stderr:
        process = _spawn(argv, env=env, stderr=stderr)
        service = Service(process, f"http://127.0.0.1:{port}")
        try:
            try:
                await _wait_ready(service, ready_path)
            except (RuntimeError, TimeoutError) as exc:
                stderr.seek(0)
                tail = stderr.read().decode(errors="replace").strip().splitlines()[-5:]
                raise RuntimeError(f"{' '.join(argv[:4])}…: {exc}; stderr: {tail}") from None
            yield service
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.asynccontextmanager
async def gophermart(
    *args: str, ready_path: str, env: dict[str, str] | None = None
) -> AsyncIterator[Service]:
    port = free_port()
    argv = [sys.executable, "-m", "gophermart", *args, "-a", f"127.0.0.1:{port}"]
    async with started(argv, port=port, ready_path=ready_path, env=env) as service:
        yield service


@contextlib.asynccontextmanager
async def simulator(extra: Sequence[str] = ()) -> AsyncIterator[Service]:
    args = ["accrual", "--registered-for", "0", "--processing-for", "0", "--auto-register", *extra]
    async with gophermart(*args, ready_path="/api/stats") as service:
        yield service


@contextlib.asynccontextmanager
async def database(backend: str) -> AsyncIterator[str]:
    """A fresh, empty database URI for one run; dropped afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="gophermart-bench-") as directory:
            yield f"sqlite:///{directory}/bench.db"
        return
    name = f"gm_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield PG_ADMIN_DSN.rsplit("/", 1)[0] + "/" + name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@contextlib.asynccontextmanager
async def server(
    database_uri: str, accrual_url: str, *, workers: int = 1
) -> AsyncIterator[Service]:
    """``gophermart -a … -d … -r …``, with ``--workers N`` when ``workers`` > 1."""
    extra = ("--workers", str(workers)) if workers > 1 else ()
    async with gophermart(
        "-d",
        database_uri,
        "-r",
        accrual_url,
        *extra,
        ready_path="/readyz",
        env={"SECRET_KEY": SECRET},
    ) as service:
        yield service


@contextlib.asynccontextmanager
async def baseline(database_uri: str, *, workers: int = 1) -> AsyncIterator[Service]:
    """The bare Starlette + asyncpg balance endpoint (bench/baseline.py) under uvicorn."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.baseline:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    env = {"BASELINE_DSN": database_uri, "BASELINE_SECRET": SECRET}
    async with started(argv, port=port, ready_path="/healthz", env=env) as service:
        yield service
