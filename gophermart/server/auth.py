"""Where a token is found on a connection: the Authorization header, else the cookie."""

from __future__ import annotations

from starlette.requests import HTTPConnection
from starlette.responses import Response

from gophermart.services.records import IssuedToken

COOKIE_NAME = "gophermart_token"


def presented_token(conn: HTTPConnection) -> str | None:
    """The bearer token of an HTTP request or WebSocket handshake, if any."""
    authorization = conn.headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return conn.cookies.get(COOKIE_NAME) or None


def attach_token(response: Response, token: IssuedToken, *, max_age: int, secure: bool) -> None:
    """Send the token both ways a client may keep it: header and HttpOnly cookie."""
    response.headers["Authorization"] = f"Bearer {token.token}"
    response.set_cookie(
        COOKIE_NAME,
        token.token,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure,
    )
