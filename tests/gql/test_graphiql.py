"""GraphiQL works offline, and the committed schema.graphql matches the code."""

from __future__ import annotations

import base64
import hashlib
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest
from strawberry.printer import print_schema

from gophermart.graphql.schema import build_schema
from tests.conftest import RunningApp

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"


class _Assets(HTMLParser):
    """The URLs a page loads (scripts, stylesheets, icons) and their integrity digests."""

    def __init__(self) -> None:
        super().__init__()
        self.assets: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        url = (
            values.get("src") if tag == "script" else values.get("href") if tag == "link" else None
        )
        if url:
            self.assets.append((url, values.get("integrity")))


@pytest.mark.usefixtures("running_app")
async def test_graphiql_loads_only_our_own_assets(client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    parser = _Assets()
    parser.feed(page.text)
    external = [url for url, _ in parser.assets if url.startswith(("http://", "https://", "//"))]
    assert external == []
    assert "unpkg.com" not in page.text
    scripts = [(url, digest) for url, digest in parser.assets if not url.startswith("data:")]
    assert len(scripts) == 7
    for url, integrity in scripts:
        asset = await client.get(urljoin(str(page.url), url))
        assert asset.status_code == 200, url
        # The vendored bytes are those the page's integrity attributes name.
        assert integrity is not None
        algorithm, _, expected = integrity.partition("-")
        digest = base64.b64encode(hashlib.new(algorithm, asset.content).digest()).decode()
        assert digest == expected, url


async def test_schema_file_matches_the_code() -> None:
    """Regenerate with: python -m gophermart.graphql.schema > schema.graphql"""
    assert SCHEMA_FILE.read_text() == print_schema(build_schema()) + "\n"


async def test_introspection_serves_the_same_schema(
    client: httpx.AsyncClient, running_app: RunningApp
) -> None:
    response = await client.post("/graphql", json={"query": "{ __schema { queryType { name } } }"})
    assert response.json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
