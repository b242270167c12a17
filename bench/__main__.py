"""``make bench``: run the benchmark scenarios and print one table.

This session's table covers the accrual pipeline; the HTTP load scenarios (wrk) come with the
benchmark issue. Usage: ``python -m bench [--orders N] [--backends sqlite,postgresql]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform

from bench.pipeline import PipelineResult, run_pipeline


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def row(name: str, result: PipelineResult) -> str:
    return (
        f"| {name} | {result.backend} | {result.orders} | {result.seconds:.2f} s "
        f"| {result.orders_per_second:,.0f} | {result.median_latency_ms:.0f} ms "
        f"| {result.p99_latency_ms:.0f} ms | {result.gets} | {result.rate_limited} |"
    )


async def main(orders: int, backends: list[str]) -> None:
    print(f"machine: {machine()}\n")
    print("| scenario | backend | orders | upload → all PROCESSED | orders/s | median upload→PROCESSED | p99 | accrual GETs | 429s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for backend in backends:
        paced = await run_pipeline(backend=backend, orders=200, upload_concurrency=1, paced_per_second=50)
        print(row("paced uploads (50/s), unlimited accrual", paced), flush=True)
        burst = await run_pipeline(backend=backend, orders=orders)
        print(row("burst of uploads, unlimited accrual", burst), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    asyncio.run(main(args.orders, args.backends.split(",")))
