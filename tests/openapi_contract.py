"""Check HTTP responses against the packaged OpenAPI document (``gophermart/rest/openapi.json``).

Usage in a test::

    checker = ContractChecker()          # loads the packaged document once
    response = client.get("/api/user/orders", headers=auth)
    checker.check_response(response)     # or checker.check(method, path, status, headers, body)

    async with checked_client(checker, base_url) as client:   # checks every answer itself
        ...

``check`` raises ``AssertionError`` with a message naming the operation and the rule that was
broken when the response is not what the document promises:

- the path (``/api/user/orders``, or a concrete path matching a ``{parameter}`` template) and
  the method are documented;
- the status code is documented for that operation (exact code, ``4XX``-style range or
  ``default``);
- a response documented without content has an empty body;
- a response documented with content has a ``Content-Type`` (parameters such as ``charset``
  are ignored) that is one of the documented media types, and a JSON body (``application/json``
  or any ``+json`` type) valid against the documented JSON Schema (2020-12, the OpenAPI 3.1
  dialect), with ``format: date-time`` enforced as RFC 3339 with an offset;
- every documented response header with ``required: true`` is present and matches its schema.

The body may be given as sent on the wire (gzip-compressed when ``Content-Encoding: gzip``) or
already decoded (what ``httpx``/``TestClient`` ``response.content`` gives): a gzip body is
recognised by its magic bytes.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit

import httpx
from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators
from jsonschema.protocols import Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOCUMENT_URI = "urn:gophermart:openapi.json"
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$")


def load_packaged_document() -> dict[str, Any]:
    """The OpenAPI document shipped in the ``gophermart.rest`` package."""
    document: dict[str, Any] = json.loads(
        files("gophermart.rest").joinpath("openapi.json").read_bytes()
    )
    return document


def _is_rfc3339_date_time(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    if not _RFC3339.match(instance):
        return False
    try:
        datetime.fromisoformat(instance.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _multiple_of(
    validator: Validator, divisor: float, instance: object, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    """``multipleOf`` in exact decimal arithmetic: 0.07 is a multiple of 0.01.

    jsonschema divides binary floats, so ``0.07 / 0.01 == 7.000000000000001`` fails there.
    """
    if not validator.is_type(instance, "number") or isinstance(instance, bool):
        return
    try:
        remainder = Decimal(str(instance)) % Decimal(str(divisor))
    except InvalidOperation:
        yield ValidationError(f"{instance!r} is not a multiple of {divisor}")
        return
    if remainder != 0:
        yield ValidationError(f"{instance!r} is not a multiple of {divisor}")


_FORMAT_CHECKER = FormatChecker(formats=())
_FORMAT_CHECKER.checks("date-time")(_is_rfc3339_date_time)

ContractValidator = validators.extend(Draft202012Validator, {"multipleOf": _multiple_of})


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def _pointer_escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


class ContractChecker:
    """Checks responses against an OpenAPI 3.1 document (the packaged one by default)."""

    def __init__(self, document: Mapping[str, Any] | None = None) -> None:
        self.document: Mapping[str, Any] = (
            document if document is not None else load_packaged_document()
        )
        resource = Resource.from_contents(dict(self.document), default_specification=DRAFT202012)
        self._registry: Registry[Any] = Registry().with_resource(DOCUMENT_URI, resource)
        self._templates: list[tuple[str, re.Pattern[str]]] = [
            (template, self._template_pattern(template)) for template in self.document["paths"]
        ]
        self._validators: dict[str, Validator] = {}

    # -- lookup ----------------------------------------------------------------------------

    @staticmethod
    def _template_pattern(template: str) -> re.Pattern[str]:
        parts = re.split(r"(\{[^/{}]+\})", template)
        regex = "".join(
            "[^/]+" if part.startswith("{") and part.endswith("}") else re.escape(part)
            for part in parts
        )
        return re.compile(f"^{regex}$")

    def path_template(self, path: str) -> str:
        """The documented template for a concrete path (query string and fragment ignored)."""
        concrete = urlsplit(path).path or "/"
        if concrete in self.document["paths"]:
            return concrete
        matches = [template for template, pattern in self._templates if pattern.match(concrete)]
        if not matches:
            raise AssertionError(
                f"path {concrete!r} is not in the OpenAPI document; documented paths: "
                f"{sorted(self.document['paths'])}"
            )
        # The most specific template: the one with the fewest parameters.
        return min(matches, key=lambda template: template.count("{"))

    def _node(self, pointer: str) -> Any:
        node: Any = self.document
        for token in pointer.split("/")[1:]:
            node = node[token.replace("~1", "/").replace("~0", "~")]
        return node

    def _follow(self, pointer: str) -> tuple[str, Mapping[str, Any]]:
        """Follow ``$ref`` chains from ``pointer``: the final object and its own pointer."""
        node = self._node(pointer)
        for _ in range(20):
            if "$ref" not in node:
                return pointer, node
            reference = node["$ref"]
            if not reference.startswith("#/"):
                raise AssertionError(f"only local references are supported, got {reference!r}")
            pointer = reference[1:]
            node = self._node(pointer)
        raise AssertionError(f"reference loop at {pointer!r}")

    def operation(self, method: str, path: str) -> tuple[str, str, Mapping[str, Any]]:
        """``(template, method, operation object)`` for a request, or AssertionError."""
        template = self.path_template(path)
        path_item = self.document["paths"][template]
        key = method.lower()
        if key not in HTTP_METHODS or key not in path_item:
            documented = sorted(m.upper() for m in path_item if m in HTTP_METHODS)
            raise AssertionError(
                f"{method.upper()} {template} is not documented; documented methods: {documented}"
            )
        return template, key, path_item[key]

    # -- checks ----------------------------------------------------------------------------

    def _validator(self, pointer: str) -> Validator:
        validator = self._validators.get(pointer)
        if validator is None:
            schema = {"$ref": f"{DOCUMENT_URI}#{pointer}"}
            validator = ContractValidator(
                schema, registry=self._registry, format_checker=_FORMAT_CHECKER
            )
            self._validators[pointer] = validator
        return validator

    def validate_json(self, pointer: str, instance: object, what: str) -> None:
        """Validate ``instance`` against the schema at JSON pointer ``pointer`` in the document."""
        errors = sorted(
            self._validator(pointer).iter_errors(instance), key=lambda error: list(error.path)
        )
        if errors:
            lines = [
                f"  - at {'/'.join(str(p) for p in error.absolute_path) or '(root)'}: "
                f"{error.message} (schema keyword: "
                f"{'/'.join(str(p) for p in error.absolute_schema_path)})"
                for error in errors[:10]
            ]
            raise AssertionError(
                f"{what}: body does not match the schema:\n"
                + "\n".join(lines)
                + f"\nbody: {json.dumps(instance, ensure_ascii=False)[:2000]}"
            )

    def check(
        self,
        method: str,
        path: str,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
    ) -> None:
        """Raise AssertionError unless the response is one the document allows."""
        template, key, operation = self.operation(method, path)
        what = f"{key.upper()} {template} ({operation.get('operationId', '?')}) -> {status}"
        responses: Mapping[str, Any] = operation.get("responses", {})
        code = str(status)
        range_code = f"{code[0]}XX"
        if code in responses:
            response_key = code
        elif range_code in responses:
            response_key = range_code
        elif "default" in responses:
            response_key = "default"
        else:
            raise AssertionError(
                f"{what}: status {status} is not documented; documented: {sorted(responses)}; "
                f"body: {body[:500]!r}"
            )
        response_pointer, response = self._follow(
            f"/paths/{_pointer_escape(template)}/{key}/responses/{_pointer_escape(response_key)}"
        )
        lower_headers = {name.lower(): value for name, value in headers.items()}

        for name in response.get("headers", {}):
            header_pointer, header = self._follow(
                f"{response_pointer}/headers/{_pointer_escape(name)}"
            )
            value = lower_headers.get(name.lower())
            if value is None:
                if header.get("required", False):
                    raise AssertionError(f"{what}: required response header {name!r} is missing")
                continue
            if "schema" in header:
                errors = list(self._validator(f"{header_pointer}/schema").iter_errors(value))
                if errors:
                    raise AssertionError(
                        f"{what}: response header {name}: {value!r} does not match its schema: "
                        f"{errors[0].message}"
                    )

        encoding = lower_headers.get("content-encoding", "").strip().lower()
        if encoding == "gzip" and body[:2] == b"\x1f\x8b":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError) as error:
                raise AssertionError(f"{what}: body is not a valid gzip stream: {error}") from None

        content: Mapping[str, Any] = response.get("content", {})
        if not content:
            if body:
                raise AssertionError(
                    f"{what}: the document promises no body, got {len(body)} bytes: {body[:500]!r}"
                )
            return

        raw_type = lower_headers.get("content-type")
        if raw_type is None:
            raise AssertionError(
                f"{what}: Content-Type missing; documented: {sorted(content)}; body: {body[:500]!r}"
            )
        media_type = _media_type(raw_type)
        documented = {_media_type(name): name for name in content}
        if media_type in documented:
            content_key = documented[media_type]
        elif f"{media_type.split('/')[0]}/*" in documented:
            content_key = documented[f"{media_type.split('/')[0]}/*"]
        elif "*/*" in documented:
            content_key = documented["*/*"]
        else:
            raise AssertionError(
                f"{what}: Content-Type {raw_type!r} is not documented; documented: "
                f"{sorted(content)}; body: {body[:500]!r}"
            )
        if "schema" not in content[content_key] or not _is_json(media_type):
            return
        try:
            instance = json.loads(body)
        except ValueError as error:
            raise AssertionError(
                f"{what}: body is not valid JSON ({error}): {body[:500]!r}"
            ) from None
        self.validate_json(
            f"{response_pointer}/content/{_pointer_escape(content_key)}/schema", instance, what
        )

    def check_response(self, response: Any) -> None:
        """``check`` for an ``httpx.Response`` (what Starlette's TestClient returns)."""
        request = response.request
        self.check(
            request.method,
            request.url.path,
            response.status_code,
            dict(response.headers),
            response.content,
        )


def checked_client(checker: ContractChecker, base_url: str, **options: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` for ``base_url`` whose every answer to a documented operation
    is checked against the document as it arrives: one the document does not allow raises
    AssertionError in the request's caller. Answers outside ``/api/`` and probes of paths or
    methods the document does not list (404/405) are not checked."""

    async def check(response: httpx.Response) -> None:
        request = response.request
        if not request.url.path.startswith("/api/"):
            return
        try:
            checker.operation(request.method, request.url.path)
        except AssertionError:
            return
        await response.aread()
        checker.check_response(response)

    return httpx.AsyncClient(base_url=base_url, event_hooks={"response": [check]}, **options)
