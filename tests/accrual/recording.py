"""An ASGI wrapper that records every order lookup the accrual system receives."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass
class Hit:
    number: str
    started: float
    finished: float = 0.0
    status: int = 0
    retry_after: float | None = None


@dataclass
class RecordingApp:
    app: ASGIApp
    hits: list[Hit] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not path.startswith("/api/orders/")
        ):
            await self.app(scope, receive, send)
            return
        hit = Hit(number=path.rsplit("/", 1)[1], started=time.monotonic())
        self.hits.append(hit)

        async def record(message: Message) -> None:
            if message["type"] == "http.response.start":
                hit.status = message["status"]
                for key, value in message.get("headers", []):
                    if key.lower() == b"retry-after":
                        hit.retry_after = float(value)
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            hit.finished = time.monotonic()
