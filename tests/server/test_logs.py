"""LOG_FORMAT=json: one JSON object per line, with the call site's facts as fields."""

from __future__ import annotations

import json
import logging

from gophermart.server.logs import JsonFormatter


def test_json_lines_carry_extra_fields_and_exceptions() -> None:
    record = logging.LogRecord(
        "gophermart.poller", logging.WARNING, __file__, 1, "order %s: %s", ("123", "timeout"), None
    )
    record.order = "123"
    record.attempts = 2
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "order 123: timeout"
    assert entry["level"] == "warning"
    assert entry["logger"] == "gophermart.poller"
    assert (entry["order"], entry["attempts"]) == ("123", 2)
    assert entry["ts"].endswith("+00:00")
    assert "args" not in entry and "msg" not in entry

    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        failed = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert "RuntimeError: boom" in json.loads(JsonFormatter().format(failed))["exception"]
