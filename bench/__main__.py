"""``make bench``: run the benchmark scenarios and print one markdown table.

Per backend: a fresh database with one seeded user (50 PROCESSED orders, a large balance),
the accrual simulator and one ``gophermart`` server; wrk drives each HTTP scenario
(bench/wrk/*.lua) after a short warm-up. GET balance and GET orders are also served by a bare
Starlette + asyncpg app (bench/baseline.py) on PostgreSQL, the floor our req/s is a ratio
of. Then the accrual pipeline (bench/pipeline.py): 2,000 orders against a simulator without
a limit, and at ``--rate-limit 6000`` counted in one-second windows (100 a second).
``--big`` repeats the read scenarios on a database that also holds 1,000,000 orders of
100,000 users.

Progress goes to stderr; the table (with the machine and the commands) to stdout and
``--out``. Quick look: ``python -m bench --duration 3 --scenarios balance,orders --backends
sqlite``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx

from bench.load import LoadConfig, LoadResult, run_wrk, wrk_available
from bench.pipeline import PipelineResult, run_pipeline
from bench.processes import (
    PG_ADMIN_DSN,
    Service,
    baseline,
    database,
    machine_busy_seconds,
    server,
    simulator,
)
from bench.scenarios import ALL_SCENARIOS, DEFAULT_SCENARIOS, HTTP_SCENARIOS, Scenario
from bench.seed import SEEDED_ORDERS, BenchUser, bulk_seed, check_consistency, prepare

SMALL_DATA = f"1 user, {SEEDED_ORDERS} orders"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Row:
    scenario: str
    backend: str
    data: str
    rate: str = "n/a"
    p50: str = ""
    p99: str = ""
    errors: str = ""
    vs_bare: str = ""
    cpu: str = ""
    rss: str = ""
    notes: str = ""
    per_second: float | None = None  # for the ratio to the bare baseline
    bare_of: str | None = None  # the scenario whose bare twin this row is compared with

    def cells(self) -> list[str]:
        return [
            self.scenario,
            self.backend,
            self.data,
            self.rate,
            self.p50,
            self.p99,
            self.errors,
            self.vs_bare,
            self.cpu,
            self.rss,
            self.notes,
        ]


HEADER = [
    "scenario",
    "backend",
    "data",
    "req/s",
    "p50",
    "p99",
    "non-2xx",
    "÷ bare",
    "CPU server / PG / wrk / other",
    "server peak RSS",
    "notes",
]


@dataclass
class Options:
    backends: list[str]
    scenarios: list[str]
    load: LoadConfig
    workers: int
    big: bool
    big_users: int
    big_orders: int
    pipeline_orders: int
    rate_limit: int
    rate_window: float
    out: Path | None
    argv: list[str]


@dataclass
class Run:
    options: Options
    rows: list[Row] = field(default_factory=list)
    # req/s of the bare baseline per (scenario, data set), for the "÷ bare" column
    bare: dict[tuple[str, str], float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        log(" | ".join(cell for cell in row.cells() if cell))


# ------------------------------------------------------------------------------------ formats


def _ms(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms"


def _mib(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.0f} MiB"


def _load_row(row: Row, result: LoadResult, service: Service) -> Row:
    row.rate = f"{result.per_second:,.0f}"
    row.per_second = result.per_second
    row.p50 = _ms(result.p50_ms)
    row.p99 = _ms(result.p99_ms)
    row.errors = f"{result.status_errors:,}"
    row.cpu = " / ".join(
        f"{value:.0%}"
        for value in (result.server_cpu, result.postgres_cpu, result.wrk_cpu, result.other_cpu)
    )
    row.rss = _mib(service.peak_rss_mib())
    extra = [f"{result.requests:,} requests in {result.seconds:.1f} s"]
    if result.socket_errors:
        extra.append(f"{result.socket_errors:,} socket errors/timeouts")
    row.notes = "; ".join(filter(None, [row.notes, *extra]))
    return row


def table(rows: Sequence[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += [
        "| " + " | ".join(cell.replace("|", "\\|") for cell in r.cells()) + " |" for r in rows
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ machine


def _first(path: str, prefix: str) -> str | None:
    with contextlib.suppress(OSError), open(path) as lines:
        for line in lines:
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    return None


async def _postgres_version() -> str:
    try:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            return "PostgreSQL " + str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()
    except (OSError, asyncpg.PostgresError) as exc:
        return f"PostgreSQL unreachable ({exc})"


def _wrk_version() -> str:
    if not wrk_available():
        return "wrk not installed"
    # `wrk --version` prints its banner and exits 1.
    done = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).split("Copyright")[0].strip()


async def background_cpu(seconds: float = 2) -> str:
    """How busy the machine is before the run starts: other work skews every figure."""
    busy_before, total_before = machine_busy_seconds()
    await asyncio.sleep(seconds)
    busy_after, total_after = machine_busy_seconds()
    share = (busy_after - busy_before) / (total_after - total_before) * (os.cpu_count() or 1)
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"Before the run the machine was already {share:.0%} busy (100% = one core; "
        f"load average {load}): figures are only comparable between runs on an "
        "otherwise idle machine."
    )


async def machine() -> str:
    cpu = _first("/proc/cpuinfo", "model name") or "unknown CPU"
    memory = _first("/proc/meminfo", "MemTotal")
    gib = f"{int(memory.split()[0]) / 1024**2:.0f} GiB" if memory else "? GiB"
    return (
        f"{os.cpu_count()} cores ({cpu}), {gib} RAM, Linux {platform.release()}, "
        f"Python {platform.python_version()}, {await _postgres_version()}, {_wrk_version()}; "
        "server, simulator, PostgreSQL and wrk share the cores"
    )


# ------------------------------------------------------------------------------------ HTTP


async def _scenario(
    run: Run, scenario: Scenario, service: Service, user: BenchUser, backend: str, data: str
) -> Row:
    row = Row(scenario.title, backend, data, bare_of=scenario.name if scenario.bare else None)
    try:
        async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as client:
            problem = await scenario.probe(client, user)
        if problem is not None:
            row.notes = problem
            return row
        env = {
            "BENCH_TOKEN": user.token,
            "BENCH_LOGIN": user.login,
            "BENCH_PASSWORD": user.password,
        }
        result = await run_wrk(
            run.options.load,
            script=scenario.script,
            url=service.base_url + scenario.path,
            server=service,
            env=env,
        )
    except Exception as exc:
        row.notes = f"failed: {type(exc).__name__}: {exc}"[:300]
        return row
    return _load_row(row, result, service)


async def _baseline(run: Run, scenario: Scenario, uri: str, user: BenchUser, data: str) -> None:
    row = Row(f"{scenario.title}, bare Starlette + asyncpg", "postgresql", data)
    try:
        async with baseline(uri, workers=run.options.workers) as bare:
            result = await run_wrk(
                run.options.load,
                script=scenario.script,
                url=bare.base_url + scenario.path,
                server=bare,
                env={"BENCH_TOKEN": user.token},
            )
            _load_row(row, result, bare)
    except Exception as exc:
        row.notes = f"failed: {type(exc).__name__}: {exc}"[:300]
    else:
        run.bare[(scenario.name, data)] = result.per_second
        row.vs_bare = "1.00"
    run.add(row)


async def http_block(run: Run, backend: str, *, big: bool) -> None:
    """One database, one simulator, one server; the selected scenarios one after another."""
    options = run.options
    scenarios = [
        s for s in HTTP_SCENARIOS if s.name in options.scenarios and (s.read_only or not big)
    ]
    if not scenarios:
        return
    data = SMALL_DATA
    if big:
        data = f"+ {options.big_orders:,} orders, {options.big_users:,} users"
    async with database(backend) as uri:
        user = await prepare(uri)
        if big:
            size = f"{options.big_orders:,} orders, {options.big_users:,} users"
            log(f"{backend}: bulk seed of {size}")
            bulk = await bulk_seed(uri, users=options.big_users, orders_total=options.big_orders)
            problems = await check_consistency(uri)
            run.notes.append(
                f"Bulk seed, {backend}: {bulk.orders:,} orders of {bulk.users:,} users in "
                f"{bulk.seconds:.0f} s (statistics refreshed); consistency check: "
                f"{'; '.join(problems) if problems else 'ok'}."
            )
            log(run.notes[-1])
        workers = options.workers if backend == "postgresql" else 1
        try:
            async with (
                simulator() as accrual,
                server(uri, accrual.base_url, workers=workers) as service,
            ):
                for scenario in scenarios:
                    log(f"{backend} ({data}): {scenario.title}")
                    run.add(await _scenario(run, scenario, service, user, backend, data))
                    if scenario.bare and backend == "postgresql":
                        log(f"{backend} ({data}): {scenario.title}, bare baseline")
                        await _baseline(run, scenario, uri, user, data)
        except RuntimeError as exc:  # the server or simulator did not start
            run.add(Row("server", backend, data, notes=f"failed to start: {exc}"[:300]))


async def _guarded_block(run: Run, backend: str, *, big: bool) -> None:
    try:
        await http_block(run, backend, big=big)
    except Exception as exc:  # seeding failed: report it and go on with the rest
        data = "bulk data" if big else SMALL_DATA
        run.add(Row("setup", backend, data, notes=f"failed: {exc!r}"[:300]))


async def standalone_baselines(run: Run) -> None:
    """The bare baselines when PostgreSQL is not among the backends (they need asyncpg)."""
    async with database("postgresql") as uri:
        user = await prepare(uri)
        for scenario in HTTP_SCENARIOS:
            if scenario.bare and scenario.name in run.options.scenarios:
                await _baseline(run, scenario, uri, user, SMALL_DATA)


# ------------------------------------------------------------------------------------ pipeline


def _pipeline_row(title: str, result: PipelineResult) -> Row:
    return Row(
        title,
        result.backend,
        f"{result.orders:,} orders",
        rate=f"{result.orders_per_second:,.0f} orders/s",
        p50=_ms(result.median_latency_ms),
        p99=_ms(result.p99_latency_ms),
        errors=f"{result.rate_limited:,} × 429",
        rss=_mib(result.server_peak_rss_mib),
    )


async def pipeline_rows(run: Run, backend: str) -> None:
    options = run.options
    orders = options.pipeline_orders
    if "pipeline" in options.scenarios:
        title = "accrual pipeline, no rate limit (upload → PROCESSED)"
        log(f"{backend}: {title}")
        try:
            result = await run_pipeline(
                backend=backend, orders=orders, time_limit=300, workers=options.workers
            )
        except Exception as exc:
            run.add(Row(title, backend, f"{orders:,} orders", notes=f"failed: {exc}"[:300]))
        else:
            row = _pipeline_row(title, result)
            row.notes = (
                f"all PROCESSED {result.seconds:.1f} s after the first upload; "
                f"{result.gets:,} accrual GETs"
            )
            run.add(row)
    if "pipeline-paced" in options.scenarios:
        title = "accrual pipeline, uploads paced at 50/s, no rate limit"
        log(f"{backend}: {title}")
        try:
            result = await run_pipeline(
                backend=backend,
                orders=200,
                upload_concurrency=1,
                paced_per_second=50,
                time_limit=300,
                workers=options.workers,
            )
        except Exception as exc:
            run.add(Row(title, backend, "200 orders", notes=f"failed: {exc}"[:300]))
        else:
            row = _pipeline_row(title, result)
            row.notes = f"{result.gets:,} accrual GETs"
            run.add(row)
    if "pipeline-limited" in options.scenarios:
        limit, window = options.rate_limit, options.rate_window
        title = f"accrual pipeline, simulator --rate-limit {limit} --rate-window {window:g}"
        # At an even N a minute; the simulator admits N × window / 60 per window, the first
        # window's share at once.
        minimum = orders / (limit / 60)
        windows = math.ceil(minimum / window)
        log(f"{backend}: {title}")
        try:
            result = await run_pipeline(
                backend=backend,
                orders=orders,
                simulator_args=("--rate-limit", str(limit), "--rate-window", f"{window:g}"),
                time_limit=max(300, minimum * 5),
                workers=options.workers,
            )
        except Exception as exc:
            run.add(Row(title, backend, f"{orders:,} orders", notes=f"failed: {exc}"[:300]))
        else:
            row = _pipeline_row(title, result)
            row.notes = (
                f"{result.seconds:.1f} s against a theoretical minimum of {minimum:.1f} s at an "
                f"even {limit / 60:g}/s (×{result.seconds / minimum:.2f}); "
                f"{result.rate_limited} × 429 over {windows} windows of {window:g} s; "
                f"{result.gets:,} accrual GETs"
            )
            run.add(row)


# ------------------------------------------------------------------------------------ main


async def main(options: Options) -> str:
    run = Run(options)
    started = time.monotonic()
    description = await machine()
    idle = await background_cpu()
    log(idle)
    http_selected = any(s.name in options.scenarios for s in HTTP_SCENARIOS)
    if http_selected and not wrk_available():
        run.notes.append("wrk is not installed: HTTP scenarios skipped (`make bench` installs it).")
        http_selected = False
    if http_selected:
        for backend in options.backends:
            await _guarded_block(run, backend, big=False)
        if "postgresql" not in options.backends:
            log("bare baselines (PostgreSQL)")
            await standalone_baselines(run)
        for backend in options.backends if options.big else ():
            await _guarded_block(run, backend, big=True)
    for backend in options.backends:
        await pipeline_rows(run, backend)
    for row in run.rows:
        if row.bare_of is None or row.per_second is None or row.backend != "postgresql":
            continue
        bare = run.bare.get((row.bare_of, row.data)) or run.bare.get((row.bare_of, SMALL_DATA))
        if bare:
            row.vs_bare = f"{row.per_second / bare:.2f}"
    minutes = (time.monotonic() - started) / 60
    lines = [
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {minutes:.1f} min: "
        f"`{shlex.join(['python', '-m', 'bench', *options.argv])}`",
        "",
        f"Machine: {description}.",
        "",
        idle,
        "",
        f"Load: `{options.load.command()}` per scenario, after a {options.load.warmup:g} s "
        f"warm-up; one server process ({options.workers} worker(s) asked), "
        "`gophermart -a … -d … -r <simulator>`.",
        "",
        table(run.rows),
        "",
        "non-2xx: responses with a status above 399 (wrk's own count); pipeline rows: 429s "
        "the simulator sent. ÷ bare: req/s as a share of the bare Starlette + asyncpg app "
        "serving the same read (same token, same query, same JSON) on PostgreSQL. CPU: average "
        "cores busy during the measured run (100% = one core; the machine has "
        f"{os.cpu_count()}) for the server process, all PostgreSQL processes, wrk, and "
        "everything else (the simulator, the bench, other work on the machine). Server "
        "peak RSS: VmHWM of the largest server process (a worker, with --workers) after the "
        "row ran (scenarios run top to bottom). Pipeline rows: orders/s from the first "
        "upload to the last PROCESSED, p50/p99 of upload→PROCESSED per order from the "
        "server's own timestamps.",
    ]
    if run.notes:
        lines += ["", *run.notes]
    return "\n".join(lines)


def parse_options(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument(
        "--scenarios",
        default=",".join(DEFAULT_SCENARIOS),
        help=f"comma-separated, from: {', '.join(ALL_SCENARIOS)} (default: all but the last)",
    )
    parser.add_argument("--duration", type=float, default=15, help="seconds per wrk run")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of wrk before each run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes on PostgreSQL (needs `gophermart --workers`; SQLite: one) "
        "and the bare baseline's uvicorn workers",
    )
    parser.add_argument(
        "--big", action="store_true", help="repeat the reads on 1,000,000 orders / 100,000 users"
    )
    parser.add_argument("--big-users", type=int, default=100_000)
    parser.add_argument("--big-orders", type=int, default=1_000_000)
    parser.add_argument(
        "--pipeline-orders", "--orders", dest="pipeline_orders", type=int, default=2000
    )
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=6000,
        help="the simulator's GETs per minute in the pipeline-limited scenario",
    )
    parser.add_argument(
        "--rate-window",
        type=float,
        default=1,
        help="the simulator's rate-limit window in seconds (N × window / 60 requests each): "
        "a minute lets 2,000 orders through at 6,000/min in one burst, never reaching the limit",
    )
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    for backend in backends:
        if backend not in ("postgresql", "sqlite"):
            parser.error(f"unknown backend {backend!r}")
    for scenario in scenarios:
        if scenario not in ALL_SCENARIOS:
            parser.error(f"unknown scenario {scenario!r}; choose from {', '.join(ALL_SCENARIOS)}")
    return Options(
        backends=backends,
        scenarios=scenarios,
        load=LoadConfig(
            threads=args.threads,
            connections=args.connections,
            duration=args.duration,
            warmup=args.warmup,
        ),
        workers=args.workers,
        big=args.big,
        big_users=args.big_users,
        big_orders=args.big_orders,
        pipeline_orders=args.pipeline_orders,
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
        out=args.out,
        argv=list(argv),
    )


if __name__ == "__main__":
    opts = parse_options(sys.argv[1:])
    output = asyncio.run(main(opts))
    print(output)
    if opts.out is not None:
        opts.out.write_text(output + "\n")
