"""Configuration (SPEC §6): flags win over the environment, which wins over defaults.

Every setting is checked at start-up; a bad one stops the process with one line naming it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

from gophermart.accrual.client import normalize_base_url
from gophermart.accrual.poller import PollerConfig
from gophermart.store.database import Backend, DatabaseTarget, asyncpg_connect_args

DEFAULT_RUN_ADDRESS = "localhost:8080"
DEFAULT_DATABASE_URI = "sqlite:///gophermart.db"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


class SettingsError(ValueError):
    """A missing or invalid setting; the message names it."""


@dataclass(frozen=True)
class Settings:
    host: str = "localhost"
    port: int = 8080
    database: DatabaseTarget = field(
        default_factory=lambda: parse_database_uri(DEFAULT_DATABASE_URI)
    )
    accrual_address: str | None = None
    secret_key: str | None = None
    token_ttl: timedelta = timedelta(hours=24)
    cookie_secure: bool = False
    pool_size: int = 10
    migrate_on_start: bool = True
    log_level: str = "info"
    access_log: bool = False
    workers: int = 1
    poller: PollerConfig = field(default_factory=PollerConfig)

    @property
    def base_url(self) -> str:
        host = "localhost" if self.host in ("0.0.0.0", "::") else self.host  # noqa: S104
        return f"http://{host}:{self.port}"


def parse_address(value: str, *, name: str = "RUN_ADDRESS") -> tuple[str, int]:
    """``host:port``; ``:port`` means every interface; ``[v6]:port`` for IPv6."""
    host, sep, port_text = value.strip().rpartition(":")
    if not sep or not port_text.isdigit():
        raise SettingsError(f"{name}: expected host:port or :port, got {value!r}")
    port = int(port_text)
    if not 0 < port < 65536:
        raise SettingsError(f"{name}: port must be 1-65535, got {port}")
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104 - ":port" asks for all interfaces
    return host, port


def _valid_port(text: str) -> bool:
    """libpq's rule for a port in a URI: empty (the default) or 1-65535."""
    return not text or (text.isascii() and text.isdigit() and 0 < int(text) < 65536)


# libpq's URI options that take one of a fixed set of values. A wrong one would otherwise
# surface only when the first connection is made, as a database error (exit status 1)
# rather than as the invalid setting it is.
_LIBPQ_CHOICES = {
    "sslmode": ("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
    "target_session_attrs": (
        "any",
        "read-write",
        "read-only",
        "primary",
        "standby",
        "prefer-standby",
    ),
}


def _check_libpq_options(query: str, *, name: str) -> None:
    for key, value in parse_qsl(query, keep_blank_values=True):
        choices = _LIBPQ_CHOICES.get(key)
        if choices is not None and value not in choices:
            raise SettingsError(f"{name}: {key} must be one of {', '.join(choices)}, got {value!r}")


def parse_database_uri(value: str, *, name: str = "DATABASE_URI") -> DatabaseTarget:
    """A libpq URI (postgres:// or postgresql://, query options as libpq takes them, e.g.
    ``?sslmode=disable``) or ``sqlite:///relative/path`` / ``sqlite:////absolute/path``."""
    uri = value.strip()
    scheme = uri.partition("://")[0].lower()
    if scheme in ("postgres", "postgresql"):
        # libpq allows several hosts (host1:5432,host2:5433), so check each port by hand.
        hosts = urlsplit(uri).netloc.rpartition("@")[2]
        for host in hosts.split(",") if hosts else ():
            _, colon, port_text = host.rpartition("]")[2].rpartition(":")  # after any [IPv6]
            if colon and not _valid_port(port_text):
                raise SettingsError(f"{name}: bad port {port_text!r} in {host!r}")
        _check_libpq_options(urlsplit(uri).query, name=name)
        try:
            asyncpg_connect_args(uri)
        except ValueError as exc:
            raise SettingsError(f"{name}: {exc}") from None
        return DatabaseTarget(Backend.POSTGRESQL, uri)
    if scheme in ("sqlite", "sqlite+aiosqlite"):
        path = uri.partition("://")[2]
        if not path.startswith("/") or len(path) < 2:
            raise SettingsError(f"{name}: expected sqlite:///path/to/file.db, got {value!r}")
        path = path[1:]
        if path in (":memory:", "") or "?" in path:
            raise SettingsError(f"{name}: SQLite needs a file path, got {value!r}")
        return DatabaseTarget(Backend.SQLITE, path)
    raise SettingsError(
        f"{name}: expected a postgres://, postgresql:// or sqlite:/// URI, got {value!r}"
    )


def parse_accrual_address(value: str, *, name: str = "ACCRUAL_SYSTEM_ADDRESS") -> str:
    """A base URL; a bare ``host:port`` is taken as http."""
    try:
        return normalize_base_url(value)
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from None


def _parse_bool(value: str, *, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"{name}: expected true or false, got {value!r}")


def _parse_log_level(value: str, *, name: str = "LOG_LEVEL") -> str:
    level = value.strip().lower()
    if level not in LOG_LEVELS:
        raise SettingsError(f"{name}: expected one of {', '.join(LOG_LEVELS)}, got {value!r}")
    return level


def _parse_positive_int(value: str, *, name: str) -> int:
    if not value.strip().isdigit() or int(value) <= 0:
        raise SettingsError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def load_settings(
    *,
    run_address: str | None = None,
    database_uri: str | None = None,
    accrual_address: str | None = None,
    require_accrual: bool = False,
    workers: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Settings from explicit values (flags), then ``environ``, then defaults."""
    env = os.environ if environ is None else environ

    def pick(flag: str | None, variable: str) -> str | None:
        if flag:  # an empty flag (-r "") counts as not given
            return flag
        value = env.get(variable)
        return value if value else None

    host, port = parse_address(pick(run_address, "RUN_ADDRESS") or DEFAULT_RUN_ADDRESS)
    database = parse_database_uri(pick(database_uri, "DATABASE_URI") or DEFAULT_DATABASE_URI)
    accrual_raw = pick(accrual_address, "ACCRUAL_SYSTEM_ADDRESS")
    if accrual_raw is None and require_accrual:
        raise SettingsError(
            "ACCRUAL_SYSTEM_ADDRESS: required (flag -r or the environment variable), "
            "e.g. http://localhost:8081"
        )
    secret = env.get("SECRET_KEY") or None
    if secret is not None and len(secret) < 32:
        raise SettingsError("SECRET_KEY: must be at least 32 characters")
    ttl = env.get("TOKEN_TTL_SECONDS")
    poller = PollerConfig()
    poll_cap = env.get("ACCRUAL_POLL_INTERVAL_CAP_SECONDS")
    if poll_cap:
        poller = replace(
            poller,
            unknown_interval_cap=_parse_positive_int(
                poll_cap, name="ACCRUAL_POLL_INTERVAL_CAP_SECONDS"
            ),
        )
    lease = env.get("ACCRUAL_LEASE_SECONDS")
    if lease:
        seconds = _parse_positive_int(lease, name="ACCRUAL_LEASE_SECONDS")
        poller = replace(poller, lease=timedelta(seconds=seconds))
    pool = env.get("DB_POOL_SIZE")
    workers_raw = pick(workers, "WORKERS")
    worker_count = _parse_positive_int(workers_raw, name="WORKERS") if workers_raw else 1
    if worker_count > 1 and database.backend is Backend.SQLITE:
        raise SettingsError(
            "WORKERS: SQLite has a single writer, so it is served by one process; "
            "use PostgreSQL for more"
        )
    return Settings(
        host=host,
        port=port,
        database=database,
        accrual_address=parse_accrual_address(accrual_raw) if accrual_raw else None,
        secret_key=secret,
        token_ttl=timedelta(seconds=_parse_positive_int(ttl, name="TOKEN_TTL_SECONDS"))
        if ttl
        else timedelta(hours=24),
        cookie_secure=_parse_bool(env.get("COOKIE_SECURE", ""), name="COOKIE_SECURE"),
        pool_size=_parse_positive_int(pool, name="DB_POOL_SIZE") if pool else 10,
        log_level=_parse_log_level(env.get("LOG_LEVEL") or "info"),
        access_log=_parse_bool(env.get("ACCESS_LOG", ""), name="ACCESS_LOG"),
        workers=worker_count,
        poller=poller,
    )
