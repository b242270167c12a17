"""Uploading and listing orders."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gophermart.models.money import order_number_problem
from gophermart.models.types import utcnow
from gophermart.services.errors import (
    InvalidOrderNumber,
    OrderUploadedByAnotherUser,
    ValidationError,
)
from gophermart.services.pages import check_page_size, cut_page
from gophermart.services.records import (
    OrderFilter,
    OrderRecord,
    Page,
    PageKey,
    Principal,
    UploadResult,
)
from gophermart.store import orders
from gophermart.store.database import Database


def normalize_order_number(raw: str) -> str:
    """Surrounding whitespace is ignored; then the number must be Luhn-valid digits."""
    number = raw.strip()
    if not number:
        raise ValidationError("the order number is empty", field="number")
    problem = order_number_problem(number)
    if problem is not None:
        raise InvalidOrderNumber(problem)
    return number


async def upload_order(
    *,
    db: Database,
    principal: Principal,
    number: str,
    on_created: Callable[[], None] | None = None,
) -> UploadResult:
    """Link a new order number to the user; committed before this returns.

    Returns ``created=False`` when the same user uploaded it before; raises
    OrderUploadedByAnotherUser when someone else did. ``on_created`` runs after the commit of
    a new order (it wakes the poller).
    """
    number = normalize_order_number(number)
    # One statement decides (ON CONFLICT): it commits alone, and a conflict's owner is read
    # after it — the conflicting row was committed before DO NOTHING gave way, and orders are
    # never deleted.
    async with db.lean_autocommit() as conn:
        created = await orders.insert_order(
            conn, number=number, user_id=principal.user_id, now=utcnow()
        )
        if created is None:
            found = await orders.find_order(conn, number=number)
    if created is not None:
        if on_created is not None:
            on_created()
        return UploadResult(order=created, created=True)
    if found is None:  # pragma: no cover - orders are never deleted
        raise RuntimeError(f"order {number} conflicted but cannot be found")
    owner_id, existing = found
    if owner_id != principal.user_id:
        raise OrderUploadedByAnotherUser("this order number was uploaded by another user")
    return UploadResult(order=existing, created=False)


async def list_orders(*, db: Database, principal: Principal) -> list[OrderRecord]:
    async with db.lean_read() as conn:
        return await orders.list_orders(conn, user_id=principal.user_id)


async def page_orders(
    *,
    db: Database,
    principal: Principal,
    first: int,
    after: PageKey | None = None,
    filter: OrderFilter | None = None,
) -> Page[OrderRecord]:
    """The user's orders, newest upload first, ``first`` at a time after the key ``after``."""
    check_page_size(first)
    async with db.lean_read() as conn:
        entries = await orders.page_orders(
            conn,
            user_id=principal.user_id,
            filter=filter or OrderFilter(),
            after=after,
            limit=first + 1,
        )
    return cut_page(entries, first)


async def count_orders(
    *, db: Database, principal: Principal, filter: OrderFilter | None = None
) -> int:
    async with db.lean_read() as conn:
        return await orders.count_orders(
            conn, user_id=principal.user_id, filter=filter or OrderFilter()
        )


async def find_orders(
    *, db: Database, principal: Principal, numbers: Sequence[str]
) -> dict[str, OrderRecord]:
    """The user's orders among ``numbers``, by number; another user's order is not found."""
    if not numbers:
        return {}
    async with db.lean_read() as conn:
        found = await orders.find_user_orders(conn, user_id=principal.user_id, numbers=numbers)
    return {record.number: record for record in found}
