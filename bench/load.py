"""HTTP load with wrk: one run of one Lua script, read back from the script's JSON line.

Every run is bounded by wrk's own ``-d`` and, should wrk hang, by a kill after ``-d`` + 30 s.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import resource
import shutil
from dataclasses import dataclass
from pathlib import Path

import orjson

from bench.processes import Service, machine_busy_seconds, postgres_cpu, postgres_cpu_between

WRK_DIR = Path(__file__).resolve().parent / "wrk"
RESULT_MARKER = "BENCH_RESULT "
_prefixes = itertools.count(11)


@dataclass(frozen=True)
class LoadConfig:
    threads: int = 2
    connections: int = 32
    duration: float = 15
    warmup: float = 2
    timeout: float = 10  # wrk's per-request timeout; argon2 endpoints queue for seconds

    def argv(self, script: str, url: str, duration: float) -> list[str]:
        return [
            "wrk",
            f"-t{self.threads}",
            f"-c{self.connections}",
            f"-d{duration:g}s",
            "--latency",
            f"--timeout={self.timeout:g}s",
            "-s",
            str(WRK_DIR / script),
            url,
        ]

    def command(self, script: str = "<script>.lua", url: str = "<url>") -> str:
        argv = self.argv(script, url, self.duration)
        argv[-2] = f"bench/wrk/{script}"
        return " ".join(argv)


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    status_errors: int  # responses with a status above 399
    socket_errors: int  # connect/read/write errors and timeouts
    p50_ms: float
    p99_ms: float
    server_cpu: float  # cores the server used on average (1.0 = one core busy)
    postgres_cpu: float  # every postgres process on the machine
    wrk_cpu: float
    machine_cpu: float  # of os.cpu_count() cores

    @property
    def other_cpu(self) -> float:
        """The rest: the simulator, the bench itself, and anything else on the machine."""
        return max(0.0, self.machine_cpu - self.server_cpu - self.postgres_cpu - self.wrk_cpu)

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def fresh_prefix() -> str:
    """Digits no earlier wrk run of this process used: order numbers and logins stay new."""
    return str(next(_prefixes))


async def _wrk(argv: list[str], env: dict[str, str], duration: float) -> tuple[str, float]:
    """wrk's stdout and the CPU seconds it used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    process = await asyncio.create_subprocess_exec(
        *argv,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=duration + 30)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise RuntimeError(f"wrk did not finish within {duration + 30:g} s") from None
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if process.returncode != 0:
        raise RuntimeError(f"wrk exited with {process.returncode}: {stderr.decode().strip()}")
    return stdout.decode(), used


async def run_wrk(
    config: LoadConfig,
    *,
    script: str,
    url: str,
    server: Service,
    env: dict[str, str] | None = None,
) -> LoadResult:
    """Warm up for ``config.warmup`` seconds (not measured), then measure ``config.duration``."""
    env = dict(env or {})
    if config.warmup > 0:
        await _wrk(
            config.argv(script, url, config.warmup),
            {**env, "BENCH_PREFIX": fresh_prefix()},
            config.warmup,
        )
    env["BENCH_PREFIX"] = fresh_prefix()
    server_before = server.cpu_seconds()
    postgres_before = postgres_cpu()
    busy_before, total_before = machine_busy_seconds()
    output, wrk_cpu = await _wrk(config.argv(script, url, config.duration), env, config.duration)
    busy_after, total_after = machine_busy_seconds()
    server_cpu = server.cpu_seconds() - server_before
    postgres_used = postgres_cpu_between(postgres_before, postgres_cpu())
    line = next((ln for ln in output.splitlines() if ln.startswith(RESULT_MARKER)), None)
    if line is None:
        raise RuntimeError(f"wrk printed no {RESULT_MARKER.strip()} line:\n{output}")
    data = orjson.loads(line.removeprefix(RESULT_MARKER))
    seconds = data["duration_us"] / 1e6
    cores = os.cpu_count() or 1
    machine = (busy_after - busy_before) / (total_after - total_before) * cores
    return LoadResult(
        requests=data["requests"],
        seconds=seconds,
        status_errors=data["status_errors"],
        socket_errors=sum(
            data[key] for key in ("connect_errors", "read_errors", "write_errors", "timeouts")
        ),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        server_cpu=server_cpu / seconds,
        postgres_cpu=postgres_used / seconds,
        wrk_cpu=wrk_cpu / seconds,
        machine_cpu=machine,
    )
