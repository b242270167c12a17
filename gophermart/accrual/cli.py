"""``gophermart accrual``: the bundled accrual simulator as a standalone service."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from gophermart.accrual.simulator import SimulatorConfig, create_app
from gophermart.server.cli import USAGE_ERROR, run_server
from gophermart.server.logs import configure_logging
from gophermart.server.settings import SettingsError, parse_address

DEFAULT_ADDRESS = "localhost:8081"


def simulator_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run the accrual system simulator (SPEC §4.2). State lives in memory.",
    )
    parser.add_argument("-a", dest="run_address", help="listen address host:port (RUN_ADDRESS)")
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=None,
        metavar="N",
        help="answer 429 past N GET /api/orders/{number} requests per minute",
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
            fail_rate=args.fail_rate,
            latency_ms=args.latency_ms,
            registered_for=args.registered_for,
            processing_for=args.processing_for,
            auto_register=args.auto_register,
        )
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def accrual_command(argv: Sequence[str]) -> int:
    args = simulator_parser("gophermart accrual").parse_args(argv)
    try:
        address = args.run_address or os.environ.get("RUN_ADDRESS") or DEFAULT_ADDRESS
        host, port = parse_address(address)
        config = simulator_config(args)
    except SettingsError as exc:
        print(f"gophermart: {exc}", file=sys.stderr)
        return USAGE_ERROR
    log_level = (os.environ.get("LOG_LEVEL") or "info").lower()
    configure_logging(log_level)
    run_server(create_app(config), host=host, port=port, log_level=log_level)
    return 0
