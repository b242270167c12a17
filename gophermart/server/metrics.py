"""Prometheus metrics, on a registry per app (no process-global state; tests build many apps)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gophermart.models.enums import OrderStatus
from gophermart.server.context import app_context
from gophermart.services.accrual import count_orders_by_status


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.orders = Gauge(
            "gophermart_orders", "Orders by status.", ["status"], registry=self.registry
        )
        self.accrual_requests = Counter(
            "gophermart_accrual_requests",
            "Requests to the accrual system by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.rate_limit_pauses = Counter(
            "gophermart_accrual_rate_limit_pauses",
            "429 answers that paused every request to the accrual system.",
            registry=self.registry,
        )
        self.points_credited = Counter(
            "gophermart_points_credited",
            "Points credited to loyalty accounts (rubles).",
            registry=self.registry,
        )
        self.request_latency = Histogram(
            "gophermart_http_request_duration_seconds",
            "HTTP request latency by route.",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


async def metrics_endpoint(request: Request) -> Response:
    ctx = app_context(request)
    counts = await count_orders_by_status(db=ctx.db)
    for status in OrderStatus:
        ctx.metrics.orders.labels(status=status.value).set(counts.get(status, 0))
    return Response(ctx.metrics.render(), media_type=CONTENT_TYPE_LATEST)


class LatencyMiddleware:
    """Times each HTTP request under its route template (not the raw path: bounded labels)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            state = getattr(scope.get("app"), "state", None)
            context = getattr(state, "context", None)
            if context is not None:
                context.metrics.request_latency.labels(
                    method=scope["method"], route=_route_template(scope), status=str(status)
                ).observe(time.perf_counter() - started)


def _route_template(scope: Scope) -> str:
    # The router leaves the route it matched in the scope (every middleware below passes the
    # same scope dict on), so this costs no second matching pass.
    route = scope.get("route")
    return str(getattr(route, "path", "other")) if route is not None else "unmatched"
