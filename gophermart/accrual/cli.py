"""``gophermart accrual``: the bundled accrual simulator as a standalone service."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import threading
import time
from collections.abc import Sequence

from gophermart.accrual.simulator import RATE_WINDOW_SECONDS, SimulatorConfig, create_app
from gophermart.accrual.simulator_store import sql_store
from gophermart.server.cli import (
    DATABASE_ERRORS,
    USAGE_ERROR,
    explain_database_error,
    run_server,
)
from gophermart.server.logs import configure_logging
from gophermart.server.settings import SettingsError, parse_address, parse_database_uri
from gophermart.store.database import DatabaseTarget

DEFAULT_ADDRESS = "localhost:8081"
logger = logging.getLogger("gophermart.accrual")


def simulator_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Run the accrual system simulator (SPEC §4.2). State lives in memory, "
            "or in a database with -d."
        ),
    )
    parser.add_argument("-a", dest="run_address", help="listen address host:port (RUN_ADDRESS)")
    parser.add_argument(
        "-d",
        dest="database_uri",
        help="keep mechanics and orders in this database, postgres:// or sqlite:/// "
        "(DATABASE_URI); tables of its own, apart from the service's",
    )
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=None,
        metavar="N",
        help="answer 429 past N GET /api/orders/{number} requests per minute",
    )
    parser.add_argument(
        "--rate-window",
        type=float,
        default=RATE_WINDOW_SECONDS,
        metavar="SECONDS",
        help="count the limit in fixed windows of this many seconds, N × SECONDS / 60 "
        "requests each (default: a minute; shorter spreads the same N evenly)",
    )
    parser.add_argument(
        "--fail-rate", type=float, default=0.0, help="share of GETs answered 500 (0..1)"
    )
    parser.add_argument("--latency-ms", type=int, default=0, help="added to every GET")
    parser.add_argument(
        "--registered-for", type=float, default=0.5, help="seconds an order stays REGISTERED"
    )
    parser.add_argument(
        "--processing-for", type=float, default=1.0, help="seconds an order stays PROCESSING"
    )
    parser.add_argument(
        "--auto-register",
        action="store_true",
        help="treat any Luhn-valid unknown number as a registered order with random goods",
    )
    return parser


def simulator_config(args: argparse.Namespace) -> SimulatorConfig:
    try:
        return SimulatorConfig(
            rate_limit=args.rate_limit,
            rate_window=args.rate_window,
            fail_rate=args.fail_rate,
            latency_ms=args.latency_ms,
            registered_for=args.registered_for,
            processing_for=args.processing_for,
            auto_register=args.auto_register,
        )
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


async def _prepare_database(target: DatabaseTarget) -> None:
    """Connect and create the simulator's tables once before serving, so that an unusable
    database is one clear line instead of a lifespan traceback."""
    threads = set(threading.enumerate())
    try:
        async with sql_store(target, pool_size=1)(time.monotonic):
            pass
    finally:
        # aiosqlite (0.22) stops a connection that failed to open without waiting for its
        # worker thread, which may then report to the loop after asyncio.run has closed it:
        # a thread traceback after our one line. Let those threads end while the loop runs.
        started = [thread for thread in threading.enumerate() if thread not in threads]
        await asyncio.to_thread(_join, started, timeout=5.0)


def _join(threads: Sequence[threading.Thread], *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))


def accrual_command(argv: Sequence[str]) -> int:
    args = simulator_parser("gophermart accrual").parse_args(argv)
    try:
        address = args.run_address or os.environ.get("RUN_ADDRESS") or DEFAULT_ADDRESS
        host, port = parse_address(address)
        config = simulator_config(args)
        # An empty -d counts as not given, as for the server.
        database_uri = args.database_uri or os.environ.get("DATABASE_URI")
        database = parse_database_uri(database_uri) if database_uri else None
    except SettingsError as exc:
        print(f"gophermart: {exc}", file=sys.stderr)
        return USAGE_ERROR
    log_level = (os.environ.get("LOG_LEVEL") or "info").lower()
    configure_logging(log_level)
    if database is None:
        app = create_app(config)
        logger.info("accrual simulator state in memory")
    else:
        try:
            asyncio.run(_prepare_database(database))
        except DATABASE_ERRORS as exc:
            print(f"gophermart: {explain_database_error(database, exc)}", file=sys.stderr)
            return 1
        app = create_app(config, open_store=sql_store(database))
        logger.info("accrual simulator state in %s", database.display)
    run_server(app, host=host, port=port, log_level=log_level)
    return 0
