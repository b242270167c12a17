"""The lean route's IN lists: a few shapes whatever the lengths, and the same rows found."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gophermart.store.lean import in_list


@given(st.lists(st.integers(), min_size=1, max_size=300))
def test_in_list_pads_to_a_power_of_two_with_the_same_values(values: list[int]) -> None:
    params = in_list("id_", values)
    size = len(params)
    assert size & (size - 1) == 0 and len(values) <= size < 2 * len(values)
    assert list(params) == [f"id_{index}" for index in range(size)]
    assert list(params.values())[: len(values)] == values
    assert set(params.values()) == set(values)


def test_in_list_refuses_an_empty_list() -> None:
    with pytest.raises(ValueError, match="at least one value"):
        in_list("id_", [])
