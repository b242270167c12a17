"""RFC 9457 problem details: the one shape of every error the HTTP interfaces send."""

from __future__ import annotations

from http import HTTPStatus

import orjson
from starlette.responses import Response

PROBLEM_MEDIA_TYPE = "application/problem+json"


def problem_body(status: int, detail: str, code: str) -> bytes:
    return orjson.dumps(
        {
            "type": "about:blank",
            "title": HTTPStatus(status).phrase,
            "status": status,
            "detail": detail,
            "code": code,
        }
    )


def problem_response(
    status: int, detail: str, code: str, *, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        problem_body(status, detail, code),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )
