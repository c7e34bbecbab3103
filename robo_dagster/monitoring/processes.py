"""The desk's own processes, and CPU use measured between two stored readings.

The desk is every process whose command line mentions dagster (``dagster dev``, the
webserver, the daemon, the code servers, each run's ``dagster api execute_run``) or
robo-dagster (``python -m robo_dagster.cli.quickstart``, the ``robo-dagster`` CLI). What else
runs on the host is not the desk's: it shows in ``host_cpu_pct`` and ``host_memory_pct``,
which alert only when ``ROBO_HOST_ALERTS`` is on.

CPU is a rate, so it needs two readings. ``read_desk`` takes one: the host's cumulative
busy and total CPU seconds, and each desk process's CPU seconds, its own plus those of
the children it has reaped. ``metrics_sensor`` stores the reading in its cursor, and the
next tick's figures cover exactly the interval since (``cpu_between``); there is no
priming call that reads 0. A run that starts and ends between two ticks still counts:
its seconds arrive in its parent's reaped-children total. Its seconds up to the earlier
reading were counted then, so a vanished process whose parent is still a desk process
has them taken off again.

No Dagster import: the CLI, the notebook and the tests read the same figures.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psutil

DESK_MARKERS = ("dagster", "robo_dagster", "robo-dagster")
# A process's create time is the boot time plus its start in clock ticks, and Linux gives
# the boot time to the whole second: a process started just after a reading can look up
# to a second older than it.
CREATE_TIME_SLACK_S = 2.0


@dataclass(frozen=True)
class ProcessCpu:
    """One desk process in a reading: CPU seconds (own and reaped children's), parent."""

    cpu_s: float
    ppid: int


@dataclass(frozen=True)
class CpuReading:
    """Cumulative CPU counters at one moment (``at``, Unix time).

    ``processes`` is keyed by ``"<pid>:<create time>"``, so a reused pid is a new process.
    """

    at: float
    host_busy_s: float
    host_total_s: float
    processes: Mapping[str, ProcessCpu] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "host_busy_s": self.host_busy_s,
            "host_total_s": self.host_total_s,
            "processes": {key: [p.cpu_s, p.ppid] for key, p in self.processes.items()},
        }

    @classmethod
    def from_json(cls, data: object) -> CpuReading | None:
        """The reading stored by ``to_json``; None for anything else (an older cursor)."""
        if not isinstance(data, dict):
            return None
        try:
            return cls(
                at=float(data["at"]),
                host_busy_s=float(data["host_busy_s"]),
                host_total_s=float(data["host_total_s"]),
                processes={
                    str(key): ProcessCpu(float(cpu_s), int(ppid))
                    for key, (cpu_s, ppid) in dict(data["processes"]).items()
                },
            )
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class DeskSample:
    """A reading, with the desk's resident memory and how many processes it has."""

    reading: CpuReading
    rss_bytes: float
    processes: int


def is_desk_process(cmdline: list[str]) -> bool:
    """Whether a command line is one of the desk's (see the module docstring)."""
    return any(marker in part for part in cmdline for marker in DESK_MARKERS)


def _host_counters() -> tuple[float, float]:
    times = psutil.cpu_times()
    total = sum(times)
    idle = times.idle + getattr(times, "iowait", 0.0)
    return total - idle, total


def read_desk(now: float | None = None) -> DeskSample:
    """One reading of the host's and the desk's CPU counters, and the desk's memory."""
    busy, total = _host_counters()
    processes: dict[str, ProcessCpu] = {}
    rss = 0.0
    for proc in psutil.process_iter(["cmdline", "memory_info", "cpu_times", "create_time"]):
        try:
            info = proc.info
            if not is_desk_process(info.get("cmdline") or []):
                continue
            cpu = info.get("cpu_times")
            if cpu is None:
                continue
            seconds = cpu.user + cpu.system + cpu.children_user + cpu.children_system
            processes[f"{proc.pid}:{info['create_time']:.2f}"] = ProcessCpu(seconds, proc.ppid())
            memory = info.get("memory_info")
            rss += memory.rss if memory is not None else 0
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    reading = CpuReading(time.time() if now is None else now, busy, total, processes)
    return DeskSample(reading, rss, len(processes))


def _created(key: str) -> float:
    return float(key.rsplit(":", 1)[1])


def _pid(key: str) -> int:
    return int(key.split(":", 1)[0])


def cpu_between(before: CpuReading, after: CpuReading, cpus: int) -> tuple[float, float]:
    """The host's and the desk's CPU use between two readings, each in % of the whole
    machine (all ``cpus`` cores busy is 100), clipped to 0–100.

    A desk process in both readings adds its increase; one created after ``before``
    adds all its seconds; one that vanished while its parent is still a desk process
    takes back what ``before`` had counted of it (the parent's reaped-children total now
    carries all of it). A process clearly older than ``before`` (by more than
    ``CREATE_TIME_SLACK_S``) that ``before`` did not see (its command line changed) adds
    nothing, as its share of the interval is unknown.
    """
    wall = after.at - before.at
    if wall <= 0 or cpus <= 0:
        raise ValueError(f"readings {before.at} and {after.at} are not in order")
    host_total = after.host_total_s - before.host_total_s
    host = 100.0 * (after.host_busy_s - before.host_busy_s) / host_total if host_total > 0 else 0.0
    desk_s = 0.0
    for key, now in after.processes.items():
        then = before.processes.get(key)
        if then is not None:
            desk_s += now.cpu_s - then.cpu_s
        elif _created(key) >= before.at - CREATE_TIME_SLACK_S:
            desk_s += now.cpu_s
    living = {_pid(key) for key in after.processes}
    for key, then in before.processes.items():
        if key not in after.processes and then.ppid in living:
            desk_s -= then.cpu_s
    desk = 100.0 * desk_s / (wall * cpus)
    return min(max(host, 0.0), 100.0), min(max(desk, 0.0), 100.0)
