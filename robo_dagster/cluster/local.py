"""A whole cluster on one machine, on 127.0.0.1, under a git-ignored ``.cluster/``.

    python -m robo_dagster.cluster.local up     # make cluster
    python -m robo_dagster.cluster.local down   # make cluster-stop
    python -m robo_dagster.cluster.local status # make cluster-status

``up`` starts, in this order: Postgres (``initdb`` in ``.cluster/postgres`` on first use;
databases ``dagster`` for the instance and ``robo_lake`` for the DuckLake catalog),
Redis, then ``dagster-webserver`` and ``dagster-daemon`` on the Postgres instance
(``DAGSTER_HOME=.cluster/home``, whose ``dagster.yaml`` is a link to
``deploy/dagster.cluster.yaml``), and two Celery workers (``dagster-celery worker
start``) serving the three seed queues and ``dagster``. Each of the four Dagster
processes runs in a process group of its own with its pid in ``.cluster/pids/``, so
``down`` stops each with everything it spawned (SIGTERM, ``grace`` seconds, SIGKILL),
then Redis and Postgres; nothing is left running.

Every process gets the same environment (``cluster_environment``): the caller's own,
with the instance's ``DAGSTER_PG_*``, the broker's ``ROBO_CELERY_*`` and ``PYTHONPATH``
set to the project root, so that the workers import this checkout's code and see the
same warehouse settings (``ROBO_DUCKDB_PATH``, or ``ROBO_WAREHOUSE`` and the lake's
variables): the warehouse is only environment passed through.

Worker concurrency (``ROBO_CELERY_CONCURRENCY``, default 2 per worker). A run's task
(``execute_job``) holds a worker slot for the whole run, and a ``parallel_pipeline``
run waits there on its steps' tasks, which need slots of their own. The run queue lets
at most three such runs (``data_fetcher``'s limit) run at once, so with two workers of
two slots at least one slot is always left for steps: no run waits on steps that
cannot start. A desk with more concurrent pipelines needs more slots than that limit.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from robo_dagster.cluster import distributed
from robo_dagster.cluster.services import MissingBinary, Postgres, Redis, missing_binaries

PROJECT_ROOT = Path(__file__).resolve().parents[2]
INSTANCE_FILE = PROJECT_ROOT / "deploy" / "dagster.cluster.yaml"
INSTANCE_DB = "dagster"
LAKE_CATALOG_DB = "robo_lake"
WORKERS = ("worker1", "worker2")
CELERY_APP = "robo_dagster.cluster.celery_app"
# Defaults clear of `make run` (3000, 8001, 8501) and of a system Postgres/Redis.
DEFAULT_PORTS = {"webserver": 3100, "postgres": 55432, "redis": 56379}
DEFAULT_CONCURRENCY = 2
DEFAULT_GRACE_S = 10.0
START_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class Layout:
    """Where a cluster lives and the ports it listens on."""

    root: Path
    webserver_port: int = DEFAULT_PORTS["webserver"]
    postgres_port: int = DEFAULT_PORTS["postgres"]
    redis_port: int = DEFAULT_PORTS["redis"]
    concurrency: int = DEFAULT_CONCURRENCY
    # The code locations the webserver and daemon load (default: the repo's).
    workspace: str = str(PROJECT_ROOT / "workspace.yaml")

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def worker_config(self) -> Path:
        return self.root / "celery.yaml"

    @property
    def postgres(self) -> Postgres:
        return Postgres(self.root / "postgres", self.postgres_port)

    @property
    def redis(self) -> Redis:
        return Redis(self.root / "redis", self.redis_port)

    @property
    def webserver_url(self) -> str:
        return f"http://127.0.0.1:{self.webserver_port}"

    def save(self) -> None:
        """Record the ports, so that ``down`` and ``status`` find what ``up`` started."""
        state = asdict(self) | {"root": str(self.root)}
        (self.root / "cluster.json").write_text(json.dumps(state, indent=2))

    @classmethod
    def load(cls, root: Path) -> Layout:
        """The layout ``up`` saved in ``root``, or the defaults if there is none."""
        try:
            state = json.loads((root / "cluster.json").read_text())
        except (OSError, ValueError):
            return cls(root)
        return cls(**(state | {"root": root}))


def cluster_environment(layout: Layout, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every process of the cluster: ``base`` (the caller's) with the
    instance, the broker and this checkout's code. A variable the caller set for the
    Postgres connection or the broker wins, so the same command serves a cluster whose
    services live elsewhere; the password is never given a value here."""
    env = dict(os.environ if base is None else base)
    pythonpath = [str(PROJECT_ROOT), *[p for p in env.get("PYTHONPATH", "").split(":") if p]]
    venv_bin = str(Path(sys.executable).parent)
    env |= {
        "DAGSTER_HOME": str(layout.home),
        "PYTHONPATH": ":".join(dict.fromkeys(pythonpath)),
        "PATH": f"{venv_bin}:{env.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",
    }
    defaults = {
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": str(layout.postgres_port),
        "DAGSTER_PG_DB": INSTANCE_DB,
        "DAGSTER_PG_USER": layout.postgres.user,
        # The local server trusts loopback connections; a real one takes it from the env.
        "DAGSTER_PG_PASSWORD": "",
        distributed.BROKER_VARIABLE: layout.redis.url(0),
        distributed.BACKEND_VARIABLE: layout.redis.url(1),
        # The results go to a DuckLake (catalog in the same Postgres, Parquet under the
        # cluster's folder): on a cluster the single file's flock is no lock at all
        # across machines. ROBO_WAREHOUSE=duckdb keeps the file, for one machine.
        "ROBO_WAREHOUSE": "ducklake",
        "ROBO_LAKE_CATALOG_DB": LAKE_CATALOG_DB,
        "ROBO_LAKE_DATA_PATH": str(layout.root / "lake"),
    }
    for key, value in defaults.items():
        if not env.get(key):
            env[key] = value
    return env


def _prepare_home(layout: Layout) -> None:
    layout.home.mkdir(parents=True, exist_ok=True)
    link = layout.home / "dagster.yaml"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(INSTANCE_FILE)


def _start(layout: Layout, name: str, command: Sequence[str], env: Mapping[str, str]) -> int:
    """Start ``command`` in its own process group, logging to ``logs/<name>.log``."""
    layout.pids.mkdir(parents=True, exist_ok=True)
    layout.logs.mkdir(parents=True, exist_ok=True)
    with open(layout.logs / f"{name}.log", "ab") as log:
        process = subprocess.Popen(
            list(command),
            cwd=str(layout.home),
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped with all it spawns
        )
    (layout.pids / f"{name}.pid").write_text(str(process.pid))
    return process.pid


def worker_command(layout: Layout, name: str) -> list[str]:
    """``dagster-celery worker start`` for worker ``name`` on every queue of the seed.

    The queues go as one comma-separated ``-q``: dagster-celery turns each ``-q`` into a
    ``-Q`` of ``celery worker``, and Celery 5 keeps only the last of several ``-Q``
    (it takes one comma-separated list), which would leave the worker on ``dagster``
    alone."""
    return [
        "dagster-celery", "worker", "start", "-n", name, "-y", str(layout.worker_config),
        "-A", CELERY_APP, "-q", ",".join(distributed.WORKER_QUEUES),
        "--", f"--concurrency={layout.concurrency}",
    ]  # fmt: skip


def wait_for_webserver(layout: Layout, timeout_s: float = START_TIMEOUT_S) -> None:
    """Wait until the webserver answers (it loads the code location first)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{layout.webserver_url}/server_info", timeout=2.0).is_success:
                return
        except httpx.HTTPError:
            pass
        _fail_if_exited(layout, "webserver")
        time.sleep(0.5)
    raise TimeoutError(f"the webserver did not answer on {layout.webserver_url}")


def wait_for_workers(
    layout: Layout, names: Sequence[str] = WORKERS, timeout_s: float = START_TIMEOUT_S
) -> list[str]:
    """Wait until every worker in ``names`` answers a Celery ping; their node names."""
    from celery import Celery

    app = Celery(broker=layout.redis.url(0))
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            try:
                replies = app.control.ping(timeout=1.0) or []
            except Exception:  # a broker that is (re)starting drops the connection
                replies = []
            nodes = sorted(node for reply in replies for node in reply)
            if all(any(node.startswith(f"{n}@") for node in nodes) for n in names):
                return nodes
            for name in names:
                _fail_if_exited(layout, name)
            time.sleep(0.5)
    finally:
        app.close()
    raise TimeoutError(
        f"the Celery workers {', '.join(names)} did not answer within {timeout_s:g} s"
    )


def _pid(layout: Layout, name: str) -> int | None:
    try:
        return int((layout.pids / f"{name}.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fail_if_exited(layout: Layout, name: str) -> None:
    pid = _pid(layout, name)
    if pid is not None and not _group_alive(pid):
        raise RuntimeError(f"the cluster's {name} exited; see {layout.logs / (name + '.log')}")


def start_workers(layout: Layout, env: Mapping[str, str], names: Sequence[str] = WORKERS) -> None:
    """Start the Celery workers ``names`` and wait until they answer."""
    for name in names:
        _start(layout, name, worker_command(layout, name), env)
    wait_for_workers(layout, names)


def stop_process(layout: Layout, name: str, grace_s: float = DEFAULT_GRACE_S) -> None:
    """Stop ``name``'s process group: SIGTERM, up to ``grace_s`` seconds, then SIGKILL."""
    pid = _pid(layout, name)
    if pid is None:
        return
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and _group_alive(pid):
            _reap(pid)
            time.sleep(0.1)
        if not _group_alive(pid):
            break
    (layout.pids / f"{name}.pid").unlink(missing_ok=True)


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is this process's child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def up(layout: Layout, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Start the whole cluster; return its environment. Refuses, with one line per
    program, when one is missing."""
    missing = missing_binaries()
    if missing:
        raise MissingBinary("; ".join(missing))
    layout.root.mkdir(parents=True, exist_ok=True)
    layout.save()
    environment = cluster_environment(layout, env)
    try:
        postgres = layout.postgres.start()
        postgres.create_database(INSTANCE_DB)
        postgres.create_database(LAKE_CATALOG_DB)
        layout.redis.start()
        _prepare_home(layout)
        distributed.write_worker_config(layout.worker_config, environment)
        # The instance's tables, created once before the processes race to create them.
        subprocess.run(
            [str(Path(sys.executable).parent / "dagster"), "instance", "migrate"],
            env=environment, cwd=str(layout.home), check=True, capture_output=True,
        )  # fmt: skip
        workspace = layout.workspace
        _start(layout, "webserver", ["dagster-webserver", "-h", "127.0.0.1", "-p",
               str(layout.webserver_port), "-w", workspace], environment)  # fmt: skip
        _start(layout, "daemon", ["dagster-daemon", "run", "-w", workspace], environment)
        for name in WORKERS:
            _start(layout, name, worker_command(layout, name), environment)
        wait_for_workers(layout)
        wait_for_webserver(layout)
    except BaseException:
        down(layout)
        raise
    return environment


PROCESSES = ("webserver", "daemon", *WORKERS)


def down(layout: Layout, grace_s: float = DEFAULT_GRACE_S) -> None:
    """Stop everything ``up`` started: the Dagster processes and workers (each with its
    whole process group), then Redis and Postgres. Safe to run twice."""
    names = sorted(p.stem for p in layout.pids.glob("*.pid")) if layout.pids.exists() else []
    for name in names:
        stop_process(layout, name, grace_s)
    layout.redis.stop()
    layout.postgres.stop()


def status(layout: Layout) -> dict[str, str]:
    """Each process and service: ``running`` or ``stopped``."""
    report = {}
    for name in PROCESSES:
        pid = _pid(layout, name)
        report[name] = f"running (pid {pid})" if pid and _group_alive(pid) else "stopped"
    report["postgres"] = (
        "running" if (layout.postgres.data_dir / "postmaster.pid").exists() else "stopped"
    )
    report["redis"] = "running" if layout.redis.pid_file.exists() else "stopped"
    return report


def _layout(args: argparse.Namespace) -> Layout:
    root = Path(args.root).resolve()
    if args.command != "up":
        return Layout.load(root)
    return Layout(
        root,
        args.port,
        args.postgres_port,
        args.redis_port,
        args.concurrency or DEFAULT_CONCURRENCY,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``up``, ``down`` or ``status`` of the local cluster, or ``env``: the exports that
    point a shell (the CLI, a notebook) at it."""
    parser = argparse.ArgumentParser(prog="python -m robo_dagster.cluster.local")
    parser.add_argument("command", choices=("up", "down", "status", "env"))
    parser.add_argument("--root", default=str(PROJECT_ROOT / ".cluster"))
    parser.add_argument("--port", type=int, default=DEFAULT_PORTS["webserver"])
    parser.add_argument("--postgres-port", type=int, default=DEFAULT_PORTS["postgres"])
    parser.add_argument("--redis-port", type=int, default=DEFAULT_PORTS["redis"])
    parser.add_argument(
        "--concurrency", type=int, default=int(os.environ.get("ROBO_CELERY_CONCURRENCY") or 0)
    )
    parser.add_argument("--grace", type=float, default=DEFAULT_GRACE_S)
    args = parser.parse_args(argv)
    layout = _layout(args)
    if args.command == "up":
        try:
            env = up(layout)
        except MissingBinary as exc:
            print(f"robo-dagster cluster: {exc}", file=sys.stderr)
            return 2
        print(
            f"robo-dagster cluster up under {layout.root}\n"
            f"  Dagster UI:  {layout.webserver_url}\n"
            f"  Postgres:    127.0.0.1:{layout.postgres_port} (instance db {INSTANCE_DB}, "
            f"lake catalog db {LAKE_CATALOG_DB})\n"
            f"  Redis:       {env[distributed.BROKER_VARIABLE]}\n"
            f"  workers:     {', '.join(WORKERS)} (queues {', '.join(distributed.WORKER_QUEUES)})\n"
            f"  logs:        {layout.logs}\n"
            "Stop it with `make cluster-stop`."
        )
    elif args.command == "down":
        down(layout, args.grace)
        print(f"robo-dagster cluster under {layout.root}: stopped")
    elif args.command == "env":
        print(shell_exports(cluster_environment(layout, {})))
    else:
        for name, state in status(layout).items():
            print(f"{name:10} {state}")
    return 0


# What a shell needs to reach the cluster; never the Postgres password (a real one comes
# from the user's own environment, and the local server needs none).
_SHELL_VARIABLES = (
    "DAGSTER_HOME", "DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_DB", "DAGSTER_PG_USER",
    distributed.BROKER_VARIABLE, distributed.BACKEND_VARIABLE,
    "ROBO_WAREHOUSE", "ROBO_LAKE_CATALOG_DB", "ROBO_LAKE_DATA_PATH",
)  # fmt: skip


def shell_exports(env: Mapping[str, str]) -> str:
    """``export NAME=value`` lines for ``eval``, quoted for the shell."""
    import shlex

    lines = [
        f"export {name}={shlex.quote(env[name])}" for name in _SHELL_VARIABLES if env.get(name)
    ]
    if env.get("DAGSTER_PG_PASSWORD") == "":
        # The instance file reads the variable: it must be set, and here it is empty.
        lines.append("export DAGSTER_PG_PASSWORD=")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
