"""Property tests of the money and order-number rules (gophermart.models.money)."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gophermart.models.money import (
    MAX_KOPECKS,
    MAX_ORDER_NUMBER_LENGTH,
    AmountError,
    kopecks_to_decimal,
    kopecks_to_number,
    luhn_valid,
    order_number_problem,
    parse_amount,
    round_to_kopecks,
)
from tests.factories import luhn_complete

# The largest amount parse_amount accepts, in rubles.
MAX_RUBLES = Decimal(MAX_KOPECKS) / 100


def reference_luhn(number: str) -> bool:
    """The textbook statement, written independently of the product code: from the right,
    double every second digit, add the digits of each product, the sum must end in 0."""
    if not number or any(char not in "0123456789" for char in number):
        return False
    total = 0
    for position, char in enumerate(number[::-1], start=1):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += sum(int(d) for d in str(value))
    return total % 10 == 0


digit_strings = st.text(alphabet="0123456789", min_size=1, max_size=40)


# ---------------------------------------------------------------- Luhn


@given(digit_strings)
@example("79927398713")  # the classic valid example
@example("79927398710")
@example("0")
@example("00")
def test_luhn_matches_reference_on_digit_strings(number: str) -> None:
    assert luhn_valid(number) is reference_luhn(number)


@given(st.text(max_size=30))
@example("")
@example(" 79927398713")
@example("79927398713\n")
@example("7992739871３")  # a full-width digit: str.isdigit() says yes, Luhn says no
@example("٧٩٩٢٧٣٩٨٧١٣")  # Arabic-Indic digits
@example("-0")
@example("+18")
def test_luhn_matches_reference_on_any_text(text: str) -> None:
    assert luhn_valid(text) is reference_luhn(text)


@given(st.text(alphabet="0123456789", max_size=40))
def test_luhn_complete_payloads_are_valid(payload: str) -> None:
    number = luhn_complete(payload)
    assert len(number) == len(payload) + 1
    assert number.startswith(payload)
    assert luhn_valid(number)
    assert reference_luhn(number)


@given(
    st.text(alphabet="0123456789", max_size=40),
    st.data(),
)
def test_changing_any_single_digit_breaks_luhn(payload: str, data: st.DataObject) -> None:
    number = luhn_complete(payload)
    index = data.draw(st.integers(min_value=0, max_value=len(number) - 1), label="index")
    replacement = data.draw(
        st.sampled_from([d for d in "0123456789" if d != number[index]]), label="digit"
    )
    changed = number[:index] + replacement + number[index + 1 :]
    assert not luhn_valid(changed)


# ---------------------------------------------------------------- parsing amounts

two_decimal_amounts = st.decimals(
    min_value=Decimal("0.01"), max_value=MAX_RUBLES, places=2, allow_nan=False
)


@given(two_decimal_amounts)
@example(Decimal("0.01"))
@example(Decimal("751"))
@example(Decimal("500.5"))
@example(Decimal("729.98"))
@example(MAX_RUBLES)
@example(Decimal("1.000"))  # trailing zeros are not extra decimals
@example(Decimal("12E+2"))  # 1200, written with an exponent
def test_parse_amount_round_trips_two_decimals(amount: Decimal) -> None:
    kopecks = parse_amount(amount)
    assert isinstance(kopecks, int)
    assert Decimal(kopecks) == amount * 100
    assert kopecks_to_decimal(kopecks) == amount
    # The same value as text and, when whole, as an int.
    assert parse_amount(str(amount)) == kopecks
    assert parse_amount(f" {amount} ") == kopecks
    if amount == amount.to_integral_value():
        assert parse_amount(int(amount)) == kopecks


@given(st.integers(min_value=1, max_value=MAX_KOPECKS // 100))
def test_parse_amount_of_ints(rubles: int) -> None:
    assert parse_amount(rubles) == rubles * 100


@given(
    st.decimals(min_value=Decimal("0.001"), max_value=MAX_RUBLES, places=3, allow_nan=False).filter(
        lambda d: d != d.quantize(Decimal("0.01"))
    )
    | st.decimals(
        min_value=Decimal("1E-30"), max_value=Decimal(10) ** 6, places=30, allow_nan=False
    ).filter(lambda d: d != d.quantize(Decimal("0.01")))
)
@example(Decimal("0.001"))
@example(Decimal("729.975"))
@example(Decimal("1.0000000000000000000000000000000001"))  # more digits than the context
def test_parse_amount_rejects_more_than_two_decimals(amount: Decimal) -> None:
    with pytest.raises(AmountError):
        parse_amount(amount)
    with pytest.raises(AmountError):
        parse_amount(str(amount))


@given(st.decimals(max_value=Decimal(0), allow_nan=False, allow_infinity=False))
@example(Decimal(0))
@example(Decimal("-0"))
@example(Decimal("-0.00"))
@example(Decimal("-0.01"))
def test_parse_amount_rejects_non_positive(amount: Decimal) -> None:
    with pytest.raises(AmountError):
        parse_amount(amount)


@given(st.integers(max_value=0))
def test_parse_amount_rejects_non_positive_ints(amount: int) -> None:
    with pytest.raises(AmountError):
        parse_amount(amount)


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        1.5,
        100.0,
        float("nan"),
        float("inf"),
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("-NaN"),
        Decimal("Infinity"),
        Decimal("-Infinity"),
        "NaN",
        "Infinity",
        "-inf",
        "sNaN",
        "",
        "   ",
        "abc",
        "1,5",
        "1.5.5",
        None,
        [1],
        {"sum": 1},
        b"1",
        Decimal("1e400"),
        Decimal("1E+999999"),  # the largest exponent a Decimal context allows
        Decimal("9.99E+999999"),
        Decimal("1e999999999"),  # beyond every context limit
        "1e400",
        "1e999999",
        "1e999999999",
        10**400,
        MAX_KOPECKS // 100 + 1,
        MAX_RUBLES + Decimal("0.01"),
        Decimal("1e-400"),
        Decimal("1e-999999999"),
        "1e-400",
    ],
    ids=repr,
)
def test_parse_amount_rejects_non_amounts(value: object) -> None:
    with pytest.raises(AmountError):
        parse_amount(value)


amount_like = st.one_of(
    st.decimals(),  # NaN, sNaN, infinities and any exponent
    st.builds(
        lambda sign, digits, exponent: Decimal((sign, digits, exponent)),
        st.integers(0, 1),
        st.lists(st.integers(0, 9), min_size=1, max_size=40).map(tuple),
        st.integers(-1_100_000, 1_100_000) | st.integers(-(10**9), 10**9),
    ),
    st.integers(),
    st.integers(min_value=-(10**500), max_value=10**500),
    st.floats(),
    st.booleans(),
    st.none(),
    st.text(max_size=40),
    st.from_regex(r"\A[+-]?[0-9]{0,20}(\.[0-9]{0,20})?([eE][+-]?[0-9]{1,12})?\Z"),
)


@given(amount_like)
def test_parse_amount_raises_only_amount_error(value: object) -> None:
    try:
        kopecks = parse_amount(value)
    except AmountError:
        return
    assert isinstance(kopecks, int)
    assert 0 < kopecks <= MAX_KOPECKS


@given(amount_like)
def test_accepted_amounts_are_exact(value: object) -> None:
    try:
        kopecks = parse_amount(value)
    except AmountError:
        return
    assert isinstance(value, int | Decimal | str)
    exact = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    assert Decimal(kopecks) == exact * 100


# ---------------------------------------------------------------- rounding


def reference_round(value: Decimal) -> int:
    """Half-up to two decimals, computed with enough precision that nothing else rounds."""
    quantized = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return int(quantized * 100)


@pytest.mark.parametrize(
    ("value", "kopecks"),
    [
        ("729.975", 72998),
        ("729.974999", 72997),
        ("0.005", 1),
        ("0.004", 0),
        ("0.0049999999999", 0),
        ("27.25", 2725),
        ("500", 50000),
        ("0", 0),
        ("1.125", 113),
        ("1.135", 114),  # half-up, not banker's rounding
        ("5E-3", 1),
        ("2.5E-3", 0),
        # More significant digits than the default Decimal context (28): rounding must still
        # start from the exact value.
        ("0.00499999999999999999999999999999", 0),
        ("1234567890123.004999999999999999999999", 123456789012300),
        ("1234567890123.005000000000000000000001", 123456789012301),
    ],
)
def test_round_to_kopecks_examples(value: str, kopecks: int) -> None:
    assert round_to_kopecks(Decimal(value)) == kopecks


@given(st.decimals(min_value=Decimal(0), max_value=Decimal(10) ** 12, places=6, allow_nan=False))
@example(Decimal("729.975"))
def test_round_to_kopecks_is_half_up(value: Decimal) -> None:
    assert round_to_kopecks(value) == reference_round(value)


@given(
    st.builds(
        lambda digits, exponent: Decimal((0, digits, exponent)),
        st.lists(st.integers(0, 9), min_size=1, max_size=60).map(tuple),
        st.integers(-60, 0),
    ).filter(lambda d: d <= MAX_RUBLES)
)
def test_round_to_kopecks_is_half_up_for_long_decimals(value: Decimal) -> None:
    """Long inputs, such as an accrual system's JSON number with many digits."""
    assert round_to_kopecks(value) == reference_round(value)


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False))
def test_round_to_kopecks_of_float_text(value: float) -> None:
    """A float as its shortest text (how JSON writes it) rounds like that text."""
    text = repr(value)
    assert round_to_kopecks(Decimal(text)) == reference_round(Decimal(text))


# ---------------------------------------------------------------- rendering


@given(st.integers(min_value=0, max_value=2**53 - 1))
@example(0)
@example(1)
@example(10)
@example(4250)
@example(72998)
@example(2**46 * 100 + 1)  # beyond this a double's spacing is wider than a kopeck
@example(2**53 - 1)
def test_kopecks_to_number_round_trips_through_json(kopecks: int) -> None:
    rendered = orjson.dumps({"current": kopecks_to_number(kopecks)})
    text = rendered.decode()
    number_text = text.removeprefix('{"current":').removesuffix("}")
    assert "e" not in number_text.lower()
    whole, _, fraction = number_text.partition(".")
    assert whole.isdigit()
    assert len(fraction) <= 2
    assert fraction == "" or not fraction.endswith("0")
    parsed = json.loads(rendered, parse_float=Decimal)["current"]
    assert Decimal(parsed) * 100 == kopecks
    if kopecks % 100 == 0:
        assert isinstance(parsed, int)  # whole rubles are rendered as integers


@pytest.mark.parametrize(
    ("kopecks", "json_text"),
    [(0, b"0"), (1, b"0.01"), (10, b"0.1"), (4250, b"42.5"), (72998, b"729.98"), (50000, b"500")],
)
def test_kopecks_to_number_examples(kopecks: int, json_text: bytes) -> None:
    assert orjson.dumps(kopecks_to_number(kopecks)) == json_text


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_kopecks_to_decimal(kopecks: int) -> None:
    value = kopecks_to_decimal(kopecks)
    assert value.as_tuple().exponent == -2
    assert value * 100 == kopecks


# ---------------------------------------------------------------- order numbers


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("79927398713", None),
        ("12345678903", None),
        ("9278923470", None),
        ("0", None),
        ("", "order number is empty"),
        ("12345678901", "order number fails the Luhn check"),
        ("1234 5678 903", "order number must contain digits only"),
        (" 12345678903", "order number must contain digits only"),
        ("12345678903\n", "order number must contain digits only"),
        ("-12345678903", "order number must contain digits only"),
        ("1234567890３", "order number must contain digits only"),
        ("١٢٣", "order number must contain digits only"),
        ("abc", "order number must contain digits only"),
        ("1e5", "order number must contain digits only"),
        (luhn_complete("1" * MAX_ORDER_NUMBER_LENGTH), "order number must be at most 255 digits"),
    ],
    ids=repr,
)
def test_order_number_problem_cases(number: str, problem: str | None) -> None:
    assert order_number_problem(number) == problem


def test_order_number_of_the_longest_allowed_length() -> None:
    number = luhn_complete("7" * (MAX_ORDER_NUMBER_LENGTH - 1))
    assert len(number) == MAX_ORDER_NUMBER_LENGTH
    assert order_number_problem(number) is None


@given(st.text(alphabet="0123456789", max_size=MAX_ORDER_NUMBER_LENGTH - 1))
def test_order_number_problem_agrees_with_luhn(payload: str) -> None:
    number = luhn_complete(payload)
    assert order_number_problem(number) is None
    broken = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert order_number_problem(broken) == "order number fails the Luhn check"
