"""The REST contract and its Swagger UI, served from our own files (no CDN, works offline).

- ``GET /openapi.json``: ``gophermart/rest/openapi.json`` byte for byte;
- ``GET /docs``: Swagger UI on that document;
- ``/docs/static/...``: the vendored Swagger UI assets (``gophermart/rest/static``).
"""

from __future__ import annotations

from importlib.resources import files

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

_PACKAGE = "gophermart.rest"
OPENAPI_RESOURCE = "openapi.json"
STATIC_DIRECTORY = "static"
STATIC_PREFIX = "/docs/static"

DOCS_HTML = f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Gophermart REST API</title>
    <link rel="icon" type="image/png" href="{STATIC_PREFIX}/favicon-32x32.png">
    <link rel="stylesheet" href="{STATIC_PREFIX}/swagger-ui.css">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="{STATIC_PREFIX}/swagger-ui-bundle.js"></script>
    <script src="{STATIC_PREFIX}/swagger-initializer.js"></script>
  </body>
</html>
"""


def load_openapi_document() -> bytes:
    """The packaged OpenAPI document, exactly as shipped."""
    return files(_PACKAGE).joinpath(OPENAPI_RESOURCE).read_bytes()


def docs_routes() -> list[BaseRoute]:
    """Routes for ``/openapi.json``, ``/docs`` and ``/docs/static``.

    The document is read once, here; the static files are looked up in the installed package.
    """
    document = load_openapi_document()

    async def openapi_json(request: Request) -> Response:
        return Response(document, media_type="application/json")

    async def swagger_ui(request: Request) -> Response:
        return HTMLResponse(DOCS_HTML)

    return [
        Route("/openapi.json", openapi_json, methods=["GET"], name="openapi_json"),
        Route("/docs", swagger_ui, methods=["GET"], name="swagger_ui"),
        Mount(
            STATIC_PREFIX,
            app=StaticFiles(packages=[(_PACKAGE, STATIC_DIRECTORY)]),
            name="docs_static",
        ),
    ]
