"""``/graphql``: queries and mutations over HTTP (POST, GET), subscriptions over WebSocket
(graphql-transport-ws only), and GraphiQL for a browser — served from our own copies of its
scripts, so that it works without internet access.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http.ides import get_graphql_ide_html
from strawberry.schema import BaseSchema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UnsetType

from gophermart.graphql.context import GraphQLContext, get_context
from gophermart.graphql.schema import build_schema

GRAPHQL_PATH = "/graphql"
STATIC_PREFIX = "/graphql/static"

# Strawberry's GraphiQL page loads these from unpkg.com; gophermart/graphql/static holds the
# very same bytes (see its README), so the page's integrity attributes still hold.
_VENDORED = {
    "https://unpkg.com/react@18.2.0/umd/react.production.min.js": "react.production.min.js",
    "https://unpkg.com/react-dom@18.2.0/umd/react-dom.production.min.js": (
        "react-dom.production.min.js"
    ),
    "https://unpkg.com/js-cookie@3.0.5/dist/js.cookie.min.js": "js.cookie.min.js",
    "https://unpkg.com/graphiql@3.8.3/graphiql.min.css": "graphiql.min.css",
    "https://unpkg.com/graphiql@3.8.3/graphiql.min.js": "graphiql.min.js",
    "https://unpkg.com/@graphiql/plugin-explorer@1.0.2/dist/style.css": "plugin-explorer.css",
    "https://unpkg.com/@graphiql/plugin-explorer@1.0.2/dist/index.umd.js": (
        "plugin-explorer.umd.js"
    ),
}


def offline_graphiql_html() -> str:
    """Strawberry's GraphiQL page with every asset pointed at our static files.

    Fails at start-up, rather than quietly loading from a CDN, if an upgraded Strawberry
    asks for files we do not vendor.
    """
    html = get_graphql_ide_html("graphiql")
    for url, name in _VENDORED.items():
        html = html.replace(url, f"{STATIC_PREFIX}/{name}")
    if "unpkg.com" in html:
        raise RuntimeError("Strawberry's GraphiQL page needs assets gophermart does not vendor")
    return html.replace("<title>Strawberry GraphiQL</title>", "<title>Gophermart GraphiQL</title>")


class GraphQLView(GraphQL[GraphQLContext, None]):
    def __init__(self, schema: BaseSchema) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql",
            subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
            connection_init_wait_timeout=timedelta(seconds=10),
            max_subscriptions_per_connection=20,
        )
        self._ide_html = offline_graphiql_html()

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> GraphQLContext:
        return await get_context(request, response)

    async def on_ws_connect(self, context: GraphQLContext) -> UnsetType | dict[str, object] | None:
        context.authenticate_connection()
        return UnsetType()  # acknowledge with no payload

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(self._ide_html)

    def decode_json(self, data: str | bytes) -> object:
        # Numbers with a fraction stay exact (Decimal): a float would already have lost the
        # digits the two-decimals rule of the Decimal scalar is about.
        return json.loads(data, parse_float=Decimal)

    def encode_json(self, data: object) -> str:
        return orjson.dumps(data).decode()


def graphql_routes() -> list[BaseRoute]:
    """``/graphql`` over HTTP and WebSocket, and GraphiQL's static files."""
    view = GraphQLView(build_schema())
    return [
        Route(GRAPHQL_PATH, view, name="graphql"),
        WebSocketRoute(GRAPHQL_PATH, view, name="graphql_ws"),
        Mount(
            STATIC_PREFIX,
            app=StaticFiles(packages=[("gophermart.graphql", "static")]),
            name="graphql_static",
        ),
    ]
