"""The real app serves exactly the operations openapi.json documents, the document itself and
its Swagger UI.

A route added under ``/api`` without documenting it, or an operation documented but not served,
fails here; the status codes of each operation are pinned to SPEC §3 in
test_openapi_document.py, and every answer in the REST tests is checked against the document
(the ``client`` fixture) and by Schemathesis (test_openapi_live.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import httpx
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send

from gophermart.rest.docs import load_openapi_document
from gophermart.server.app import create_app
from gophermart.server.settings import Settings
from gophermart.store.database import Backend, DatabaseTarget
from tests.conftest import TEST_SECRET, RunningApp
from tests.openapi_contract import (
    HTTP_METHODS,
    ContractChecker,
    checked_client,
    load_packaged_document,
)

API_PREFIX = "/api"
_CONVERTER = re.compile(r"\{(\w+):\w+\}")


def _routes(routes: Iterable[BaseRoute], prefix: str = "") -> set[tuple[str, str]]:
    """Every (METHOD, path) the route table answers, mounts included.

    Starlette answers HEAD on every GET route by itself; HEAD is left out where GET is served,
    as OpenAPI documents do.
    """
    served: set[tuple[str, str]] = set()
    for route in routes:
        if isinstance(route, Route):
            path = _CONVERTER.sub(r"{\1}", prefix + route.path)  # {id:int} is {id} in OpenAPI
            methods = route.methods or {"*"}  # None: the endpoint takes every method
            if "GET" in methods:
                methods = methods - {"HEAD"}
            served |= {(method, path) for method in methods}
        elif isinstance(route, WebSocketRoute):
            served.add(("WEBSOCKET", prefix + route.path))
        elif isinstance(route, Mount):
            path = prefix + route.path
            if route.routes:
                served |= _routes(route.routes, path)
            else:  # an opaque ASGI app: no way to list what it answers
                served.add(("*", path + "/{path}"))
        else:
            raise AssertionError(f"unknown route type {type(route).__name__}")
    return served


def _under_api(served: set[tuple[str, str]]) -> set[tuple[str, str]]:
    return {
        (method, path)
        for method, path in served
        if path == API_PREFIX or path.startswith(API_PREFIX + "/")
    }


def _documented() -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in load_packaged_document()["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def test_served_api_routes_equal_the_documented_operations(tmp_path: Path) -> None:
    settings = Settings(
        database=DatabaseTarget(Backend.SQLITE, str(tmp_path / "unused.db")),
        secret_key=TEST_SECRET,
    )
    app = create_app(settings)  # routes only: the lifespan (and the database) never starts
    served = _under_api(_routes(app.routes))
    documented = _documented()
    assert served - documented == set(), "served under /api but not in openapi.json"
    assert documented - served == set(), "in openapi.json but not served"


class _AsgiApp:
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...


def test_route_walk_sees_methods_mounts_and_websockets() -> None:
    async def endpoint() -> None: ...

    routes: list[BaseRoute] = [
        Route("/api/a", endpoint, methods=["GET"]),
        Route("/api/a", endpoint, methods=["DELETE"]),
        Route("/api/items/{item_id:int}", endpoint, methods=["PATCH"]),
        Mount("/api/m", routes=[Route("/b", endpoint, methods=["POST", "PUT"])]),
        Mount("/api/opaque", app=_AsgiApp()),
        WebSocketRoute("/api/ws", endpoint),
        Route("/api/any", _AsgiApp()),  # an ASGI app as endpoint takes every method
        Route("/healthz", endpoint, methods=["GET"]),
    ]
    assert _under_api(_routes(routes)) == {
        ("GET", "/api/a"),
        ("DELETE", "/api/a"),
        ("PATCH", "/api/items/{item_id}"),
        ("POST", "/api/m/b"),
        ("PUT", "/api/m/b"),
        ("*", "/api/opaque/{path}"),
        ("*", "/api/any"),
        ("WEBSOCKET", "/api/ws"),
    }


async def test_every_documented_operation_answers_on_the_live_server(
    running_app: RunningApp, contract: ContractChecker
) -> None:
    async with checked_client(contract, running_app.base_url) as http:
        for method, path in sorted(_documented()):
            response = await http.request(method, path)  # no token, no body
            assert response.status_code not in (404, 405), (method, path, response.text)
            assert response.status_code < 500, (method, path, response.text)


async def test_openapi_json_from_the_real_app_is_the_packaged_file(
    running_app: RunningApp,
) -> None:
    async with httpx.AsyncClient(base_url=running_app.base_url) as http:
        response = await http.get("/openapi.json", headers={"Accept-Encoding": "identity"})
        gzipped = await http.get("/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert "content-encoding" not in response.headers
    assert response.content == load_openapi_document()
    assert response.content == (Path(__file__).parents[2] / "openapi.json").read_bytes()
    assert gzipped.headers["content-encoding"] == "gzip"
    assert gzipped.content == load_openapi_document()  # httpx inflates it


async def test_docs_from_the_real_app(running_app: RunningApp) -> None:
    async with httpx.AsyncClient(base_url=running_app.base_url) as http:
        page = await http.get("/docs")
        initializer = await http.get("/docs/static/swagger-initializer.js")
        bundle = await http.get("/docs/static/swagger-ui-bundle.js")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "/docs/static/swagger-ui-bundle.js" in page.text
    assert "/docs/static/swagger-initializer.js" in page.text
    assert initializer.status_code == 200
    assert 'url: "/openapi.json"' in initializer.text
    assert bundle.status_code == 200
    assert bundle.content
