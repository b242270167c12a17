"""``gophermart demo`` (``make run``): the server on SQLite and the accrual simulator together.

Both run in one process and one event loop, each on its own port, and stop together on
Ctrl-C. The simulator knows every valid order number (``--auto-register``), so a newcomer's
uploads become PROCESSED with points within a couple of seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import sys
from collections.abc import Sequence

import uvicorn

from gophermart.accrual.simulator import SimulatorConfig
from gophermart.accrual.simulator import create_app as create_simulator
from gophermart.models.money import luhn_complete
from gophermart.server.app import create_app
from gophermart.server.cli import USAGE_ERROR
from gophermart.server.logs import configure_logging
from gophermart.server.settings import SettingsError, load_settings, parse_address


def instructions(*, base_url: str, accrual_url: str) -> str:
    login = f"demo-{random.randrange(16**4):04x}"
    order = luhn_complete(str(random.randrange(10**9, 10**10)))
    return f"""
Gophermart is running.

  REST API        {base_url}/api/user/...   (contract: {base_url}/openapi.json)
  Swagger UI      {base_url}/docs
  GraphiQL        {base_url}/graphql
  Metrics         {base_url}/metrics
  Accrual system  {accrual_url}   (simulator; it knows every valid order number)

Try the whole loop (the cookie jar keeps you signed in):

  curl -si -c /tmp/gophermart.jar {base_url}/api/user/register \\
       -H 'Content-Type: application/json' -d '{{"login": "{login}", "password": "demo-password"}}'
  curl -si -b /tmp/gophermart.jar {base_url}/api/user/orders \\
       -H 'Content-Type: text/plain' -d '{order}'
  curl -s  -b /tmp/gophermart.jar {base_url}/api/user/orders      # NEW, then PROCESSED in ~2 s
  curl -s  -b /tmp/gophermart.jar {base_url}/api/user/balance
  curl -si -b /tmp/gophermart.jar {base_url}/api/user/balance/withdraw \\
       -H 'Content-Type: application/json' -d '{{"order": "2377225624", "sum": 1}}'
  curl -s  -b /tmp/gophermart.jar {base_url}/api/user/withdrawals

Press Ctrl-C to stop.
"""


async def _serve_both(server: uvicorn.Server, simulator: uvicorn.Server, *, banner: str) -> None:
    # One signal handler stops both servers (each uvicorn would otherwise replace the other's).
    for one in (server, simulator):
        one.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    loop = asyncio.get_running_loop()

    def stop() -> None:
        server.should_exit = simulator.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    simulator_task = asyncio.create_task(simulator.serve())
    # uvicorn exposes start-up only as a flag, so it is polled.
    while not simulator.started:
        if simulator_task.done():
            await simulator_task
            return
        await asyncio.sleep(0.01)
    server_task = asyncio.create_task(server.serve())
    while not server.started and not server_task.done():  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    if server.started:
        print(banner, flush=True)
    await server_task
    stop()
    await simulator_task


def demo_command(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="gophermart demo",
        description="Run the server on SQLite with the bundled accrual simulator.",
    )
    parser.add_argument("-a", dest="run_address", help="server address (default localhost:8080)")
    parser.add_argument("-d", dest="database_uri", help="database URI (default SQLite file)")
    parser.add_argument(
        "--accrual-address", default="localhost:8081", help="simulator address host:port"
    )
    args = parser.parse_args(argv)
    try:
        accrual_host, accrual_port = parse_address(args.accrual_address, name="--accrual-address")
        accrual_url = (
            f"http://{'localhost' if accrual_host == '0.0.0.0' else accrual_host}:{accrual_port}"  # noqa: S104
        )
        settings = load_settings(
            run_address=args.run_address,
            database_uri=args.database_uri,
            accrual_address=accrual_url,
        )
    except SettingsError as exc:
        print(f"gophermart: {exc}", file=sys.stderr)
        return USAGE_ERROR
    log_level = (os.environ.get("LOG_LEVEL") or "warning").lower()
    configure_logging(log_level)
    simulator = uvicorn.Server(
        uvicorn.Config(
            create_simulator(SimulatorConfig(auto_register=True)),
            host=accrual_host,
            port=accrual_port,
            log_level=log_level,
        )
    )
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_level=log_level,
            server_header=False,
        )
    )
    banner = instructions(base_url=settings.base_url, accrual_url=accrual_url)
    asyncio.run(_serve_both(server, simulator, banner=banner))
    return 0
