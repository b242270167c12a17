"""Benchmark data: the signed-in user every scenario acts as, and the optional bulk of data.

The bench user goes through the service layer (register, upload_order, apply_result), so its
rows are exactly what the service writes. The bulk (``--big``: 100,000 users, 1,000,000
orders) is plain SQL for speed but mirrors what the services write and keeps every
constraint: Luhn-valid unique numbers, one answer row per settled order, one ACCRUAL ledger
row per credited order, one WITHDRAWAL per user, and each account's cached totals equal to
its ledger. All bulk users share one precomputed argon2 hash.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from bench.processes import SECRET
from gophermart.migrations import migrate
from gophermart.models.enums import LoyaltyStatus
from gophermart.models.money import luhn_complete
from gophermart.server.settings import parse_database_uri
from gophermart.services import accrual, auth, orders
from gophermart.services.records import Principal
from gophermart.store.database import Database

BENCH_LOGIN = "bench-user"
BENCH_PASSWORD = "bench-password"  # noqa: S105 - benchmark data
BULK_PASSWORD = "bulk-password"  # noqa: S105 - benchmark data
SEEDED_ORDERS = 50
# Points per seeded order (kopecks): 50 of them make a balance no benchmark run can spend
# at 0.01 per withdrawal.
SEEDED_ACCRUAL = 10**12
BULK_WITHDRAWAL = 100  # kopecks, one per bulk user
BULK_ORDER_PREFIX = "8"  # bulk order numbers: 8 + 12 digits + check digit
BULK_WITHDRAWAL_PREFIX = "9"  # bulk withdrawal numbers: 9 + 12 digits + check digit
SEED_ORDER_PREFIX = "7"  # the bench user's 50 orders


@dataclass(frozen=True)
class BenchUser:
    login: str
    password: str
    token: str
    principal: Principal


async def prepare(database_uri: str, *, orders_count: int = SEEDED_ORDERS) -> BenchUser:
    """Migrate an empty database and seed the bench user: ``orders_count`` PROCESSED orders
    whose points make a large balance. Run before the server starts (no poller races)."""
    db = Database(parse_database_uri(database_uri), pool_size=2)
    try:
        await migrate(db)
        session = await auth.register(
            db=db,
            hasher=auth.PasswordHasher(),
            tokens=auth.TokenCodec(secret=SECRET, ttl=timedelta(days=7)),
            login=BENCH_LOGIN,
            password=BENCH_PASSWORD,
        )
        for index in range(orders_count):
            number = luhn_complete(f"{SEED_ORDER_PREFIX}{index:012d}")
            await orders.upload_order(db=db, principal=session.principal, number=number)
            await accrual.apply_result(
                db=db,
                order_number=number,
                loyalty_status=LoyaltyStatus.PROCESSED,
                accrual=SEEDED_ACCRUAL,
            )
    finally:
        await db.dispose()
    return BenchUser(
        login=BENCH_LOGIN,
        password=BENCH_PASSWORD,
        token=session.token.token,
        principal=session.principal,
    )


async def bulk_password_hash() -> str:
    return await auth.PasswordHasher().hash(BULK_PASSWORD)


def _bulk_accrual(n: int) -> int | None:
    """Order ``n``'s points: the last order of every ten is INVALID (no points)."""
    return None if n % 10 == 9 else 100 + n % 9901


# ---------------------------------------------------------------- PostgreSQL: one INSERT … SELECT
# per table, from generate_series; Luhn digits from an unrolled expression, ids from uuid7().


def _pg_luhn(payload: str, width: int) -> str:
    """SQL for ``payload`` (an expression of ``width`` digits) with its Luhn check digit:
    unrolled, so PostgreSQL evaluates it inline rather than calling a function per row."""
    terms = []
    for k in range(1, width + 1):
        digit = f"substr({payload}, {k}, 1)::int"
        doubled = (width - k) % 2 == 0  # the check digit will be appended to the right
        terms.append(f"(2 * {digit}) % 10 + (2 * {digit}) / 10" if doubled else digit)
    return f"{payload} || ((10 - ({' + '.join(terms)}) % 10) % 10)::text"


# Time-ordered ids, as the service's uuid7(): a row's timestamp in the first 48 bits, the
# version nibble set to 7 (a v4's 0100 plus bits 52 and 53 gives 0111).
_PG_UUID7 = """
CREATE FUNCTION pg_temp.uuid7(at timestamptz) RETURNS uuid LANGUAGE sql VOLATILE AS $$
  SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
    PLACING substring(int8send(floor(extract(epoch FROM at) * 1000)::bigint) FROM 3)
    FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
$$
"""

_ORDER_NUMBER = _pg_luhn("x.payload", 13)
_WITHDRAWAL_NUMBER = _pg_luhn("w.payload", 13)

_PG_STEPS: tuple[tuple[str, str], ...] = (
    (
        "users",
        """CREATE TEMP TABLE bulk_user AS
        SELECT i, pg_temp.uuid7(t.created) AS user_id, pg_temp.uuid7(t.created) AS account_id,
               t.created
        FROM generate_series(1, $2::int) AS i
        CROSS JOIN LATERAL (SELECT $1::timestamptz - make_interval(days => 400)
                                   + make_interval(secs => i) AS created) AS t""",
    ),
    (
        "orders (temp)",
        # Only constants are interpolated, never input.
        f"""CREATE TEMP TABLE bulk_order AS
        SELECT pg_temp.uuid7(x.uploaded_at) AS id, u.user_id, u.account_id,
               {_ORDER_NUMBER} AS number,
               CASE WHEN x.n % 10 = 9 THEN 'INVALID' ELSE 'PROCESSED' END AS status,
               CASE WHEN x.n % 10 = 9 THEN NULL ELSE 100 + x.n % 9901 END::bigint AS accrual,
               x.uploaded_at
        FROM bulk_user AS u
        CROSS JOIN generate_series(0, $1::int - 1) AS j
        CROSS JOIN LATERAL (
            SELECT n, '{BULK_ORDER_PREFIX}' || lpad(n::text, 12, '0') AS payload,
                   u.created + make_interval(secs => 60 + n % 10 * 3600) AS uploaded_at
            FROM (SELECT (u.i - 1) * $1::bigint + j AS n) AS k
        ) AS x""",  # noqa: S608 - constants only
    ),
    (
        "loyalty_account",
        """INSERT INTO loyalty_account (id, balance, withdrawn)
        SELECT u.account_id, coalesce(s.total, 0) - $1::bigint, $1::bigint
        FROM bulk_user AS u
        LEFT JOIN (SELECT account_id, sum(accrual) AS total FROM bulk_order GROUP BY 1) AS s
          ON s.account_id = u.account_id""",
    ),
    (
        "user",
        """INSERT INTO "user" (id, loyalty_account_id, created_at)
        SELECT user_id, account_id, created FROM bulk_user""",
    ),
    (
        "user_account",
        """INSERT INTO user_account (id, user_id, login, login_key, password_hash, created_at)
        SELECT pg_temp.uuid7(created), user_id, 'bulk-user-' || i, 'bulk-user-' || i, $1,
               created
        FROM bulk_user""",
    ),
    (
        "order",
        """INSERT INTO "order" (id, number, user_id, status, accrual, uploaded_at, next_poll_at,
                                lease_until, attempts)
        SELECT id, number, user_id, status, accrual, uploaded_at, uploaded_at, NULL, 1
        FROM bulk_order""",
    ),
    (
        "bonus_calculation",
        """INSERT INTO bonus_calculation (id, order_id, loyalty_status, accrual, checked_at)
        SELECT pg_temp.uuid7(uploaded_at), id, status, accrual, uploaded_at + interval '1 second'
        FROM bulk_order""",
    ),
    (
        "ledger (accruals)",
        """INSERT INTO loyalty_account_transaction
            (id, loyalty_account_id, type, amount, order_number, order_id, created_at)
        SELECT pg_temp.uuid7(uploaded_at), account_id, 'ACCRUAL', accrual, number, id,
               uploaded_at + interval '1 second'
        FROM bulk_order WHERE accrual IS NOT NULL""",
    ),
    (
        "ledger (withdrawals)",
        f"""INSERT INTO loyalty_account_transaction
            (id, loyalty_account_id, type, amount, order_number, order_id, created_at)
        SELECT pg_temp.uuid7(w.at), u.account_id, 'WITHDRAWAL', $1::bigint,
               {_WITHDRAWAL_NUMBER}, NULL, w.at
        FROM bulk_user AS u
        CROSS JOIN LATERAL (
            SELECT '{BULK_WITHDRAWAL_PREFIX}' || lpad(u.i::text, 12, '0') AS payload,
                   u.created + interval '30 days' AS at
        ) AS w""",  # noqa: S608 - constants only
    ),
)


async def _bulk_postgresql(dsn: str, *, users: int, per_user: int, password_hash: str) -> None:
    now = datetime.now(UTC)
    params: dict[str, tuple[object, ...]] = {
        "users": (now, users),
        "orders (temp)": (per_user,),
        "loyalty_account": (BULK_WITHDRAWAL,),
        "user_account": (password_hash,),
        "ledger (withdrawals)": (BULK_WITHDRAWAL,),
    }
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.execute(_PG_UUID7)
        async with conn.transaction():
            for name, statement in _PG_STEPS:
                await conn.execute(statement, *params.get(name, ()))
        # Fresh statistics and visibility map now, rather than autovacuum mid-benchmark.
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


# ---------------------------------------------------------------- SQLite: executemany in big
# transactions; ids and timestamps in the forms SQLAlchemy stores there (hex, naive UTC text).


def _sqlite_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


class _Ids:
    """Time-ordered ids in SQLAlchemy's SQLite form (32 hex digits), as uuid7() makes them:
    new rows land near each other in the primary-key indexes."""

    def __init__(self) -> None:
        self._random = ""
        self._at = 0

    def __call__(self, at: datetime) -> str:
        if self._at + 20 > len(self._random):
            self._random, self._at = os.urandom(200_000).hex(), 0
        r = self._random[self._at : self._at + 19]
        self._at += 19
        millis = int(at.replace(tzinfo=UTC).timestamp() * 1000)
        return f"{millis:012x}7{r[:3]}{'89ab'[int(r[3], 16) & 3]}{r[4:19]}"


def _bulk_sqlite(path: str, *, users: int, per_user: int, password_hash: str) -> None:
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=400)
    chunk = 10_000  # users per transaction
    new_id = _Ids()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")  # 256 MiB
        for first in range(1, users + 1, chunk):
            batch = range(first, min(first + chunk, users + 1))
            accounts: list[tuple[object, ...]] = []
            people: list[tuple[object, ...]] = []
            credentials: list[tuple[object, ...]] = []
            order_rows: list[tuple[object, ...]] = []
            answers: list[tuple[object, ...]] = []
            ledger: list[tuple[object, ...]] = []  # accruals, then each user's withdrawal
            for i in batch:
                created = start + timedelta(seconds=i)
                user_id, account_id = new_id(created), new_id(created)
                total = 0
                for j in range(per_user):
                    n = (i - 1) * per_user + j
                    uploaded = created + timedelta(seconds=60 + n % 10 * 3600)
                    order_id = new_id(uploaded)
                    number = luhn_complete(f"{BULK_ORDER_PREFIX}{n:012d}")
                    points = _bulk_accrual(n)
                    status = "INVALID" if points is None else "PROCESSED"
                    checked = _sqlite_time(uploaded + timedelta(seconds=1))
                    uploaded_text = _sqlite_time(uploaded)
                    order_rows.append(
                        (order_id, number, user_id, status, points, uploaded_text, uploaded_text)
                    )
                    answers.append((new_id(uploaded), order_id, status, points, checked))
                    if points is not None:
                        total += points
                        ledger.append(
                            (
                                new_id(uploaded),
                                account_id,
                                "ACCRUAL",
                                points,
                                number,
                                order_id,
                                checked,
                            )
                        )
                accounts.append((account_id, total - BULK_WITHDRAWAL, BULK_WITHDRAWAL))
                people.append((user_id, account_id, _sqlite_time(created)))
                login = f"bulk-user-{i}"
                credentials.append(
                    (new_id(created), user_id, login, login, password_hash, _sqlite_time(created))
                )
                spent_at = created + timedelta(days=30)
                ledger.append(
                    (
                        new_id(spent_at),
                        account_id,
                        "WITHDRAWAL",
                        BULK_WITHDRAWAL,
                        luhn_complete(f"{BULK_WITHDRAWAL_PREFIX}{i:012d}"),
                        None,
                        _sqlite_time(spent_at),
                    )
                )
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO loyalty_account (id, balance, withdrawn) VALUES (?, ?, ?)", accounts
            )
            conn.executemany(
                'INSERT INTO "user" (id, loyalty_account_id, created_at) VALUES (?, ?, ?)', people
            )
            conn.executemany(
                "INSERT INTO user_account (id, user_id, login, login_key, password_hash,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                credentials,
            )
            conn.executemany(
                'INSERT INTO "order" (id, number, user_id, status, accrual, uploaded_at,'
                " next_poll_at, lease_until, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, 1)",
                order_rows,
            )
            conn.executemany(
                "INSERT INTO bonus_calculation (id, order_id, loyalty_status, accrual,"
                " checked_at) VALUES (?, ?, ?, ?, ?)",
                answers,
            )
            conn.executemany(
                "INSERT INTO loyalty_account_transaction (id, loyalty_account_id, type, amount,"
                " order_number, order_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                ledger,
            )
            conn.execute("COMMIT")
        conn.execute("ANALYZE")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


@dataclass(frozen=True)
class BulkResult:
    users: int
    orders: int
    seconds: float


async def bulk_seed(database_uri: str, *, users: int, orders_total: int) -> BulkResult:
    """Add ``users`` users with ``orders_total // users`` settled orders each (9 in 10
    PROCESSED with points, 1 in 10 INVALID) and one withdrawal each. Run while no server
    is using the database."""
    per_user = max(1, orders_total // users)
    password_hash = await bulk_password_hash()
    target = parse_database_uri(database_uri)
    started = time.monotonic()
    if target.backend.value == "postgresql":
        await _bulk_postgresql(
            target.dsn, users=users, per_user=per_user, password_hash=password_hash
        )
    else:
        await asyncio.to_thread(
            _bulk_sqlite, target.dsn, users=users, per_user=per_user, password_hash=password_hash
        )
    return BulkResult(users=users, orders=users * per_user, seconds=time.monotonic() - started)


async def check_consistency(database_uri: str) -> list[str]:
    """What is wrong with the data (empty: nothing): balances equal their ledgers, every
    settled order has its answer, every order number passes the Luhn check."""
    target = parse_database_uri(database_uri)
    queries = {
        "accounts whose totals differ from their ledger": """
            SELECT count(*) FROM loyalty_account AS a
            LEFT JOIN (SELECT loyalty_account_id AS id,
                         sum(CASE WHEN type = 'ACCRUAL' THEN amount ELSE 0 END) AS accrued,
                         sum(CASE WHEN type = 'WITHDRAWAL' THEN amount ELSE 0 END) AS spent
                       FROM loyalty_account_transaction GROUP BY loyalty_account_id) AS t
              ON t.id = a.id
            WHERE a.balance <> coalesce(t.accrued, 0) - coalesce(t.spent, 0)
               OR a.withdrawn <> coalesce(t.spent, 0)""",
        "settled orders without an answer row": """
            SELECT count(*) FROM "order" AS o
            LEFT JOIN bonus_calculation AS b ON b.order_id = o.id
            WHERE o.status IN ('PROCESSED', 'INVALID') AND b.id IS NULL""",
        "orders whose points differ from their ledger row": """
            SELECT count(*) FROM "order" AS o
            LEFT JOIN loyalty_account_transaction AS t
              ON t.type = 'ACCRUAL' AND t.order_number = o.number
            WHERE coalesce(o.accrual, 0) <> coalesce(t.amount, 0)""",
    }
    problems: list[str] = []
    if target.backend.value == "postgresql":
        conn = await asyncpg.connect(target.dsn)
        try:
            for label, query in queries.items():
                count = await conn.fetchval(query)
                if count:
                    problems.append(f"{count} {label}")
            numbers = await conn.fetch('SELECT number FROM "order" ORDER BY random() LIMIT 1000')
        finally:
            await conn.close()
        found = [row[0] for row in numbers]
    else:

        def read() -> tuple[list[tuple[str, int]], list[str]]:
            with contextlib.closing(sqlite3.connect(target.dsn)) as conn:
                counts = [(label, conn.execute(q).fetchone()[0]) for label, q in queries.items()]
                rows = conn.execute('SELECT number FROM "order" ORDER BY random() LIMIT 1000')
                return counts, [row[0] for row in rows]

        counts, found = await asyncio.to_thread(read)
        problems.extend(f"{count} {label}" for label, count in counts if count)
    bad = [number for number in found if luhn_complete(number[:-1]) != number]
    if bad:
        problems.append(f"order numbers failing the Luhn check, e.g. {bad[0]}")
    return problems
