"""Measuring tools of the benchmarks: latency quantiles, CPU time of processes, the machine."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
T = TypeVar("T")  # what a timed way is given


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max/mean in milliseconds (empty samples give an empty summary)."""
    if not seconds:
        return {}
    ms = sorted(s * 1000 for s in seconds)
    if len(ms) == 1:
        return {"n": 1, "p50": ms[0], "p95": ms[0], "p99": ms[0], "max": ms[0], "mean": ms[0]}
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return {
        "n": len(ms),
        "p50": q[49],
        "p95": q[94],
        "p99": q[98],
        "max": ms[-1],
        "mean": statistics.fmean(ms),
    }


def latency_line(seconds: Sequence[float]) -> str:
    """`p50 … ms, p99 … ms, max … ms` of latencies in seconds, for a tool's printed line."""
    ms = latency_summary(seconds)
    return f"p50 {ms['p50']:6.1f} ms, p99 {ms['p99']:6.1f} ms, max {ms['max']:6.1f} ms"


async def print_alternated(
    ways: Mapping[str, Callable[[T], Awaitable[None]]], inputs: Sequence[T], rounds: int = 2
) -> None:
    """Time each way over every input, the ways in turn for `rounds` (the machine's load
    drifts), and print a `latency_line` per way and round."""
    width = max(len(label) for label in ways)
    for _ in range(rounds):
        for label, way in ways.items():
            latencies = []
            for given in inputs:
                started = time.perf_counter()
                await way(given)
                latencies.append(time.perf_counter() - started)
            print(f"{label:{width}s}: {latency_line(latencies)}")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a live process (None if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # After the command name: state is field 3, utime 14 and stime 15 (1-based, man proc).
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass(frozen=True)
class ChildRun:
    """A finished child process: its exit code, output, CPU seconds and peak resident set."""

    returncode: int
    stdout: str
    stderr: str
    cpu_seconds: float
    peak_rss_mb: float


# A child's ru_maxrss starts from the memory of the process it was forked from (Linux keeps
# the high-water mark across exec), so a command forked straight from the bench would show
# at least the bench's own size. This bare launcher (about 10 MB) spawns the command, waits
# for it and prints the command's own usage: the kernel's high-water mark, not a sample.
_USAGE_MARK = "muster-bench-usage"
_LAUNCHER = f"""
import os, sys
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ)
_, status, usage = os.wait4(pid, 0)
sys.stderr.write(f"\\n{_USAGE_MARK} {{usage.ru_maxrss}} {{usage.ru_utime + usage.ru_stime}}\\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def parse_child_usage(stderr: str) -> tuple[str, float, float]:
    """The launcher's last line split off `stderr`: the command's own stderr, its peak
    resident set in MB (ru_maxrss is in KiB on Linux) and its CPU seconds."""
    head, found, tail = stderr.rpartition(f"\n{_USAGE_MARK} ")
    if not found:
        raise ValueError(f"no usage line in: {stderr[-300:]!r}")
    maxrss_kib, cpu = tail.split()
    return head, int(maxrss_kib) / 1024, float(cpu)


def _run_child(argv: Sequence[str], env: Mapping[str, str]) -> ChildRun:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        completed = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _LAUNCHER, *argv],
            env=dict(env),
            stdout=out,
            stderr=err,
            check=False,
        )
        out.seek(0)
        err.seek(0)
        stderr, peak_mb, cpu = parse_child_usage(err.read().decode(errors="replace"))
        stdout = out.read().decode(errors="replace")
        return ChildRun(completed.returncode, stdout, stderr, cpu, peak_mb)


async def run_child(argv: Sequence[str], env: Mapping[str, str]) -> ChildRun:
    """Run a command (`argv[0]` a path) to its end, in a thread so the event loop keeps
    running, and measure it alone: CPU seconds and peak resident memory."""
    return await asyncio.to_thread(_run_child, argv, env)


class ProcessCpu:
    """CPU seconds used by named processes between `start` and `stop` (from /proc)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._before: dict[str, float] = {}

    def start(self) -> None:
        self._before = {n: cpu_seconds(p) or 0.0 for n, p in self.pids.items()}

    def stop(self) -> dict[str, float]:
        used: dict[str, float] = {}
        for name, pid in self.pids.items():
            now = cpu_seconds(pid)
            if now is not None:
                used[name] = now - self._before.get(name, 0.0)
        return used


def find_pids(patterns: dict[str, str]) -> dict[str, int]:
    """The first live process whose command line contains each pattern (by name)."""
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        for name, pattern in patterns.items():
            if name not in found and pattern in command:
                found[name] = int(entry.name)
    return found


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports: every socket stays bound until all are chosen, so the
    kernel cannot hand one port out twice (it does, about once in a thousand triples, when
    each is released before the next is asked for)."""
    with contextlib.ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]


def free_port() -> int:
    return free_ports(1)[0]


async def wait_until_ready(client: httpx.AsyncClient, timeout: float = 60.0) -> None:
    """Poll `/readyz` until the service reports its store and broker ready."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            response = await client.get("/readyz")
            if response.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{client.base_url} not ready after {timeout:.0f} s")
        await asyncio.sleep(0.2)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = "unknown"
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            memory = f"{int(line.split()[1]) // 1024} MiB"
    java = subprocess.run(
        ["java", "-version"], capture_output=True, text=True, check=False
    ).stderr.splitlines()
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "java": java[0] if java else "unknown",
    }


async def scrape_metrics(client: httpx.AsyncClient) -> dict[str, float]:
    """A service's `/metrics`, flattened: `name{label="v",…}` → value."""
    from prometheus_client.parser import text_string_to_metric_families

    response = await client.get("/metrics")
    response.raise_for_status()
    flat: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            flat[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return flat


def pipeline_figures(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """What a service's consumer and relay did between two scrapes: batches, events per
    batch, seconds per batch and per projection, relay rounds and their time."""

    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    figures: dict[str, float] = {}
    batches = delta("muster_projection_batch_seconds_count")
    if batches:
        events = sum(
            after[k] - before.get(k, 0.0)
            for k in after
            if k.startswith("muster_events_consumed_total")
        )
        figures |= {
            "batches": batches,
            "events_per_batch": events / batches,
            "ms_per_batch": delta("muster_projection_batch_seconds_sum") / batches * 1000,
        }
        for key in after:
            if key.startswith("muster_projection_apply_seconds_sum{"):
                name = key.split('projection="', 1)[1].split('"', 1)[0]
                figures[f"ms_per_batch.{name}"] = delta(key) / batches * 1000
    rounds = delta("muster_relay_publish_seconds_count")
    if rounds:
        figures |= {
            "relay_rounds": rounds,
            "relay_events_per_round": delta("muster_relay_published_total") / rounds,
            "relay_ms_per_round": delta("muster_relay_publish_seconds_sum") / rounds * 1000,
        }
    return figures
