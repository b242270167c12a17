"""The lean route to the database for the hottest statements (DESIGN §6).

A statement is still built with SQLAlchemy Core, once, at import time, with named
``bindparam``s; it is compiled once per dialect, and then runs on the driver's own
connection: an ``asyncpg`` pool on PostgreSQL, the ``aiosqlite`` connection under
SQLAlchemy's pool on SQLite. What the route skips is SQLAlchemy's per-call work: cache-key
generation, the greenlet bridge, the result layers and, on PostgreSQL, its pool. Values still
go through the column types' own bind and result processors, so a row comes back exactly as
SQLAlchemy would have returned it (UUIDs, UTC timestamps on SQLite, …).

Measured on this machine (issue figures, two workers): a primary-key read served about 900
requests/s through SQLAlchemy's async engine against 2,950 on a bare asyncpg pool. On this
route GET balance serves as many as the bare app does (docs/PERFORMANCE.md has the figures
and the command).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import and_, bindparam, false, or_
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, ColumnElement

Processor = Callable[[Any], Any] | None
Row = tuple[Any, ...]
Shape = TypeVar("Shape", bound=Hashable)


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    defaults: Mapping[str, Any]
    binds: tuple[Processor, ...]
    # (position, processor) of the result columns that have one: most have none, and a row
    # of those is taken as the driver gives it.
    results: tuple[tuple[int, Callable[[Any], Any]], ...]

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        args = []
        for name, process in zip(self.names, self.binds, strict=True):
            value = params[name] if name in params else self.defaults[name]
            args.append(value if process is None else process(value))
        return args

    def row(self, raw: Sequence[Any]) -> Row:
        if not self.results:
            return tuple(raw)
        values = list(raw)
        for position, process in self.results:
            value = values[position]
            if value is not None:
                values[position] = process(value)
        return tuple(values)


class LeanStatement:
    """A Core statement with named bind parameters, compiled once per dialect."""

    __slots__ = ("_build", "_compiled")

    def __init__(self, statement: ClauseElement | Callable[[str], ClauseElement]) -> None:
        """``statement``, or a function of the dialect name that builds it (for the
        ``INSERT … ON CONFLICT`` constructs, which are dialect-specific)."""
        self._build = statement if callable(statement) else lambda _name: statement
        self._compiled: dict[str, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            found = self._compiled[dialect.name] = self._compile(dialect)
        return found

    def _compile(self, dialect: Dialect) -> _Compiled:
        statement = self._build(dialect.name)
        # Expanding IN lists are not supported: they would need values at compile time.
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        names = tuple(compiled.positiontup or ())
        columns = getattr(statement, "exported_columns", ())
        return _Compiled(
            sql=str(compiled),
            names=names,
            # Values fixed at build time; a missing named parameter is a KeyError, not NULL.
            defaults={
                name: bind.effective_value
                for name, bind in compiled.binds.items()
                if name in names and not bind.required
            },
            binds=tuple(
                compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
                for name in names
            ),
            results=tuple(
                (position, process)
                for position, column in enumerate(columns)
                if (process := column.type.dialect_impl(dialect).result_processor(dialect, None))
                is not None
            ),
        )


class LeanShapes(Generic[Shape]):
    """A family of statements that differ only in shape — which optional conditions they
    have, how many values an IN list holds — each built and compiled once, on first use.

    The lean route binds no expanding IN lists, so the length of a list of values is part
    of the shape: ``in_list`` gives the parameters, and their number is the shape.
    """

    __slots__ = ("_build", "_statements")

    def __init__(self, build: Callable[[Shape], ClauseElement]) -> None:
        self._build = build
        self._statements: dict[Shape, LeanStatement] = {}

    def __getitem__(self, shape: Shape) -> LeanStatement:
        found = self._statements.get(shape)
        if found is None:
            found = self._statements[shape] = LeanStatement(self._build(shape))
        return found


def in_list(prefix: str, values: Sequence[Any]) -> dict[str, Any]:
    """The parameters ``{prefix}0`` … of an IN list of ``values`` (at least one), padded to
    the next power of two by repeating the last value, which changes nothing in an IN: a
    family then holds a handful of shapes (1, 2, 4, …) whatever the lists' lengths."""
    if not values:
        raise ValueError("an IN list needs at least one value")
    size = 1 << (len(values) - 1).bit_length()
    padded = [*values, *[values[-1]] * (size - len(values))]
    return {f"{prefix}{index}": value for index, value in enumerate(padded)}


def in_list_of(column: ColumnElement[Any], prefix: str, size: int) -> ColumnElement[bool]:
    """``column IN (…)`` with room for ``size`` values, named as ``in_list`` names them."""
    return column.in_([bindparam(f"{prefix}{index}", type_=column.type) for index in range(size)])


def one_of(column: ColumnElement[Any], values: tuple[str, ...]) -> ColumnElement[bool]:
    """``column`` is one of a few ``values`` fixed in the statement (a shape each); none
    matches nothing."""
    if not values:
        return false()
    return column.in_([bindparam(f"{column.key}_{value}", value) for value in values])


def after_key(at: ColumnElement[Any], id: ColumnElement[Any]) -> ColumnElement[bool]:
    """Rows after the key (``cursor_at``, ``cursor_id``) in a newest-first list: older, or
    as old with a smaller id (keyset paging)."""
    return or_(
        at < bindparam("cursor_at"),
        and_(at == bindparam("cursor_at"), id < bindparam("cursor_id")),
    )


class LeanConnection(Protocol):
    """What a lean unit of work offers: rows as plain tuples, counts as ints."""

    async def fetch(self, statement: LeanStatement, **params: Any) -> list[Row]: ...

    async def fetchrow(self, statement: LeanStatement, **params: Any) -> Row | None: ...

    async def execute(self, statement: LeanStatement, **params: Any) -> int:
        """Run a statement that returns no rows; the number of rows it changed."""
        ...


class AsyncpgLean:
    """A lean connection on an ``asyncpg`` connection (its statement cache prepares once)."""

    __slots__ = ("_conn", "_dialect")

    def __init__(self, conn: Any, dialect: Dialect) -> None:
        self._conn = conn
        self._dialect = dialect

    async def fetch(self, statement: LeanStatement, **params: Any) -> list[Row]:
        compiled = statement.compiled(self._dialect)
        rows = await self._conn.fetch(compiled.sql, *compiled.args(params))
        return [compiled.row(row) for row in rows]

    async def fetchrow(self, statement: LeanStatement, **params: Any) -> Row | None:
        compiled = statement.compiled(self._dialect)
        row = await self._conn.fetchrow(compiled.sql, *compiled.args(params))
        return None if row is None else compiled.row(row)

    async def execute(self, statement: LeanStatement, **params: Any) -> int:
        compiled = statement.compiled(self._dialect)
        status: str = await self._conn.execute(compiled.sql, *compiled.args(params))
        # The command tag: "UPDATE 3", "INSERT 0 1", "DELETE 0".
        return int(status.rsplit(" ", 1)[-1])


class AiosqliteLean:
    """A lean connection on the ``aiosqlite`` connection SQLAlchemy's pool checked out."""

    __slots__ = ("_conn", "_dialect")

    def __init__(self, conn: Any, dialect: Dialect) -> None:
        self._conn = conn
        self._dialect = dialect

    async def fetch(self, statement: LeanStatement, **params: Any) -> list[Row]:
        compiled = statement.compiled(self._dialect)
        rows = await self._conn.execute_fetchall(compiled.sql, compiled.args(params))
        return [compiled.row(row) for row in rows]

    async def fetchrow(self, statement: LeanStatement, **params: Any) -> Row | None:
        rows = await self.fetch(statement, **params)
        return rows[0] if rows else None

    async def execute(self, statement: LeanStatement, **params: Any) -> int:
        compiled = statement.compiled(self._dialect)
        cursor = await self._conn.execute(compiled.sql, compiled.args(params))
        try:
            count: int = cursor.rowcount
        finally:
            await cursor.close()
        return count
