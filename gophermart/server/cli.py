"""The ``gophermart`` command: ``serve`` (the default), ``migrate``, ``accrual``, ``demo``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import replace

import asyncpg
import uvicorn
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from gophermart.server.logs import configure_logging
from gophermart.server.settings import Settings, SettingsError, load_settings
from gophermart.store.database import DatabaseTarget

SUBCOMMANDS = ("serve", "migrate", "accrual", "demo")
USAGE_ERROR = 2


class GracefulServer(uvicorn.Server):
    """uvicorn, minus re-raising SIGINT/SIGTERM after a graceful stop.

    uvicorn re-raises the captured signal once it has shut down, which turns a clean stop
    into exit status 130/143; a service that finished its in-flight requests exits 0.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            self._captured_signals.clear()


def _uvicorn_config(
    app: ASGIApp | str, *, host: str, port: int, log_level: str, access_log: bool, workers: int = 1
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        # One line per request costs about 6 % of a cheap request's CPU: opt-in (ACCESS_LOG).
        access_log=access_log,
        lifespan="on",
        server_header=False,
        timeout_graceful_shutdown=30,
        workers=workers,
        factory=isinstance(app, str),
    )


def run_server(
    app: ASGIApp, *, host: str, port: int, log_level: str, access_log: bool = False
) -> None:
    config = _uvicorn_config(app, host=host, port=port, log_level=log_level, access_log=access_log)
    GracefulServer(config).run()


WORKER_APP = "gophermart.server.cli:worker_app"
"""What each of ``--workers N`` processes serves (uvicorn imports it in the new process)."""


def worker_app() -> ASGIApp:
    """The app of one worker process: settings from the environment the supervisor left
    (flags already folded in), the schema already migrated by the supervisor."""
    from gophermart.server.app import create_app

    settings = load_settings(require_accrual=True)
    configure_logging(settings.log_level)
    return create_app(replace(settings, migrate_on_start=False))


def run_workers(settings: Settings) -> int:
    """``--workers N``: N server processes sharing one listening socket, under uvicorn's
    supervisor (it restarts a worker that dies and stops them all on SIGINT/SIGTERM, each
    finishing its in-flight requests). Each worker runs its own poller; on PostgreSQL their
    claims never overlap. 0 after a clean stop, 1 when the workers could not start."""
    assert settings.accrual_address is not None
    # The workers are new interpreters: they read the settings as this process resolved
    # them, flags included.
    os.environ.update(
        RUN_ADDRESS=f"{settings.host}:{settings.port}",
        DATABASE_URI=settings.database.uri,
        ACCRUAL_SYSTEM_ADDRESS=settings.accrual_address,
    )
    config = _uvicorn_config(
        WORKER_APP,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=settings.access_log,
        workers=settings.workers,
    )
    supervisor = Multiprocess(config, sockets=[config.bind_socket()])
    supervisor.run()
    failed = any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes)
    return 1 if failed else 0


def _add_server_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-a", dest="run_address", help="listen address host:port (RUN_ADDRESS)")
    parser.add_argument(
        "-d", dest="database_uri", help="database URI, postgres:// or sqlite:/// (DATABASE_URI)"
    )


def _fail(message: str) -> int:
    print(f"gophermart: {message}", file=sys.stderr)
    return USAGE_ERROR


def serve(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="gophermart serve", description="Run the service.")
    _add_server_flags(parser)
    parser.add_argument(
        "-r", dest="accrual_address", help="accrual system base URL (ACCRUAL_SYSTEM_ADDRESS)"
    )
    parser.add_argument(
        "-w",
        "--workers",
        dest="workers",
        help="server processes, PostgreSQL only (WORKERS; default 1)",
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings(
            run_address=args.run_address,
            database_uri=args.database_uri,
            accrual_address=args.accrual_address,
            require_accrual=True,
            workers=args.workers,
        )
    except SettingsError as exc:
        return _fail(str(exc))
    from gophermart.server.app import create_app

    configure_logging(settings.log_level)
    # Migrating before the server starts turns an unreachable or unusable database into one
    # clear line instead of a lifespan traceback.
    failure = _migrate_or_explain(settings)
    if failure is not None:
        print(f"gophermart: {failure}", file=sys.stderr)
        return 1
    if settings.workers > 1:
        return run_workers(settings)
    run_server(
        create_app(replace(settings, migrate_on_start=False)),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=settings.access_log,
    )
    return 0


DATABASE_ERRORS = (OSError, SQLAlchemyError, asyncpg.PostgresError)
"""What an unreachable or unusable database raises at start-up."""


def explain_database_error(target: DatabaseTarget, exc: BaseException) -> str:
    """One line naming DATABASE_URI, for a database error at start-up."""
    cause = getattr(exc, "orig", None) or exc  # the driver's words, not SQLAlchemy's wrapper
    reason = " ".join(str(cause).split()) or type(cause).__name__
    return f"DATABASE_URI: cannot use {target.display}: {reason}"


def _migrate_or_explain(settings: Settings) -> str | None:
    try:
        asyncio.run(_migrate(settings))
    except DATABASE_ERRORS as exc:
        return explain_database_error(settings.database, exc)
    return None


def migrate_command(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="gophermart migrate", description="Bring the database schema up to date."
    )
    parser.add_argument("-d", dest="database_uri", help="database URI (DATABASE_URI)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(database_uri=args.database_uri)
    except SettingsError as exc:
        return _fail(str(exc))
    configure_logging(settings.log_level)
    failure = _migrate_or_explain(settings)
    if failure is not None:
        print(f"gophermart: {failure}", file=sys.stderr)
        return 1
    print(f"gophermart: {settings.database.display} is up to date")
    return 0


async def _migrate(settings: Settings) -> None:
    from gophermart.migrations import migrate
    from gophermart.store.database import Database

    db = Database(settings.database, pool_size=1)
    try:
        await migrate(db)
    finally:
        await db.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command = args.pop(0) if args and args[0] in SUBCOMMANDS else "serve"
    if command == "migrate":
        return migrate_command(args)
    if command == "accrual":
        from gophermart.accrual.cli import accrual_command

        return accrual_command(args)
    if command == "demo":
        from gophermart.server.demo import demo_command

        return demo_command(args)
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
