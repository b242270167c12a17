"""ASGI middleware: request bodies (gzip, size limit) and the last line of error handling."""

from __future__ import annotations

import logging
import uuid
import zlib
from http import HTTPStatus

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gophermart.server.problems import PROBLEM_MEDIA_TYPE, problem_body

logger = logging.getLogger("gophermart.http")

MAX_BODY_BYTES = 1024 * 1024
# An oversized body up to this size is read and dropped so that the client, which is still
# sending, gets its 413 instead of a reset connection; past it the connection is closed.
DRAIN_LIMIT_BYTES = 16 * MAX_BODY_BYTES


class _Rejected(Exception):
    def __init__(self, status: int, detail: str, code: str, *, close: bool = False) -> None:
        self.status, self.detail, self.code, self.close = status, detail, code, close


def _too_large(*, close: bool) -> _Rejected:
    return _Rejected(413, "the request body is over 1 MiB", "payload_too_large", close=close)


async def _send_problem(
    send: Send, status: int, detail: str, code: str, *, close: bool = False
) -> None:
    body = problem_body(status, detail, code)
    headers = [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    if close:  # the rest of a rejected body may still be on its way: do not reuse the socket
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _gunzip(data: bytes) -> bytes:
    # Bounded output: a few KiB of gzip must not become gigabytes in memory.
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        body = inflater.decompress(data, MAX_BODY_BYTES + 1)
        if len(body) > MAX_BODY_BYTES:
            raise _Rejected(413, "the decompressed body is over 1 MiB", "payload_too_large")
        if not inflater.eof or inflater.unused_data:
            raise _Rejected(400, "the gzip stream is truncated or has trailing data", "bad_gzip")
    except zlib.error as exc:
        raise _Rejected(400, f"the gzip stream is broken: {exc}", "bad_gzip") from None
    return body


class RequestBodyMiddleware:
    """Buffers request bodies up to 1 MiB (413 beyond), inflating ``Content-Encoding: gzip``.

    Downstream code sees a plain body with the right Content-Length, whatever the client sent.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        try:
            length = _header(scope, b"content-length")
            if length is not None and length.isdigit() and int(length) > DRAIN_LIMIT_BYTES:
                raise _too_large(close=True)
            body = await self._read(receive)
            encoding = (_header(scope, b"content-encoding") or b"identity").strip().lower()
            if encoding == b"gzip":
                body = _gunzip(body)
            elif encoding != b"identity":
                # Header bytes are ISO-8859-1 (RFC 9110 §5.5); utf-8 would fail on some of them.
                shown = encoding.decode("latin-1")
                raise _Rejected(400, f"unsupported Content-Encoding {shown!r}", "bad_encoding")
        except _Rejected as rejected:
            await _send_problem(
                send, rejected.status, rejected.detail, rejected.code, close=rejected.close
            )
            return
        headers = [
            (k, v)
            for k, v in scope["headers"]
            if k not in (b"content-encoding", b"content-length", b"transfer-encoding")
        ]
        headers.append((b"content-length", str(len(body)).encode()))
        # In place, not a copy: the outer middleware read what the router leaves in the scope.
        scope["headers"] = headers
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()  # only http.disconnect can come after the body
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    @staticmethod
    async def _read(receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Rejected(
                    400, "the client went away mid-body", "client_disconnected", close=True
                )
            chunk = message.get("body", b"")
            size += len(chunk)
            more = message.get("more_body", False)
            if size > MAX_BODY_BYTES:
                while more and size <= DRAIN_LIMIT_BYTES:
                    message = await receive()
                    size += len(message.get("body", b""))
                    more = message.get("more_body", False)
                raise _too_large(close=more)
            chunks.append(chunk)
            if not more:
                return b"".join(chunks)


class ErrorMiddleware:
    """Tags each request with an id and turns an unexpected exception into a logged 500.

    The client sees a problem+json with the request id, never the exception itself.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_id = _header(scope, b"x-request-id")
        request_id = raw_id.decode("latin-1")[:64] if raw_id else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode("latin-1")),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            logger.exception(
                "unhandled error in %s %s [request_id=%s]",
                scope["method"],
                scope["path"],
                request_id,
            )
            if not started:
                await _send_problem(
                    send_with_id,
                    HTTPStatus.INTERNAL_SERVER_ERROR,
                    f"internal error; quote request id {request_id} when reporting it",
                    "internal_error",
                )
