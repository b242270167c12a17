"""Domain error → HTTP status: the one table of the REST interface."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from gophermart.server.problems import problem_response
from gophermart.services import errors

STATUS_BY_ERROR: dict[type[errors.DomainError], int] = {
    errors.ValidationError: 400,
    errors.Unauthenticated: 401,
    errors.InvalidCredentials: 401,
    errors.InsufficientFunds: 402,
    errors.LoginTaken: 409,
    errors.OrderUploadedByAnotherUser: 409,
    errors.WithdrawalConflict: 409,
    errors.InvalidOrderNumber: 422,
}


async def domain_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.DomainError)
    status = STATUS_BY_ERROR[type(exc)]
    headers = {"WWW-Authenticate": 'Bearer realm="gophermart"'} if status == 401 else None
    return problem_response(status, exc.message, exc.code, headers=headers)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    headers = dict(exc.headers) if exc.headers else None
    return problem_response(exc.status_code, str(exc.detail), code, headers=headers)
