"""Configuration (SPEC §6): precedence, accepted forms, and one clear error per bad setting."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from gophermart.server.settings import Settings, SettingsError, load_settings, parse_database_uri
from gophermart.store.database import Backend, Database, DatabaseTarget
from tests.pg import empty_pg_database, pg_dsn

VALID_SECRET = "s" * 32
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - what ":port" means


def load(env: Mapping[str, str] | None = None, **flags: Any) -> Settings:
    return load_settings(environ=dict(env or {}), **flags)


# ---------------------------------------------------------------- precedence


def test_defaults() -> None:
    settings = load()
    assert (settings.host, settings.port) == ("localhost", 8080)
    assert settings.database == DatabaseTarget(Backend.SQLITE, "gophermart.db")
    assert settings.accrual_address is None
    assert settings.secret_key is None
    assert settings.token_ttl == timedelta(hours=24)
    assert settings.cookie_secure is False
    assert settings.pool_size == 10
    assert settings.log_level == "info"


def test_environment_wins_over_defaults() -> None:
    settings = load(
        {
            "RUN_ADDRESS": "127.0.0.1:9000",
            "DATABASE_URI": "postgresql://env-host/envdb",
            "ACCRUAL_SYSTEM_ADDRESS": "http://env-accrual:8081",
            "SECRET_KEY": VALID_SECRET,
            "TOKEN_TTL_SECONDS": "60",
            "COOKIE_SECURE": "true",
            "DB_POOL_SIZE": "3",
            "LOG_LEVEL": "WARNING",
        }
    )
    assert (settings.host, settings.port) == ("127.0.0.1", 9000)
    assert settings.database == DatabaseTarget(Backend.POSTGRESQL, "postgresql://env-host/envdb")
    assert settings.accrual_address == "http://env-accrual:8081"
    assert settings.secret_key == VALID_SECRET
    assert settings.token_ttl == timedelta(seconds=60)
    assert settings.cookie_secure is True
    assert settings.pool_size == 3
    assert settings.log_level == "warning"


def test_flags_win_over_environment() -> None:
    env = {
        "RUN_ADDRESS": "127.0.0.1:9000",
        "DATABASE_URI": "postgresql://env-host/envdb",
        "ACCRUAL_SYSTEM_ADDRESS": "http://env-accrual:8081",
    }
    settings = load(
        env,
        run_address=":7000",
        database_uri="sqlite:///flag.db",
        accrual_address="flag-accrual:9090",
    )
    assert (settings.host, settings.port) == (ALL_INTERFACES, 7000)
    assert settings.database == DatabaseTarget(Backend.SQLITE, "flag.db")
    assert settings.accrual_address == "http://flag-accrual:9090"


def test_a_flag_wins_even_over_an_invalid_environment_value() -> None:
    settings = load(
        {
            "RUN_ADDRESS": "nonsense",
            "DATABASE_URI": "mysql://x",
            "ACCRUAL_SYSTEM_ADDRESS": "ftp://x",
        },
        run_address="localhost:1234",
        database_uri="sqlite:///ok.db",
        accrual_address="localhost:8081",
    )
    assert settings.port == 1234
    assert settings.database.dsn == "ok.db"
    assert settings.accrual_address == "http://localhost:8081"


def test_empty_environment_values_count_as_unset() -> None:
    settings = load({"RUN_ADDRESS": "", "DATABASE_URI": "", "ACCRUAL_SYSTEM_ADDRESS": ""})
    assert (settings.host, settings.port) == ("localhost", 8080)
    assert settings.database.dsn == "gophermart.db"
    assert settings.accrual_address is None


def test_empty_flags_count_as_not_given() -> None:
    """``-r ""`` (e.g. an unset shell variable in a start script) is not an address."""
    env = {"RUN_ADDRESS": ":9000", "DATABASE_URI": "sqlite:///env.db"}
    settings = load(env, run_address="", database_uri="", accrual_address="")
    assert settings.port == 9000
    assert settings.database.dsn == "env.db"
    assert settings.accrual_address is None
    with pytest.raises(SettingsError, match=r"^ACCRUAL_SYSTEM_ADDRESS: required"):
        load(env, accrual_address="", require_accrual=True)


def test_serve_requires_the_accrual_address() -> None:
    with pytest.raises(SettingsError) as caught:
        load(require_accrual=True)
    message = str(caught.value)
    assert message.startswith("ACCRUAL_SYSTEM_ADDRESS: required")
    assert "-r" in message
    assert "\n" not in message
    assert load({"ACCRUAL_SYSTEM_ADDRESS": ":8081"}, require_accrual=True).accrual_address
    assert load(accrual_address=":8081", require_accrual=True).accrual_address


# ---------------------------------------------------------------- accepted forms


@pytest.mark.parametrize(
    ("address", "host", "port"),
    [
        ("localhost:8080", "localhost", 8080),
        ("127.0.0.1:1", "127.0.0.1", 1),
        ("example.com:65535", "example.com", 65535),
        (":8080", ALL_INTERFACES, 8080),
        ("[::1]:8080", "::1", 8080),
        ("[::]:8080", "::", 8080),
        ("  localhost:8080 ", "localhost", 8080),
    ],
)
def test_run_address_forms(address: str, host: str, port: int) -> None:
    settings = load(run_address=address)
    assert (settings.host, settings.port) == (host, port)


@pytest.mark.parametrize(
    "uri",
    [
        "postgresql://postgres:postgres@localhost/praktikum?sslmode=disable",
        "postgres://postgres:postgres@localhost:5432/praktikum?sslmode=disable",
        "postgres://user@db.internal/gophermart",
        "postgresql://localhost",
        "postgresql:///gophermart?host=/var/run/postgresql",
        "postgresql://u:p%40ss@[::1]:5433/db?sslmode=require&application_name=gm",
        "postgresql://h1:5432,h2:5433/db?target_session_attrs=read-write",
        "postgresql://localhost/db?connect_timeout=10",
    ],
)
def test_libpq_uris_are_kept_verbatim(uri: str) -> None:
    assert load(database_uri=uri).database == DatabaseTarget(Backend.POSTGRESQL, uri)
    assert load({"DATABASE_URI": uri}).database == DatabaseTarget(Backend.POSTGRESQL, uri)


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("sqlite:///relative.db", "relative.db"),
        ("sqlite:///data/dir/gophermart.db", "data/dir/gophermart.db"),
        ("sqlite:////abs/path.db", "/abs/path.db"),
        ("sqlite:////srv/data/x y.db", "/srv/data/x y.db"),
    ],
)
def test_sqlite_uris(uri: str, path: str) -> None:
    assert load(database_uri=uri).database == DatabaseTarget(Backend.SQLITE, path)


def test_password_is_hidden_in_display() -> None:
    target = parse_database_uri("postgresql://postgres:s3cret@localhost/praktikum?sslmode=disable")
    assert "s3cret" not in target.display
    assert target.display == "postgresql://postgres:***@localhost/praktikum?sslmode=disable"
    assert parse_database_uri("sqlite:////abs/path.db").display == "sqlite:////abs/path.db"


@pytest.mark.parametrize(
    ("address", "url"),
    [
        ("localhost:8081", "http://localhost:8081"),
        ("127.0.0.1:8081", "http://127.0.0.1:8081"),
        ("accrual:80", "http://accrual:80"),
        ("http://localhost:8081", "http://localhost:8081"),
        ("http://localhost:8081/", "http://localhost:8081"),
        ("https://accrual.example", "https://accrual.example"),
        ("http://accrual.example/prefix/", "http://accrual.example/prefix"),
        (" http://localhost:8081 ", "http://localhost:8081"),
    ],
)
def test_accrual_address_forms(address: str, url: str) -> None:
    assert load(accrual_address=address).accrual_address == url
    assert load({"ACCRUAL_SYSTEM_ADDRESS": address}).accrual_address == url


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", "on"])
def test_cookie_secure_true(value: str) -> None:
    assert load({"COOKIE_SECURE": value}).cookie_secure is True


@pytest.mark.parametrize("value", ["0", "false", "no", "off", ""])
def test_cookie_secure_false(value: str) -> None:
    assert load({"COOKIE_SECURE": value}).cookie_secure is False


def test_access_log_is_off_unless_asked_for() -> None:
    assert load({}).access_log is False
    assert load({"ACCESS_LOG": "true"}).access_log is True


def test_secret_key_of_32_characters_is_enough() -> None:
    assert load({"SECRET_KEY": VALID_SECRET}).secret_key == VALID_SECRET


# ---------------------------------------------------------------- invalid values

INVALID: list[tuple[dict[str, str], dict[str, Any], str]] = [
    # (environment, flags, the setting the message must name)
    ({}, {"run_address": "localhost"}, "RUN_ADDRESS"),
    ({}, {"run_address": "localhost:"}, "RUN_ADDRESS"),
    ({}, {"run_address": "localhost:http"}, "RUN_ADDRESS"),
    ({}, {"run_address": "localhost:0"}, "RUN_ADDRESS"),
    ({}, {"run_address": "localhost:65536"}, "RUN_ADDRESS"),
    ({}, {"run_address": "localhost:-1"}, "RUN_ADDRESS"),
    ({}, {"run_address": "[::1]"}, "RUN_ADDRESS"),
    ({"RUN_ADDRESS": "8080"}, {}, "RUN_ADDRESS"),
    ({"RUN_ADDRESS": "host:99999"}, {}, "RUN_ADDRESS"),
    ({}, {"database_uri": "mysql://localhost/db"}, "DATABASE_URI"),
    ({}, {"database_uri": "gophermart.db"}, "DATABASE_URI"),
    ({}, {"database_uri": "sqlite://relative.db"}, "DATABASE_URI"),
    ({}, {"database_uri": "sqlite://"}, "DATABASE_URI"),
    ({}, {"database_uri": "sqlite:///"}, "DATABASE_URI"),
    ({}, {"database_uri": "sqlite:///:memory:"}, "DATABASE_URI"),
    ({}, {"database_uri": "sqlite:///file.db?mode=memory"}, "DATABASE_URI"),
    ({}, {"database_uri": "postgresql://localhost:port/db"}, "DATABASE_URI"),
    ({}, {"database_uri": "postgresql://localhost:99999/db"}, "DATABASE_URI"),
    ({}, {"database_uri": "postgresql://localhost/db?connect_timeout=soon"}, "DATABASE_URI"),
    ({}, {"database_uri": "postgresql://localhost/db?sslmode=off"}, "DATABASE_URI"),
    ({}, {"database_uri": "postgresql://localhost/db?sslmode="}, "DATABASE_URI"),
    ({"DATABASE_URI": "postgres://h/db?target_session_attrs=master"}, {}, "DATABASE_URI"),
    ({"DATABASE_URI": "redis://localhost"}, {}, "DATABASE_URI"),
    ({}, {"accrual_address": "ftp://localhost:8081"}, "ACCRUAL_SYSTEM_ADDRESS"),
    ({}, {"accrual_address": "http://"}, "ACCRUAL_SYSTEM_ADDRESS"),
    ({}, {"accrual_address": "localhost:port"}, "ACCRUAL_SYSTEM_ADDRESS"),
    ({}, {"accrual_address": "http://localhost:99999"}, "ACCRUAL_SYSTEM_ADDRESS"),
    ({}, {"accrual_address": "not an address"}, "ACCRUAL_SYSTEM_ADDRESS"),
    ({}, {"accrual_address": "http://localhost:8081/?x=1"}, "ACCRUAL_SYSTEM_ADDRESS"),
    ({}, {"accrual_address": "   "}, "ACCRUAL_SYSTEM_ADDRESS"),
    ({"ACCRUAL_SYSTEM_ADDRESS": "%%%"}, {}, "ACCRUAL_SYSTEM_ADDRESS"),
    ({"SECRET_KEY": "s" * 31}, {}, "SECRET_KEY"),
    ({"SECRET_KEY": "short"}, {}, "SECRET_KEY"),
    ({"COOKIE_SECURE": "maybe"}, {}, "COOKIE_SECURE"),
    ({"COOKIE_SECURE": "2"}, {}, "COOKIE_SECURE"),
    ({"ACCESS_LOG": "verbose"}, {}, "ACCESS_LOG"),
    ({"TOKEN_TTL_SECONDS": "0"}, {}, "TOKEN_TTL_SECONDS"),
    ({"TOKEN_TTL_SECONDS": "-60"}, {}, "TOKEN_TTL_SECONDS"),
    ({"TOKEN_TTL_SECONDS": "1.5"}, {}, "TOKEN_TTL_SECONDS"),
    ({"TOKEN_TTL_SECONDS": "an hour"}, {}, "TOKEN_TTL_SECONDS"),
    ({"DB_POOL_SIZE": "0"}, {}, "DB_POOL_SIZE"),
    ({"DB_POOL_SIZE": "-1"}, {}, "DB_POOL_SIZE"),
    ({"DB_POOL_SIZE": "many"}, {}, "DB_POOL_SIZE"),
    ({"LOG_LEVEL": "chatty"}, {}, "LOG_LEVEL"),
]


@pytest.mark.parametrize(("env", "flags", "name"), INVALID, ids=repr)
def test_invalid_settings_name_themselves(
    env: dict[str, str], flags: dict[str, Any], name: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load(env, **flags)
    message = str(caught.value)
    assert message.startswith(f"{name}: "), message
    assert "\n" not in message


@pytest.mark.parametrize("level", ["debug", "INFO", "Warning", "error", "critical"])
def test_log_levels(level: str) -> None:
    assert load({"LOG_LEVEL": level}).log_level == level.lower()


# ---------------------------------------------------------------- a real libpq URI


async def _select_one(uri: str) -> int:
    db = Database(parse_database_uri(uri), pool_size=1)
    try:
        async with db.read() as conn:
            value: int = (await conn.execute(text("SELECT 1"))).scalar_one()
            return value
    finally:
        await db.dispose()


async def test_libpq_uri_with_options_connects_as_given() -> None:
    async with empty_pg_database() as name:
        base = pg_dsn(name)
        uri = f"{base}?sslmode=disable"
        assert parse_database_uri(uri).dsn == uri
        assert await _select_one(uri) == 1
        short_scheme = base.replace("postgresql://", "postgres://", 1)
        assert await _select_one(f"{short_scheme}?sslmode=disable") == 1
        # libpq's connect_timeout is a client option, not a server setting.
        assert await _select_one(f"{base}?sslmode=disable&connect_timeout=10") == 1
        assert await _select_one(f"{base}?connect_timeout=0") == 1


async def test_libpq_options_reach_the_driver() -> None:
    """The URI's options are honoured, not dropped: application_name is visible to the
    server, and sslmode=require fails against a server without TLS."""
    async with empty_pg_database() as name:
        base = pg_dsn(name)
        db = Database(parse_database_uri(f"{base}?application_name=gm-settings-test"), pool_size=1)
        try:
            async with db.read() as conn:
                assert (
                    await conn.execute(text("SELECT current_setting('application_name')"))
                ).scalar_one() == "gm-settings-test"
                ssl_on = (await conn.execute(text("SHOW ssl"))).scalar_one() == "on"
        finally:
            await db.dispose()
        if not ssl_on:
            with pytest.raises((ConnectionError, DBAPIError, OSError)):
                await _select_one(f"{base}?sslmode=require")
