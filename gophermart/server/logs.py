"""Log output: readable lines by default, one JSON object per line with ``LOG_FORMAT=json``.

Call sites pass facts as ``extra={...}`` (order number, outcome, delay…): the text format
keeps them in its message, the JSON format also emits them as fields a log pipeline can query.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str, *, json_lines: bool | None = None) -> None:
    """Root logging for a command; ``json_lines`` defaults to ``LOG_FORMAT=json``."""
    if json_lines is None:
        json_lines = os.environ.get("LOG_FORMAT", "").strip().lower() == "json"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    # Alembic announces each of its plugins at INFO on every start; httpx logs every request
    # at INFO, i.e. every poll of the accrual system (hundreds a second under load): the
    # poller logs what matters (failures, 429 pauses, credits) and /metrics counts the rest.
    for chatty in ("alembic.runtime.plugins", "httpx"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
