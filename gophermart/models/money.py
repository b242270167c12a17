"""Money and order-number rules.

Money is an integer number of kopecks everywhere in storage and arithmetic; it becomes a
decimal number only when parsed from or rendered to the wire.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

KOPECKS_PER_RUBLE = 100
# Far above any real balance, far below BIGINT: keeps SQL arithmetic from overflowing.
MAX_KOPECKS = 10**17
MAX_ORDER_NUMBER_LENGTH = 255
_CENT = Decimal("0.01")


class AmountError(ValueError):
    """An amount that is not a positive number with at most two decimals."""


def parse_amount(value: object) -> int:
    """Parse a positive amount with at most two decimals into kopecks.

    Accepts ``int``, ``Decimal`` and decimal strings; rejects ``bool`` and ``float`` (a float
    has already lost the digits we would need to check).
    """
    if isinstance(value, bool) or isinstance(value, float):
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
    if value * KOPECKS_PER_RUBLE > MAX_KOPECKS:  # before quantize, which overflows on 1e400
        raise AmountError("is too large")
    if value != value.quantize(_CENT, rounding=ROUND_HALF_UP):
        raise AmountError("must have at most two decimal places")
    return int(value * KOPECKS_PER_RUBLE)


def round_to_kopecks(value: Decimal) -> int:
    """Round a ruble amount half-up to whole kopecks (729.975 → 72998)."""
    return int((value * KOPECKS_PER_RUBLE).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def kopecks_to_number(kopecks: int) -> int | float:
    """A JSON-ready number with at most two decimals: 72998 → 729.98, 0 → 0, 4250 → 42.5.

    ``kopecks / 100`` is the double nearest to the decimal value, and its shortest repr (what
    JSON encoders print) is exactly that decimal for every integer below 2**53.
    """
    if kopecks % KOPECKS_PER_RUBLE == 0:
        return kopecks // KOPECKS_PER_RUBLE
    return kopecks / KOPECKS_PER_RUBLE


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
