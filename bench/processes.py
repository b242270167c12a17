"""The services a benchmark measures, started as real processes on this machine."""

from __future__ import annotations

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

import asyncpg
import httpx

PG_ADMIN_DSN = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET = "bench-secret-0123456789abcdef-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    base_url: str

    def peak_rss_mib(self) -> float:
        """VmHWM of the process: its peak resident memory so far."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")


async def _wait_ready(service: Service, path: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if service.process.poll() is not None:
                raise RuntimeError(f"{service.base_url} exited with {service.process.returncode}")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(service.base_url + path)).status_code < 500:
                    return
            await _sleep(0.05)
    raise TimeoutError(service.base_url)


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


@contextlib.asynccontextmanager
async def gophermart(*args: str, ready_path: str, env: dict[str, str] | None = None) -> AsyncIterator[Service]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gophermart", *args, "-a", f"127.0.0.1:{port}"],
        env={**os.environ, "LOG_LEVEL": "warning", **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    service = Service(process, f"http://127.0.0.1:{port}")
    try:
        await _wait_ready(service, ready_path)
        yield service
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


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
async def server(database_uri: str, accrual_url: str) -> AsyncIterator[Service]:
    async with gophermart(
        "-d", database_uri, "-r", accrual_url, ready_path="/readyz", env={"SECRET_KEY": SECRET}
    ) as service:
        yield service
