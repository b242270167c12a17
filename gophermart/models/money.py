"""Money and order-number rules.

Money is an integer number of kopecks everywhere in storage and arithmetic; it becomes a
decimal number only when parsed from or rendered to the wire.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import orjson

KOPECKS_PER_RUBLE = 100
# Far above any real balance, far below BIGINT: keeps SQL arithmetic from overflowing.
MAX_KOPECKS = 10**17
MAX_ORDER_NUMBER_LENGTH = 255
_CENT = Decimal("0.01")
_MAX_RUBLES = Decimal(MAX_KOPECKS).scaleb(-2)
# Below 2**46 rubles doubles lie less than a kopeck apart, so ``kopecks / 100`` is the double
# nearest to the two-decimal value and its shortest repr is exactly that value. Above it
# (≈ 70 trillion rubles) two kopeck values can share a double.
_EXACT_FLOAT_KOPECKS = 2**46 * KOPECKS_PER_RUBLE


class AmountError(ValueError):
    """An amount that is not a positive number with at most two decimals."""


def parse_amount(value: object) -> int:
    """Parse a positive amount with at most two decimals into kopecks.

    Accepts ``int``, ``Decimal`` and decimal strings; rejects ``bool`` and ``float`` (a float
    has already lost the digits we would need to check).
    """
    if isinstance(value, bool | float):
        raise AmountError("must be a number")
    if isinstance(value, int):
        value = Decimal(value)
    elif isinstance(value, str):
        try:
            value = Decimal(value.strip())
        except InvalidOperation:
            raise AmountError("must be a number") from None
    if not isinstance(value, Decimal) or not value.is_finite():
        raise AmountError("must be a finite number")
    if value <= 0:
        raise AmountError("must be greater than zero")
    # Compared, not multiplied: arithmetic on 1e999999 overflows the Decimal context, and
    # quantize fails on more digits than the context's precision.
    if value > _MAX_RUBLES:
        raise AmountError("is too large")
    quantized = value.quantize(_CENT, rounding=ROUND_HALF_UP)
    if value != quantized:
        raise AmountError("must have at most two decimal places")
    return int(quantized.scaleb(2))


def round_to_kopecks(value: Decimal) -> int:
    """Round a ruble amount half-up to whole kopecks (729.975 → 72998).

    Rounds from the exact value however many digits it has (multiplying first would round
    to the context's 28 digits, then round again). AmountError when it is not finite or
    beyond ±MAX_KOPECKS.
    """
    if not value.is_finite() or value.copy_abs() > _MAX_RUBLES:
        raise AmountError("is out of range")
    return int(value.quantize(_CENT, rounding=ROUND_HALF_UP).scaleb(2))


def kopecks_to_number(kopecks: int) -> int | float | orjson.Fragment:
    """A JSON-ready number with at most two decimals: 72998 → 729.98, 0 → 0, 4250 → 42.5.

    Whole rubles are an ``int``. Otherwise ``kopecks / 100`` is the double nearest to the
    decimal value, and its shortest repr (what JSON encoders print) is exactly that decimal
    below 2**46 rubles; beyond, where a double cannot tell kopecks apart, the exact digits
    go out as an ``orjson.Fragment`` (pre-rendered JSON).
    """
    if kopecks % KOPECKS_PER_RUBLE == 0:
        return kopecks // KOPECKS_PER_RUBLE
    if abs(kopecks) < _EXACT_FLOAT_KOPECKS:
        return kopecks / KOPECKS_PER_RUBLE
    return orjson.Fragment(str(kopecks_to_decimal(kopecks).normalize()))


def kopecks_to_decimal(kopecks: int) -> Decimal:
    """Two-decimal Decimal for interfaces that render money as a string ("729.98")."""
    return (Decimal(kopecks) / KOPECKS_PER_RUBLE).quantize(_CENT)


def luhn_valid(number: str) -> bool:
    """True when ``number`` is a non-empty string of ASCII digits that passes the Luhn check."""
    if not number or not number.isascii() or not number.isdigit():
        return False
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = ord(char) - 48
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def luhn_complete(payload: str) -> str:
    """``payload`` (digits) followed by the check digit that makes it pass the Luhn check."""
    total = 0
    for index, char in enumerate(reversed(payload)):
        digit = (ord(char) - 48) * (2 if index % 2 == 0 else 1)
        total += digit - 9 if digit > 9 else digit
    return payload + str((10 - total % 10) % 10)


def order_number_problem(number: str) -> str | None:
    """Why ``number`` is not an acceptable order number, or None when it is."""
    if not number:
        return "order number is empty"
    if not number.isascii() or not number.isdigit():
        return "order number must contain digits only"
    if len(number) > MAX_ORDER_NUMBER_LENGTH:
        return f"order number must be at most {MAX_ORDER_NUMBER_LENGTH} digits"
    if not luhn_valid(number):
        return "order number fails the Luhn check"
    return None
