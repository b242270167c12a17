"""A serving process sets its start-up objects aside from the garbage collector's walks."""

from __future__ import annotations

import gc

from gophermart.server.app import create_app
from gophermart.server.heap import YOUNG_THRESHOLD
from gophermart.server.settings import Settings
from tests.servers import serve_app


async def test_startup_objects_are_frozen_while_serving_and_released_after(
    settings: Settings,
) -> None:
    defaults = gc.get_threshold()
    try:
        async with serve_app(create_app(settings)):
            assert gc.get_freeze_count() > 10_000  # modules, schema, tables…
            assert gc.get_threshold()[0] == YOUNG_THRESHOLD
        assert gc.get_freeze_count() == 0
    finally:
        gc.set_threshold(*defaults)
