"""`gophermart demo` (what `make run` runs): the whole loop on one machine, as a newcomer sees it."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.factories import order_number
from tests.servers import free_port

pytestmark = pytest.mark.slow


async def test_demo_runs_the_whole_loop(tmp_path: Path) -> None:
    port, accrual_port = free_port(), free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gophermart",
        "demo",
        "-a",
        f"127.0.0.1:{port}",
        "--accrual-address",
        f"127.0.0.1:{accrual_port}",
        "-d",
        f"sqlite:///{tmp_path}/demo.db",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        assert process.stdout is not None
        banner = ""
        async with asyncio.timeout(30):
            while "Press Ctrl-C" not in banner:
                line = (await process.stdout.readline()).decode()
                assert line, f"demo exited early: {banner}"
                banner += line
        base = f"http://127.0.0.1:{port}"
        for path in ("/docs", "/graphql", "/metrics", "/openapi.json"):
            assert f"{base}{path}" in banner
        assert re.search(r"curl .*/api/user/register", banner)

        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            register = await client.post(
                "/api/user/register", json={"login": "newcomer", "password": "newcomer-password"}
            )
            assert register.status_code == 200
            upload = await client.post(
                "/api/user/orders", content=order_number(), headers={"Content-Type": "text/plain"}
            )
            assert upload.status_code == 202
            deadline = time.monotonic() + 15
            while True:
                [order] = (await client.get("/api/user/orders")).json()
                if order["status"] == "PROCESSED":
                    break
                assert time.monotonic() < deadline, order
                await asyncio.sleep(0.1)
            balance = (await client.get("/api/user/balance")).json()
            assert balance["current"] == order.get("accrual", 0)
            assert balance["current"] > 0  # the simulator's house mechanics reward its goods
            metrics = (await client.get("/metrics")).text
            assert 'gophermart_orders{status="PROCESSED"} 1.0' in metrics
            assert 'gophermart_accrual_requests_total{outcome="processed"} 1.0' in metrics
    finally:
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(30):
            await process.communicate()
    assert process.returncode == 0
