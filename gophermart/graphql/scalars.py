"""The API's scalars: money as a string with two decimals, timestamps in RFC 3339.

``Decimal`` stands for ``decimal.Decimal`` and ``DateTime`` for ``datetime.datetime`` in the
Python types; ``SCALARS`` replaces Strawberry's built-in versions of both, whose rules are
looser (any number of decimals; naive timestamps).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import strawberry
from graphql import FloatValueNode, GraphQLError, IntValueNode, StringValueNode, ValueNode
from strawberry.types.scalar import ScalarDefinition

from gophermart.models.money import MAX_KOPECKS

_CENT = Decimal("0.01")
_MAX_RUBLES = Decimal(MAX_KOPECKS).scaleb(-2)


def serialize_decimal(value: object) -> str:
    """729.98 → "729.98"; whole amounts keep their two decimals ("500.00")."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise TypeError(f"Decimal cannot represent {value!r}")
    return f"{value.quantize(_CENT):f}"


def parse_decimal(value: object) -> Decimal:
    """A string or a number with at most two decimals, as an exact Decimal.

    Floats only arrive from callers that decoded JSON themselves: the HTTP and WebSocket
    transports decode JSON numbers as Decimal, so no digit is lost before this check.
    """
    if isinstance(value, bool):
        raise GraphQLError("Decimal must be a number or a string, not a boolean")
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise GraphQLError(f"Decimal cannot represent {value!r}: not a number") from None
    elif isinstance(value, int | Decimal):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    else:
        raise GraphQLError(f"Decimal must be a number or a string, got {type(value).__name__}")
    if not number.is_finite():
        raise GraphQLError(f"Decimal must be a finite number, got {value!r}")
    # Compared before quantize: quantize fails on more digits than the context's precision.
    if number.copy_abs() > _MAX_RUBLES:
        raise GraphQLError(f"Decimal is too large: {value!r}")
    if number != number.quantize(_CENT):
        raise GraphQLError(f"Decimal must have at most two decimal places, got {value!r}")
    return number


def parse_decimal_literal(node: ValueNode, variables: dict[str, object] | None = None) -> Decimal:
    # The literal's own digits: going through a float first would lose exactly what the
    # two-decimals rule is about (0.1000000000000000055511151231257827 "is" 0.1).
    if isinstance(node, IntValueNode | FloatValueNode | StringValueNode):
        return parse_decimal(node.value)
    raise GraphQLError("Decimal must be a number or a string")


def serialize_datetime(value: object) -> str:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise TypeError(f"DateTime cannot represent {value!r}: a timezone-aware value is needed")
    return value.isoformat(timespec="seconds")


def parse_datetime(value: object) -> datetime:
    """RFC 3339 with an offset ("2020-12-10T15:15:45+03:00", "…Z"), as an aware UTC datetime."""
    if not isinstance(value, str):
        raise GraphQLError("DateTime must be an RFC 3339 string")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise GraphQLError(f"DateTime cannot represent {value!r}: not RFC 3339") from None
    if parsed.tzinfo is None:
        raise GraphQLError(f"DateTime needs an offset (e.g. Z or +03:00), got {value!r}")
    return parsed.astimezone(UTC)


def parse_datetime_literal(node: ValueNode, variables: dict[str, object] | None = None) -> datetime:
    if isinstance(node, StringValueNode):
        return parse_datetime(node.value)
    raise GraphQLError("DateTime must be an RFC 3339 string")


DECIMAL = strawberry.scalar(
    name="Decimal",
    description=(
        "An amount of points (1 point = 1 ruble) with at most two decimals. Sent as a string "
        'with exactly two decimals ("729.98"); accepted as a string or a number.'
    ),
    serialize=serialize_decimal,
    parse_value=parse_decimal,
    parse_literal=parse_decimal_literal,
)

DATETIME = strawberry.scalar(
    name="DateTime",
    description='A point in time in RFC 3339 with an offset, e.g. "2020-12-10T15:15:45+03:00".',
    specified_by_url="https://datatracker.ietf.org/doc/html/rfc3339",
    serialize=serialize_datetime,
    parse_value=parse_datetime,
    parse_literal=parse_datetime_literal,
)

SCALARS: dict[object, ScalarDefinition] = {Decimal: DECIMAL, datetime: DATETIME}
