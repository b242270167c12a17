"""Schemathesis drives every operation of openapi.json against the live server, on each database.

The real app runs under uvicorn on the test's event loop (``running_app``); a signed-up user's
bearer token goes with every request. For each documented operation Schemathesis sends the
document's examples, its coverage cases (boundary values, missing and mistyped members,
undocumented methods) and a bounded, derandomized Hypothesis run of positive and negative cases,
over real HTTP to 127.0.0.1. Every answer must be one the document allows: no 5xx; a documented
status code, Content-Type, headers and body; a 405 with ``Allow`` for an undocumented method; and
a request the document calls invalid must be rejected.

Schemathesis is synchronous, so it runs in a worker thread while the loop keeps serving.
``schema.parametrize()`` would need a synchronous pytest test, which would block that loop, so
the test is built with the same builder it uses (examples + coverage + fuzzing phases).
"""

from __future__ import annotations

import asyncio
import gzip
from collections import Counter
from collections.abc import Callable
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.generation.hypothesis.builder import (
    HypothesisTestConfig,
    HypothesisTestMode,
    create_test,
)
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from gophermart.store.database import Database
from tests.conftest import RunningApp
from tests.factories import credit_points, sign_up
from tests.openapi_contract import load_packaged_document

CHECKS: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    unsupported_method,
    negative_data_rejection,
]
# Per operation and user; the examples and coverage phases add their fixed cases on top.
MAX_EXAMPLES = 50
READ_OPERATIONS = {"listOrders", "getBalance", "listWithdrawals"}
PUBLIC_OPERATIONS = {"registerUser", "loginUser"}

Statuses = dict[str, Counter[int]]
Operation = APIOperation[Any, Any, Any, Any]
Case = schemathesis.Case[Operation]


class _TruthfulGzipSession(requests.Session):
    """Gzips the body of a request that says ``Content-Encoding: gzip``.

    The document allows that header on every request with a body; Schemathesis sends it but not
    a compressed body, which the server rightly answers with ``400 bad_gzip``.
    """

    def __init__(self) -> None:
        super().__init__()
        # The Set-Cookie of register/login answers must not authenticate later cases.
        self.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if str(request.headers.get("Content-Encoding", "")).strip().lower() == "gzip":
            body = request.body or b""
            if isinstance(body, str):
                body = body.encode()
            assert isinstance(body, bytes), "Schemathesis sends whole bodies, never streams"
            request.body = gzip.compress(body)
            request.headers["Content-Length"] = str(len(request.body))
        return super().send(request, **kwargs)


def _operations() -> list[Operation]:
    # Not discovered from the working directory: nothing outside this file steers the run. The
    # real token goes with every case; generated credentials would only be replaced by it.
    config = schemathesis.Config.from_dict({"generation": {"with-security-parameters": False}})
    schema = schemathesis.openapi.from_dict(load_packaged_document(), config=config)
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    return operations


def _operation_test(operation: Operation, run: Callable[[Case], None]) -> Callable[[], None]:
    settings = hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,  # the same cases on every run and machine
        database=None,
        deadline=None,  # real HTTP and argon2: timing is not what this test checks
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    test: Callable[[], None] = create_test(
        operation=operation,
        test_func=run,
        config=HypothesisTestConfig(
            project=operation.schema.config, modes=list(HypothesisTestMode), settings=settings
        ),
    )
    return test


def _drive(operations: list[Operation], base_url: str, auth: dict[str, str]) -> Statuses:
    """Run every operation's cases; the status codes answered, per operationId."""
    statuses: Statuses = {}
    with _TruthfulGzipSession() as session:

        def runner(seen: Counter[int]) -> Callable[[Case], None]:
            def run(case: Case) -> None:
                response = case.call(base_url=base_url, headers=auth, session=session, timeout=30)
                seen[response.status_code] += 1
                case.validate_response(response, checks=CHECKS, headers=auth)

            return run

        for operation in operations:
            seen = statuses.setdefault(str(operation.definition.raw["operationId"]), Counter())
            _operation_test(operation, runner(seen))()
    return statuses


async def test_live_server_conforms_to_the_document(
    client: httpx.AsyncClient, running_app: RunningApp, db: Database
) -> None:
    operations = _operations()
    ids = {str(operation.definition.raw["operationId"]) for operation in operations}
    assert ids >= READ_OPERATIONS | PUBLIC_OPERATIONS

    auth = await sign_up(client)
    # A user without history: the empty lists (204) and a zero balance.
    fresh = [op for op in operations if op.definition.raw["operationId"] in READ_OPERATIONS]
    empty = await asyncio.to_thread(_drive, fresh, running_app.base_url, auth)
    for operation_id in ("listOrders", "listWithdrawals"):
        assert {status for status in empty[operation_id] if status < 300} == {204}, empty

    principal = running_app.context.tokens.decode(auth["Authorization"].removeprefix("Bearer "))
    await credit_points(db, principal, 100_000)  # 1,000 points: some withdrawals succeed, some 402
    statuses = await asyncio.to_thread(_drive, operations, running_app.base_url, auth)

    # The run reached the business logic: each operation succeeded at least once, and no case
    # of a protected operation was turned away for its token.
    assert statuses.keys() == ids
    for operation_id, seen in statuses.items():
        assert any(200 <= status < 300 for status in seen), (operation_id, seen)
        if operation_id not in PUBLIC_OPERATIONS:
            assert 401 not in seen, (operation_id, seen)


@pytest.mark.parametrize(
    ("header", "compress", "status"),
    [
        (b"", False, 202),  # an empty list of codings: identity
        (b"identity", False, 202),
        (b"GZip", True, 202),  # coding names are case-insensitive (RFC 9110)
        (b"br", False, 400),
        (b"gzip, br", True, 400),
        (b"\x84zip", False, 400),  # not UTF-8: once a 500
    ],
)
async def test_request_content_encoding_as_documented(
    client: httpx.AsyncClient, header: bytes, compress: bool, status: int
) -> None:
    auth = await sign_up(client)
    body = b"12345678903"
    response = await client.post(
        "/api/user/orders",
        content=gzip.compress(body) if compress else body,
        headers=[
            (b"Authorization", auth["Authorization"].encode()),
            (b"Content-Type", b"text/plain"),
            (b"Content-Encoding", header),
        ],
    )
    assert response.status_code == status, response.text
    if status == 400:
        assert response.json()["code"] == "bad_encoding"
