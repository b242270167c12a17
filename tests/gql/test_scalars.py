"""The Decimal and DateTime scalars on their own (the HTTP tests cover the wire)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from graphql import GraphQLError, parse_value

from gophermart.graphql.scalars import (
    parse_datetime,
    parse_datetime_literal,
    parse_decimal,
    parse_decimal_literal,
    serialize_datetime,
    serialize_decimal,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("729.98", Decimal("729.98")),
        (" 42.5 ", Decimal("42.5")),
        ("1.500", Decimal("1.5")),  # trailing zeros are not decimals
        (42, Decimal(42)),
        (Decimal("0.01"), Decimal("0.01")),
        (29.98, Decimal("29.98")),
        ("-5", Decimal(-5)),  # a well-formed amount; "must be positive" is withdraw's rule
        ("1e3", Decimal(1000)),
        ("1000000000000000", Decimal(10**15)),
    ],
)
def test_decimal_accepts(value: object, expected: Decimal) -> None:
    assert parse_decimal(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "1.005",
        "0.1000000000000000055511151231257827",
        "1.0000000000000000000000000000001",  # more digits than the Decimal context keeps
        "NaN",
        "-Infinity",
        "sNaN",
        "",
        "ten",
        True,
        None,
        [1],
        "1e400",
        "1000000000000000.01",
        float("nan"),
        float("inf"),
    ],
)
def test_decimal_rejects(value: object) -> None:
    with pytest.raises(GraphQLError, match="Decimal"):
        parse_decimal(value)


def test_decimal_literals_keep_their_digits() -> None:
    assert parse_decimal_literal(parse_value("12.34")) == Decimal("12.34")
    assert parse_decimal_literal(parse_value('"12.34"')) == Decimal("12.34")
    assert parse_decimal_literal(parse_value("12")) == Decimal(12)
    with pytest.raises(GraphQLError):
        parse_decimal_literal(parse_value("0.1000000000000000055511151231257827"))
    with pytest.raises(GraphQLError):
        parse_decimal_literal(parse_value("[1]"))


def test_decimal_serializes_with_two_decimals() -> None:
    assert serialize_decimal(Decimal("729.98")) == "729.98"
    assert serialize_decimal(Decimal(500)) == "500.00"
    assert serialize_decimal(Decimal("0.5")) == "0.50"
    assert serialize_decimal(Decimal(10**15)) == "1000000000000000.00"
    for bad in (1.5, 2, Decimal("NaN"), "1.00"):
        with pytest.raises(TypeError):
            serialize_decimal(bad)


def test_datetime() -> None:
    moscow = timezone(timedelta(hours=3))
    assert parse_datetime("2020-12-10T15:15:45+03:00") == datetime(
        2020, 12, 10, 12, 15, 45, tzinfo=UTC
    )
    assert parse_datetime("2020-12-10T12:15:45Z").tzinfo is UTC
    assert parse_datetime_literal(parse_value('"2020-12-10T12:15:45.5Z"')).microsecond == 500000
    for bad in ("2020-12-10T15:15:45", "yesterday", 1607602545, ""):
        with pytest.raises(GraphQLError, match="DateTime"):
            parse_datetime(bad)
    with pytest.raises(GraphQLError):
        parse_datetime_literal(parse_value("1607602545"))
    at = datetime(2020, 12, 10, 15, 15, 45, 123456, tzinfo=moscow)
    assert serialize_datetime(at) == "2020-12-10T15:15:45+03:00"
    with pytest.raises(TypeError):
        serialize_datetime(datetime(2020, 12, 10))
