"""What the benchmarks that run a real ``dagster dev`` share: a scratch instance, the
``dagster dev`` process group, readiness, GraphQL, and the ending (the JSON summary as
the very last line, and the exit status).

Exit status of every benchmark run through ``run_benchmark``: 0 when it measured and
everything it ran succeeded, 1 when a run failed or timed out, 2 when the setup or
``dagster dev`` could not start (nothing was measured), 130 when interrupted. The
scratch directory is removed on success unless ``keep``, and kept (and named) otherwise.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from dagster import DagsterRunStatus

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent

AS_OF = "2026-11-25"  # as tests/conftest.py and tests/integration/test_dagster_dev.py
LOCATION = "robo_dagster"
FINISHED = (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)


class BenchmarkError(Exception):
    """Setup or ``dagster dev`` failed: nothing was measured."""


@dataclass(frozen=True)
class Scratch:
    """A temporary directory with a DAGSTER_HOME (the given ``dagster.yaml``) and a
    DuckDB path, and the environment that points the children at them."""

    tmp: Path
    home: Path
    database: str
    env: dict[str, str]


def scratch_instance(prefix: str, dagster_yaml: Path) -> Scratch:
    """A fresh scratch instance. This process gets the same settings as the children,
    since it reads the instance and writes into the warehouse too."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    home = tmp / "home"
    home.mkdir()
    shutil.copy(dagster_yaml, home / "dagster.yaml")
    database = str(tmp / "robo.duckdb")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "ROBO_DUCKDB_PATH": database,
        "ROBO_AS_OF": AS_OF,
    }
    os.environ.update({k: env[k] for k in ("DAGSTER_HOME", "ROBO_DUCKDB_PATH", "ROBO_AS_OF")})
    print(f"working directory: {tmp}", flush=True)
    return Scratch(tmp, home, database, env)


def run_benchmark(
    measure: Callable[[Scratch], tuple[dict[str, Any], bool]],
    *,
    prefix: str,
    dagster_yaml: Path,
    keep: bool,
) -> int:
    """Run ``measure`` on a scratch instance; it returns (summary, everything succeeded).
    The summary is printed as JSON, the very last line; the exit status is as above. A
    SIGTERM unwinds like Ctrl-C, so that ``dagster dev`` is stopped too."""

    def on_sigterm(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    scratch = scratch_instance(prefix, dagster_yaml)
    ok = False
    try:
        summary, ok = measure(scratch)
        if not ok or keep:
            print(f"kept {scratch.tmp}", file=sys.stderr, flush=True)
        print(json.dumps(summary), flush=True)  # the very last line
        return 0 if ok else 1
    except BenchmarkError as exc:
        print(f"benchmark: {exc}\nkept {scratch.tmp}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"benchmark: interrupted\nkept {scratch.tmp}", file=sys.stderr)
        return 130
    finally:
        if ok and not keep:
            shutil.rmtree(scratch.tmp, ignore_errors=True)


# --------------------------------------------------------------------------- dagster dev


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def graphql(port: int, query: str) -> dict[str, Any]:
    response = httpx.post(
        f"http://127.0.0.1:{port}/graphql", json={"query": query}, timeout=60
    ).json()
    if response.get("errors"):
        raise BenchmarkError(f"GraphQL error: {response['errors']}")
    return dict(response["data"])


def tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


@contextlib.contextmanager
def dagster_dev(
    env: dict[str, str], port: int, log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """``dagster dev`` in its own process group, stopped by one SIGTERM to the group."""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                str(BIN / "dagster"),
                "dev",
                "-w",
                str(ROOT / "workspace.yaml"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            stop_group(proc)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to webserver, daemon, code server and any run worker; SIGKILL after 60 s."""
    pgid = proc.pid  # start_new_session: the leader's pid is the group id
    began = time.monotonic()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = began + 60
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if group_alive(pgid):
        left = subprocess.run(
            ["ps", "-o", "pid,ppid,stat,etimes,args", "--sid", str(pgid)],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        print(
            f"dagster dev: group still alive after 60 s, sending SIGKILL to:\n{left}",
            file=sys.stderr,
        )
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        proc.wait()
    print(
        f"dagster dev: stopped (exit {proc.returncode}) in {time.monotonic() - began:.1f} s",
        file=sys.stderr,
    )


def wait_until_ready(
    proc: subprocess.Popen[bytes],
    port: int,
    log_path: Path,
    timeout_s: float,
    retries: int,
    sensor_name: str | None = None,
) -> None:
    """The webserver answers, the code location is loaded (a load error is retried
    ``retries`` times, a minute apart: others may be mid-edit), and ``sensor_name``, if
    given, has ticked."""
    deadline = time.monotonic() + timeout_s

    def check_alive() -> None:
        if proc.poll() is not None:
            raise BenchmarkError(f"dagster dev exited ({proc.returncode}):\n{tail(log_path)}")
        if time.monotonic() > deadline:
            raise BenchmarkError(f"dagster dev not ready within {timeout_s:.0f} s")

    while True:
        check_alive()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(1)

    attempts = 0
    while True:
        check_alive()
        data = graphql(
            port,
            "{ workspaceOrError { __typename ... on Workspace { locationEntries { name "
            "loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }",
        )
        entries = {e["name"]: e for e in data["workspaceOrError"].get("locationEntries", [])}
        entry = entries.get(LOCATION)
        if entry and entry["loadStatus"] == "LOADED":
            error = entry["locationOrLoadError"]
            if error and error["__typename"] == "PythonError":
                attempts += 1
                if attempts > retries:
                    raise BenchmarkError(f"code location failed to load: {error['message']}")
                print(
                    f"code location failed to load ({error['message'].strip()[:300]}); "
                    f"retrying in 60 s ({attempts}/{retries})",
                    file=sys.stderr,
                )
                time.sleep(60)
                graphql(
                    port,
                    f'mutation {{ reloadRepositoryLocation(repositoryLocationName: "{LOCATION}") '
                    "{ __typename } }",
                )
                continue
            break
        time.sleep(1)

    if sensor_name is None:
        return
    query = (
        "{ sensorOrError(sensorSelector: {repositoryLocationName: "
        f'"{LOCATION}", repositoryName: "__repository__", sensorName: "{sensor_name}"}}) '
        "{ __typename ... on Sensor { sensorState { status ticks(limit: 1) { timestamp status } } }"
        " ... on PythonError { message } } }"
    )
    while True:
        check_alive()
        sensor = graphql(port, query)["sensorOrError"]
        if sensor["__typename"] != "Sensor":
            raise BenchmarkError(f"{sensor_name}: {sensor}")
        if sensor["sensorState"]["status"] != "RUNNING":
            raise BenchmarkError(f"{sensor_name} is {sensor['sensorState']['status']}, not RUNNING")
        if sensor["sensorState"]["ticks"]:
            return
        time.sleep(1)


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    points = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    best = current = 0
    for _, step in points:
        current += step
        best = max(best, current)
    return best
