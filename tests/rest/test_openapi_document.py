"""The REST contract (gophermart/rest/openapi.json), its contract checker and the docs routes."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import AsyncIterator, Iterator
from html.parser import HTMLParser
from importlib.resources import files
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from starlette.applications import Starlette

from gophermart.rest.docs import docs_routes
from tests.openapi_contract import ContractChecker, load_packaged_document
from tests.servers import serve_app

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGED = files("gophermart.rest").joinpath("openapi.json")

# SPEC §3: every operation and every status code it may answer. 413 is added to the
# operations that take a request body (SPEC §3 preamble: a body over 1 MiB is a 413).
EXPECTED_OPERATIONS: dict[tuple[str, str], tuple[str, str, set[int]]] = {
    ("post", "/api/user/register"): ("registerUser", "auth", {200, 400, 409, 413, 500}),
    ("post", "/api/user/login"): ("loginUser", "auth", {200, 400, 401, 413, 500}),
    ("post", "/api/user/orders"): (
        "uploadOrder",
        "orders",
        {200, 202, 400, 401, 409, 413, 422, 500},
    ),
    ("get", "/api/user/orders"): ("listOrders", "orders", {200, 204, 401, 500}),
    ("get", "/api/user/balance"): ("getBalance", "balance", {200, 401, 500}),
    ("post", "/api/user/balance/withdraw"): (
        "withdraw",
        "balance",
        {200, 400, 401, 402, 409, 413, 422, 500},
    ),
    ("get", "/api/user/withdrawals"): ("listWithdrawals", "balance", {200, 204, 401, 500}),
}
PUBLIC_OPERATIONS = {"registerUser", "loginUser"}
BODY_OPERATIONS = {"registerUser", "loginUser", "uploadOrder", "withdraw"}
REQUIRED_SCHEMAS = {
    "Credentials",
    "AuthToken",
    "Order",
    "OrderStatus",
    "OrderList",
    "Balance",
    "WithdrawalRequest",
    "Withdrawal",
    "WithdrawalList",
    "Problem",
}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return load_packaged_document()


@pytest.fixture(scope="module")
def checker() -> ContractChecker:
    return ContractChecker()


def resolve(document: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = document
        for token in node["$ref"][2:].split("/"):
            target = target[token.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield method, path, operation


def walk(node: Any, pointer: str = "") -> Iterator[tuple[str, Any]]:
    yield pointer, node
    if isinstance(node, dict):
        for key, value in node.items():
            escaped = str(key).replace("~", "~0").replace("/", "~1")
            yield from walk(value, f"{pointer}/{escaped}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{pointer}/{index}")


# -- the document ------------------------------------------------------------------------------


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    validate(document, cls=OpenAPIV31SpecValidator)


def test_file_is_two_space_indented_json() -> None:
    text = PACKAGED.read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"


def test_root_openapi_json_is_a_symlink_to_the_packaged_document() -> None:
    root = REPO_ROOT / "openapi.json"
    assert root.is_symlink(), "openapi.json at the repository root must be a symlink"
    assert os.readlink(root) == "gophermart/rest/openapi.json"
    assert root.read_bytes() == PACKAGED.read_bytes()


def test_operations_match_spec(document: dict[str, Any]) -> None:
    found = {(method, path) for method, path, _ in operations(document)}
    assert found == set(EXPECTED_OPERATIONS)


@pytest.mark.parametrize(
    ("method", "path"), list(EXPECTED_OPERATIONS), ids=[f"{m} {p}" for m, p in EXPECTED_OPERATIONS]
)
def test_operation_id_tag_and_status_codes(
    document: dict[str, Any], method: str, path: str
) -> None:
    operation_id, tag, codes = EXPECTED_OPERATIONS[(method, path)]
    operation = document["paths"][path][method]
    assert operation["operationId"] == operation_id
    assert operation["tags"] == [tag]
    assert operation["summary"]
    assert operation["description"]
    assert {int(code) for code in operation["responses"]} == codes
    for code, response in operation["responses"].items():
        assert resolve(document, response)["description"], f"{operation_id} {code}"


def test_operation_ids_are_unique(document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids))


def test_tags_are_declared(document: dict[str, Any]) -> None:
    assert [tag["name"] for tag in document["tags"]] == ["auth", "orders", "balance"]


def test_security(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == schemes["bearerAuth"] | {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    assert schemes["cookieAuth"] == schemes["cookieAuth"] | {
        "type": "apiKey",
        "in": "cookie",
        "name": "gophermart_token",
    }
    # Either scheme is enough: two alternatives, not one requirement naming both.
    assert document["security"] == [{"bearerAuth": []}, {"cookieAuth": []}]
    for _, _, operation in operations(document):
        if operation["operationId"] in PUBLIC_OPERATIONS:
            assert operation["security"] == []
            assert "401" not in operation["responses"] or operation["operationId"] == "loginUser"
        else:
            assert operation.get("security", document["security"]) == document["security"]
            assert "401" in operation["responses"]


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    references = [
        (pointer, node["$ref"])
        for pointer, node in walk(document)
        if isinstance(node, dict) and "$ref" in node
    ]
    assert references
    for pointer, reference in references:
        assert reference.startswith("#/"), f"{pointer}: non-local $ref {reference}"
        target: Any = document
        for token in reference[2:].split("/"):
            token = token.replace("~1", "/").replace("~0", "~")
            assert isinstance(target, dict), f"{pointer}: {reference} does not resolve"
            assert token in target, f"{pointer}: {reference} does not resolve"
            target = target[token]


def test_named_schemas_exist(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert set(schemas) >= REQUIRED_SCHEMAS
    assert schemas["OrderStatus"]["enum"] == ["NEW", "PROCESSING", "INVALID", "PROCESSED"]
    for name in ("AuthToken", "Order", "Balance", "Withdrawal"):
        assert schemas[name]["additionalProperties"] is False, name
    assert schemas["AuthToken"]["required"] == ["token", "token_type", "expires_at"]
    assert schemas["Order"]["required"] == ["number", "status", "uploaded_at"]
    assert schemas["Problem"]["required"] == ["type", "title", "status"]
    assert set(schemas["Problem"]["properties"]) >= {"type", "title", "status", "detail", "code"}
    accrual = schemas["Order"]["properties"]["accrual"]
    assert accrual["type"] == "number"
    assert accrual["exclusiveMinimum"] == 0
    assert accrual["multipleOf"] == 0.01


def test_request_bodies(document: dict[str, Any]) -> None:
    for _, _, operation in operations(document):
        operation_id = operation["operationId"]
        parameters = [parameter.get("$ref") for parameter in operation.get("parameters", [])]
        assert "#/components/parameters/AcceptEncoding" in parameters, operation_id
        if operation_id not in BODY_OPERATIONS:
            assert "requestBody" not in operation, operation_id
            assert "413" not in operation["responses"], operation_id
            continue
        assert operation["requestBody"]["required"] is True
        assert "#/components/parameters/ContentEncoding" in parameters, operation_id
        content = operation["requestBody"]["content"]
        if operation_id == "uploadOrder":
            assert list(content) == ["text/plain"]
        else:
            expected = "Credentials" if operation_id != "withdraw" else "WithdrawalRequest"
            assert content == {
                "application/json": content["application/json"]
                | {"schema": {"$ref": f"#/components/schemas/{expected}"}}
            }


def test_error_responses_are_problems(document: dict[str, Any]) -> None:
    for _, _, operation in operations(document):
        for code, response in operation["responses"].items():
            response = resolve(document, response)
            if int(code) < 400:
                continue
            assert list(response["content"]) == ["application/problem+json"], code
            media = response["content"]["application/problem+json"]
            assert media["schema"] == {"$ref": "#/components/schemas/Problem"}
            for example in media["examples"].values():
                assert example["value"]["status"] == int(code)
                assert example["value"]["type"] == "about:blank"


def test_bodyless_answers_have_no_content(document: dict[str, Any]) -> None:
    bodyless = {
        ("uploadOrder", "200"),
        ("uploadOrder", "202"),
        ("withdraw", "200"),
        ("listOrders", "204"),
        ("listWithdrawals", "204"),
    }
    for _, _, operation in operations(document):
        for code, response in operation["responses"].items():
            has_content = "content" in resolve(document, response)
            assert has_content == ((operation["operationId"], code) not in bodyless)


def test_auth_answers_carry_token_headers(document: dict[str, Any]) -> None:
    for operation_id in PUBLIC_OPERATIONS:
        operation = next(
            op for _, _, op in operations(document) if op["operationId"] == operation_id
        )
        response = operation["responses"]["200"]
        assert response["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/AuthToken"
        }
        for name in ("Authorization", "Set-Cookie"):
            assert resolve(document, response["headers"][name])["required"] is True


def test_examples_match_their_schemas(document: dict[str, Any], checker: ContractChecker) -> None:
    checked = 0
    for pointer, node in walk(document):
        if not isinstance(node, dict):
            continue
        if "schema" in node and isinstance(node["schema"], dict):
            # A media type, parameter or header: `example` or a map of Example Objects.
            values = [node["example"]] if "example" in node else []
            values += [example["value"] for example in node.get("examples", {}).values()]
            for value in values:
                checker.validate_json(f"{pointer}/schema", value, pointer)
                checked += 1
        elif pointer.startswith("/components/schemas/") and isinstance(node.get("examples"), list):
            for value in node["examples"]:
                checker.validate_json(pointer, value, pointer)
                checked += 1
    assert checked > 50


# -- the contract checker ----------------------------------------------------------------------

JSON = {"content-type": "application/json"}
PROBLEM = {"content-type": "application/problem+json"}
UNAUTHORIZED = PROBLEM | {"www-authenticate": 'Bearer realm="gophermart"'}
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
AUTH_HEADERS = {
    "content-type": "application/json",
    "authorization": f"Bearer {TOKEN}",
    "set-cookie": f"gophermart_token={TOKEN}; HttpOnly; Path=/; SameSite=lax",
}
AUTH_BODY = json.dumps(
    {"token": TOKEN, "token_type": "Bearer", "expires_at": "2020-12-11T12:15:45Z"}
).encode()
ORDERS = [
    {
        "number": "9278923470",
        "status": "PROCESSED",
        "accrual": 729.98,
        "uploaded_at": "2020-12-10T15:15:45+03:00",
    },
    {"number": "12345678903", "status": "PROCESSING", "uploaded_at": "2020-12-10T15:12:01+03:00"},
    {"number": "346436439", "status": "INVALID", "uploaded_at": "2020-12-09T16:09:53.123+03:00"},
    {"number": "79927398713", "status": "PROCESSED", "uploaded_at": "2020-12-09T13:00:00Z"},
]


def problem(status: int, title: str, code: str) -> bytes:
    return json.dumps(
        {"type": "about:blank", "title": title, "status": status, "detail": "x", "code": code}
    ).encode()


GOOD = [
    ("POST", "/api/user/register", 200, AUTH_HEADERS, AUTH_BODY),
    ("POST", "/api/user/login", 200, AUTH_HEADERS, AUTH_BODY),
    (
        "POST",
        "/api/user/login",
        401,
        UNAUTHORIZED,
        problem(401, "Unauthorized", "invalid_credentials"),
    ),
    ("POST", "/api/user/register", 409, PROBLEM, problem(409, "Conflict", "login_taken")),
    ("POST", "/api/user/orders", 202, {}, b""),
    ("POST", "/api/user/orders", 200, {"content-length": "0"}, b""),
    ("POST", "/api/user/orders", 422, PROBLEM, problem(422, "x", "invalid_order_number")),
    ("GET", "/api/user/orders", 200, JSON, json.dumps(ORDERS).encode()),
    ("GET", "/api/user/orders?page=1", 204, {}, b""),
    ("GET", "/api/user/balance", 200, JSON, b'{"current": 500.5, "withdrawn": 42}'),
    ("GET", "/api/user/balance", 200, JSON, b'{"current": 0.07, "withdrawn": 0}'),
    (
        "GET",
        "/api/user/balance",
        200,
        {"Content-Type": "application/json; charset=utf-8", "Content-Encoding": "gzip"},
        gzip.compress(b'{"current": 1.1, "withdrawn": 0.29}'),
    ),
    (
        "get",
        "/api/user/balance",
        401,
        {
            "Content-Type": "application/problem+json; charset=utf-8",
            "WWW-Authenticate": 'Bearer realm="gophermart"',
            "X-Request-Id": "abc",
        },
        b'{"type": "about:blank", "title": "Unauthorized", "status": 401}',
    ),
    ("POST", "/api/user/balance/withdraw", 200, {}, b""),
    ("POST", "/api/user/balance/withdraw", 402, PROBLEM, problem(402, "x", "insufficient_funds")),
    ("POST", "/api/user/balance/withdraw", 413, PROBLEM, problem(413, "x", "payload_too_large")),
    (
        "GET",
        "/api/user/withdrawals",
        200,
        JSON,
        b'[{"order": "2377225624", "sum": 751, "processed_at": "2020-12-09T16:09:57+03:00"}]',
    ),
    ("GET", "/api/user/withdrawals", 500, PROBLEM, problem(500, "x", "internal_error")),
]


@pytest.mark.parametrize(("method", "path", "status", "headers", "body"), GOOD)
def test_checker_accepts_conforming_responses(
    checker: ContractChecker,
    method: str,
    path: str,
    status: int,
    headers: dict[str, str],
    body: bytes,
) -> None:
    checker.check(method, path, status, headers, body)


def order(**changes: Any) -> bytes:
    item = {"number": "9278923470", "status": "PROCESSED", "uploaded_at": "2020-12-10T15:15:45Z"}
    item.update(changes)
    return json.dumps([{k: v for k, v in item.items() if v is not ...}]).encode()


BAD = [
    pytest.param("GET", "/api/user/unknown", 200, JSON, b"{}", "not in the OpenAPI", id="path"),
    pytest.param("DELETE", "/api/user/orders", 200, {}, b"", "not documented", id="method"),
    pytest.param("GET", "/api/user/balance", 404, PROBLEM, b"{}", "not documented", id="status"),
    pytest.param("POST", "/api/user/orders", 201, {}, b"", "not documented", id="status-201"),
    pytest.param("GET", "/api/user/orders", 204, JSON, b"[]", "promises no body", id="body-on-204"),
    pytest.param("POST", "/api/user/orders", 202, JSON, b"{}", "promises no body", id="body-202"),
    pytest.param(
        "GET",
        "/api/user/balance",
        200,
        {"content-type": "text/plain"},
        b"500",
        "Content-Type",
        id="content-type",
    ),
    pytest.param("GET", "/api/user/balance", 200, {}, b"{}", "Content-Type missing", id="no-ct"),
    pytest.param(
        "GET",
        "/api/user/balance",
        401,
        UNAUTHORIZED | JSON,
        b'{"type": "about:blank", "title": "Unauthorized", "status": 401}',
        "Content-Type",
        id="error-not-problem-json",
    ),
    pytest.param(
        "GET",
        "/api/user/orders",
        401,
        PROBLEM,
        problem(401, "Unauthorized", "unauthenticated"),
        "'WWW-Authenticate' is missing",
        id="401-without-www-authenticate",
    ),
    pytest.param("GET", "/api/user/balance", 200, JSON, b"{", "not valid JSON", id="json"),
    pytest.param(
        "GET", "/api/user/balance", 200, JSON, b'{"current": 1}', "withdrawn", id="missing"
    ),
    pytest.param(
        "GET",
        "/api/user/balance",
        200,
        JSON,
        b'{"current": 1, "withdrawn": 0, "accrued": 1}',
        "accrued",
        id="extra-member",
    ),
    pytest.param(
        "GET",
        "/api/user/balance",
        200,
        JSON,
        b'{"current": "500.50", "withdrawn": 0}',
        "not of type 'number'",
        id="money-string",
    ),
    pytest.param(
        "GET",
        "/api/user/balance",
        200,
        JSON,
        b'{"current": 0.001, "withdrawn": 0}',
        "multiple of 0.01",
        id="three-decimals",
    ),
    pytest.param(
        "GET",
        "/api/user/balance",
        200,
        JSON,
        b'{"current": -1, "withdrawn": 0}',
        "minimum",
        id="negative",
    ),
    pytest.param(
        "GET", "/api/user/orders", 200, JSON, b"[]", "non-empty", id="empty-list-instead-of-204"
    ),
    pytest.param(
        "GET", "/api/user/orders", 200, JSON, order(accrual=None), "None", id="accrual-null"
    ),
    pytest.param("GET", "/api/user/orders", 200, JSON, order(accrual=0), "minimum", id="acc-0"),
    pytest.param(
        "GET",
        "/api/user/orders",
        200,
        JSON,
        order(status="PROCESSING", accrual=5),
        "accrual",
        id="accrual-not-processed",
    ),
    pytest.param(
        "GET", "/api/user/orders", 200, JSON, order(status="REGISTERED"), "enum", id="status"
    ),
    pytest.param(
        "GET",
        "/api/user/orders",
        200,
        JSON,
        order(uploaded_at="2020-12-10T15:15:45"),
        "date-time",
        id="no-offset",
    ),
    pytest.param(
        "GET",
        "/api/user/orders",
        200,
        JSON,
        order(uploaded_at="2020-13-10T15:15:45Z"),
        "date-time",
        id="bad-date",
    ),
    pytest.param(
        "GET", "/api/user/orders", 200, JSON, order(number=9278923470), "string", id="num-int"
    ),
    pytest.param(
        "GET", "/api/user/orders", 200, JSON, order(uploaded_at=...), "uploaded_at", id="req"
    ),
    pytest.param(
        "POST",
        "/api/user/register",
        200,
        {"content-type": "application/json", "set-cookie": AUTH_HEADERS["set-cookie"]},
        AUTH_BODY,
        "'Authorization' is missing",
        id="no-authorization-header",
    ),
    pytest.param(
        "POST",
        "/api/user/login",
        200,
        AUTH_HEADERS | {"set-cookie": f"session={TOKEN}; HttpOnly"},
        AUTH_BODY,
        "Set-Cookie",
        id="wrong-cookie",
    ),
    pytest.param(
        "POST",
        "/api/user/login",
        200,
        AUTH_HEADERS,
        json.dumps({"token": TOKEN, "token_type": "Bearer"}).encode(),
        "expires_at",
        id="token-without-expiry",
    ),
    pytest.param(
        "POST",
        "/api/user/balance/withdraw",
        402,
        PROBLEM,
        b'{"type": "about:blank", "status": 402}',
        "title",
        id="problem-without-title",
    ),
    pytest.param(
        "POST",
        "/api/user/balance/withdraw",
        402,
        PROBLEM,
        b'{"type": "about:blank", "title": "Payment Required", "status": "402"}',
        "integer",
        id="problem-status-string",
    ),
    pytest.param(
        "GET",
        "/api/user/withdrawals",
        200,
        JSON,
        b'[{"order": "2377225624", "sum": 0, "processed_at": "2020-12-09T16:09:57+03:00"}]',
        "minimum",
        id="withdrawal-zero",
    ),
]


@pytest.mark.parametrize(("method", "path", "status", "headers", "body", "message"), BAD)
def test_checker_rejects_nonconforming_responses(
    checker: ContractChecker,
    method: str,
    path: str,
    status: int,
    headers: dict[str, str],
    body: bytes,
    message: str,
) -> None:
    with pytest.raises(AssertionError) as raised:
        checker.check(method, path, status, headers, body)
    assert message in str(raised.value), str(raised.value)


def test_checker_matches_path_templates() -> None:
    document = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/api/items/{id}": {
                "get": {
                    "operationId": "getItem",
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Item"}
                                }
                            },
                        },
                        "4XX": {"description": "client error"},
                    },
                }
            },
            "/api/items/special": {"get": {"responses": {"204": {"description": "none"}}}},
        },
        "components": {
            "schemas": {"Item": {"type": "object", "required": ["id"]}},
        },
    }
    checker = ContractChecker(document)
    assert checker.path_template("/api/items/42") == "/api/items/{id}"
    assert checker.path_template("/api/items/special?x=1") == "/api/items/special"
    checker.check("GET", "/api/items/42", 200, JSON, b'{"id": 42}')
    checker.check("GET", "/api/items/42", 404, {}, b"")
    with pytest.raises(AssertionError, match="id"):
        checker.check("GET", "/api/items/42", 200, JSON, b"{}")
    with pytest.raises(AssertionError, match="not in the OpenAPI"):
        checker.check("GET", "/api/items/42/parts", 200, JSON, b"{}")
    with pytest.raises(AssertionError, match="not documented"):
        checker.check("GET", "/api/items/special", 200, JSON, b"{}")


def test_checker_accepts_httpx_responses(checker: ContractChecker) -> None:
    request = httpx.Request("GET", "http://testserver/api/user/balance")
    checker.check_response(
        httpx.Response(200, json={"current": 500.5, "withdrawn": 42}, request=request)
    )
    with pytest.raises(AssertionError, match="withdrawn"):
        checker.check_response(httpx.Response(200, json={"current": 1}, request=request))


# -- /openapi.json, /docs and its assets ----------------------------------------------------------


class _AssetCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in {"src", "href"} and value is not None:
                self.urls.append(value)


@pytest.fixture(scope="module")
async def docs_client() -> AsyncIterator[httpx.AsyncClient]:
    async with (
        serve_app(Starlette(routes=docs_routes())) as base_url,
        httpx.AsyncClient(base_url=base_url) as client,
    ):
        yield client


async def test_openapi_json_is_served_byte_for_byte(docs_client: httpx.AsyncClient) -> None:
    response = await docs_client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == PACKAGED.read_bytes()


async def test_docs_page_loads_only_local_assets(docs_client: httpx.AsyncClient) -> None:
    response = await docs_client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    collector = _AssetCollector()
    collector.feed(response.text)
    assert collector.urls, "the page references no assets"
    for url in collector.urls:
        assert not url.startswith(("http://", "https://", "//")), url
        assert url.startswith("/docs/static/"), url
    scripts = [url for url in collector.urls if url.endswith(".js")]
    assert "/docs/static/swagger-ui-bundle.js" in scripts
    assert any(url.endswith("swagger-ui.css") for url in collector.urls)
    for url in collector.urls:
        asset = await docs_client.get(url)
        assert asset.status_code == 200, url
        assert asset.content, url


async def test_swagger_initializer_points_at_our_document(docs_client: httpx.AsyncClient) -> None:
    script = (await docs_client.get("/docs/static/swagger-initializer.js")).text
    assert 'url: "/openapi.json"' in script
    assert "validatorUrl: null" in script  # the validator badge would call the internet


async def test_vendored_stylesheet_fetches_nothing_remote(docs_client: httpx.AsyncClient) -> None:
    css = (await docs_client.get("/docs/static/swagger-ui.css")).text
    assert "@import" not in css
    assert "url(http" not in css.replace('"', "").replace("'", "")


async def test_unknown_asset_is_404(docs_client: httpx.AsyncClient) -> None:
    assert (await docs_client.get("/docs/static/nope.js")).status_code == 404
