"""Keyset pagination shared by every listing: the page-size bounds and the look-ahead row."""

from __future__ import annotations

from typing import TypeVar

from gophermart.services.errors import ValidationError
from gophermart.services.records import Page, PageEntry

MAX_PAGE_SIZE = 100

T = TypeVar("T")


def check_page_size(first: int) -> None:
    """A page holds 1 to MAX_PAGE_SIZE items: one query never reads an unbounded list."""
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise ValidationError(f"first must be between 1 and {MAX_PAGE_SIZE}", field="first")


def cut_page(entries: list[PageEntry[T]], first: int) -> Page[T]:
    """``entries`` were read with LIMIT first + 1: the extra row only tells that more follow."""
    return Page(entries=entries[:first], has_next=len(entries) > first)
