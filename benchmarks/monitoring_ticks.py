"""Evaluation time of the monitoring sensors' ticks: ``alerts_sensor`` and ``metrics_sensor``.

    python benchmarks/monitoring_ticks.py [--runs 200] [--repeats 20] [--new-runs 5]
                                          [--queued 10] [--host-thresholds] [--profile]
                                          [--keep]

What it does, in a temporary directory (removed at the end unless --keep, or on failure):

1. setup (timed apart, not measured): a SQLite-backed ``DagsterInstance.local_temp`` with
   telemetry disabled (as ``tests/monitoring/conftest.py``), and ROBO_DUCKDB_PATH pointing
   at a fresh DuckDB file. ``--runs`` finished runs are executed in-process on it, rotating
   a cycle of ten: a named job (``flaky_job``) failing, once at ``dagster/priority`` 10, or
   succeeding; ``materialize()`` of an asset with a WARN and an ERROR check, either
   passing or failing (run tags choose); and ``materialize()`` of an asset that raises (an
   anonymous run failure). Then ``--queued`` runs are created QUEUED, as the queued run
   coordinator leaves them. The webhook and ROBO_THRESHOLD_* variables are unset, then
   the desk's CPU and memory thresholds are pinned out of reach (100.5 / 101 %, as the
   monitoring tests pin them) unless --host-thresholds: the ticks here follow each other
   with no pause, so ``cpu_pct`` (the desk's CPU since the previous tick, not over the
   deployed 60 s) measures this very loop, and would raise and resolve an alert from one
   tick to the next. Host-wide alerts are off (ROBO_HOST_ALERTS unset), as by default.
   The first ``metrics_sensor`` tick, with no stored CPU reading, measures CPU over 1 s
   of its own (``FIRST_SAMPLE_S``), which its time includes;
2. times each tick as the tests make it: ``build_sensor_context(instance=..., cursor=...,
   resources=...)`` then ``sensor.evaluate_tick(context)``, with ``metrics_sensor``'s
   ``market`` and ``broker`` built per tick as ``tests/monitoring/metrics_support.py``
   does (a simulated market pinned to 2026-11-25 and the sample paper portfolio). Before
   each ``metrics_sensor`` tick, untimed, every daemon the instance needs gets a fresh
   heartbeat, as a running daemon keeps them, so the health items are those of a live
   deployment. After each tick, untimed, the materializations it returns (the monitoring
   dashboard assets) are stored with ``report_runless_asset_event``, as the sensor daemon
   does, since the next tick compares against them. Three cases, each sensor carrying its
   own cursor forward:

   backlog  the first ticks, from no cursor, until the cursor stops moving: they read the
            whole history (``alerts_sensor``: every check evaluation and run end, at most
            1,000 a tick; ``metrics_sensor``: the runs that ended in the last hour, which
            here is all of them). With the default --runs it is one tick each;
   steady   ``--repeats`` ticks with nothing new;
   new run  one tick of each sensor after each of ``--new-runs`` further runs (the
            cycle continues);

3. prints, per sensor and case, n, median, p95 and max in ms, and how many dashboard
   materializations those ticks returned (``reports``); with ``--profile`` also the top
   robo-dagster, storage and DuckDB functions (by cumulative time) of one more steady tick
   of each sensor, made after everything else.

Everything runs in this one process, in one sitting, so the first tick also pays any
first-use cost in the process (imports done lazily, the exchange calendar). The last line
is one JSON object with the figures. Exit status 0, or 1 if a run did not end as intended
or a tick raised.
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    Config,
    DagsterInstance,
    DagsterRunStatus,
    Definitions,
    RunsFilter,
    SensorDefinition,
    asset,
    asset_check,
    build_sensor_context,
    define_asset_job,
    job,
    materialize,
    op,
)
from dagster._core.remote_origin import (
    InProcessCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._daemon.types import DaemonHeartbeat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from robo_dagster import settings  # noqa: E402
from robo_dagster.monitoring.metrics import metrics_sensor  # noqa: E402
from robo_dagster.monitoring.sensor import alerts_sensor  # noqa: E402
from robo_dagster.providers import PaperBroker, SimulatedMarketData  # noqa: E402

AS_OF = "2026-11-25"  # as tests/monitoring/metrics_support.py
NO_TELEMETRY: Any = {"telemetry": {"enabled": False}}
CASES = ("backlog", "steady", "new run")
SENSORS: dict[str, SensorDefinition] = {
    "alerts_sensor": alerts_sensor,
    "metrics_sensor": metrics_sensor,
}
OUTCOME_TAG = "bench/failing_checks"  # which checks fail: "", "sane", "fresh" or "sane,fresh"


# --------------------------------------------------------------------------- the history


@asset(key=["bench", "prices"])
def prices() -> None:
    return None


def _failing(context: AssetCheckExecutionContext, name: str) -> bool:
    return name in context.run.tags.get(OUTCOME_TAG, "").split(",")


@asset_check(asset=prices, name="prices_sane")
def prices_sane(context: AssetCheckExecutionContext) -> AssetCheckResult:
    failed = _failing(context, "sane")
    return AssetCheckResult(
        passed=not failed,
        severity=AssetCheckSeverity.WARN,
        description="3 bars with low > high" if failed else "all bars sane",
    )


@asset_check(asset=prices, name="prices_fresh")
def prices_fresh(context: AssetCheckExecutionContext) -> AssetCheckResult:
    failed = _failing(context, "fresh")
    return AssetCheckResult(
        passed=not failed,
        severity=AssetCheckSeverity.ERROR,
        description="last bar is 3 sessions old" if failed else "last bar is today's",
    )


class FlakyConfig(Config):
    fail: bool = False


@asset(key=["bench", "flaky"])
def flaky(config: FlakyConfig) -> None:
    if config.fail:
        raise ValueError("vendor returned no rows for 2026-11-25\n(second line is not shown)")


@asset(key=["bench", "broken"])
def broken(context: AssetExecutionContext) -> None:
    raise RuntimeError("the broker refused the session token\ntraceback detail")


FLAKY_JOB = Definitions(
    assets=[flaky], jobs=[define_asset_job("flaky_job", selection=[flaky.key])]
).resolve_job_def("flaky_job")


# The runs' console logs (their failures included) would drown the table: the outcome of
# each run is checked instead.
QUIET: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def run_flaky(instance: DagsterInstance, fail: bool, **tags: str) -> bool:
    result = FLAKY_JOB.execute_in_process(
        instance=instance,
        run_config={"ops": {"bench__flaky": {"config": {"fail": fail}}}, **QUIET},
        tags=tags,
        raise_on_error=False,
    )
    return result.success is (not fail)


def run_prices(instance: DagsterInstance, failing: str) -> bool:
    result = materialize(
        [prices, prices_sane, prices_fresh],
        instance=instance,
        tags={OUTCOME_TAG: failing},
        run_config=QUIET,
        raise_on_error=False,
    )
    return result.success  # WARN and ERROR checks that are not blocking fail no run


def run_broken(instance: DagsterInstance) -> bool:
    return not materialize(
        [broken], instance=instance, run_config=QUIET, raise_on_error=False
    ).success


CYCLE: list[tuple[str, Callable[[DagsterInstance], bool]]] = [
    ("flaky_job fails", lambda i: run_flaky(i, fail=True)),
    ("flaky_job succeeds", lambda i: run_flaky(i, fail=False)),
    ("WARN check fails", lambda i: run_prices(i, "sane")),
    ("checks pass", lambda i: run_prices(i, "")),
    ("ERROR check fails", lambda i: run_prices(i, "fresh")),
    ("flaky_job succeeds", lambda i: run_flaky(i, fail=False)),
    ("anonymous run fails", run_broken),
    ("checks pass", lambda i: run_prices(i, "")),
    ("flaky_job fails at priority 10", lambda i: run_flaky(i, True, **{"dagster/priority": "10"})),
    ("both checks fail", lambda i: run_prices(i, "sane,fresh")),
]


@op
def noop() -> None:
    pass


@job
def waiting_job() -> None:
    noop()


# A queued run must say where the daemon would load its job from; it is never launched.
ORIGIN = RemoteJobOrigin(
    RemoteRepositoryOrigin(
        InProcessCodeLocationOrigin(LoadableTargetOrigin(python_file=__file__)),
        "__repository__",
    ),
    "waiting_job",
)


def queue_runs(instance: DagsterInstance, count: int) -> None:
    for _ in range(count):
        instance.create_run_for_job(
            waiting_job, status=DagsterRunStatus.QUEUED, remote_job_origin=ORIGIN
        )


def beat(instance: DagsterInstance) -> None:
    """A fresh heartbeat for every daemon the instance needs, as a running daemon writes."""
    for daemon_type in instance.get_required_daemon_types():
        instance.add_daemon_heartbeat(
            DaemonHeartbeat(time.time(), daemon_type, "benchmark-daemon", errors=[])
        )


# --------------------------------------------------------------------------- measuring


def providers() -> dict[str, object]:
    market = SimulatedMarketData(as_of=AS_OF)
    return {
        "market": market,
        "broker": PaperBroker(portfolio_file=settings.portfolio_file(), market=market),
    }


@dataclass
class Sensor:
    name: str
    definition: SensorDefinition
    cursor: str | None = None
    times: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in CASES})
    reports: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CASES, 0))
    last_summary: str = ""

    def tick(
        self, instance: DagsterInstance, profile: cProfile.Profile | None = None
    ) -> tuple[float, int]:
        """One timed tick; the cursor moves on. Returns its seconds and how many asset
        materializations it reported."""
        if self.name == "metrics_sensor":
            beat(instance)  # untimed: a live daemon keeps these fresh
        began = time.perf_counter()
        if profile is not None:
            profile.enable()
        resources = providers() if self.name == "metrics_sensor" else None
        with build_sensor_context(
            instance=instance, cursor=self.cursor, resources=resources
        ) as context:
            result = self.definition.evaluate_tick(context)
        if profile is not None:
            profile.disable()
        elapsed = time.perf_counter() - began
        # Untimed, as the sensor daemon does after a tick: store the reported materializations
        # (the monitoring dashboard assets), which the next tick compares against.
        for event in result.asset_events:
            instance.report_runless_asset_event(event)
        self.cursor = result.cursor
        self.last_summary = str(result.skip_message)
        return elapsed, len(result.asset_events)

    def record(self, case: str, measured: tuple[float, int]) -> None:
        self.times[case].append(measured[0])
        self.reports[case] += measured[1]


def stats(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "median_ms": None, "p95_ms": None, "max_ms": None}
    ms = np.asarray(values) * 1000
    return {
        "n": len(values),
        "median_ms": round(float(np.median(ms)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "max_ms": round(float(ms.max()), 1),
    }


def profile_tick(sensor: Sensor, instance: DagsterInstance, lines: int = 25) -> str:
    profile = cProfile.Profile()
    elapsed, _ = sensor.tick(instance, profile)
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out).sort_stats("cumulative")
    stats.print_stats(r"robo_dagster/|_core/storage/|_core/instance/|duckdb", lines)
    text = out.getvalue().replace(str(Path(np.__file__).parents[1]) + "/", "")  # site-packages
    text = text.replace(str(ROOT) + "/", "")
    return f"{sensor.name}: one steady tick, {elapsed * 1000:.0f} ms under cProfile\n{text}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="finished runs (default 200)")
    parser.add_argument(
        "--repeats", type=int, default=20, help="steady ticks per sensor (default 20)"
    )
    parser.add_argument(
        "--new-runs", type=int, default=5, help="new runs, a tick after each (default 5)"
    )
    parser.add_argument("--queued", type=int, default=10, help="queued runs (default 10)")
    parser.add_argument(
        "--host-thresholds",
        action="store_true",
        help="keep the seed's CPU and memory thresholds (default: out of reach)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile one more steady tick of each sensor"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.repeats < 1 or args.new_runs < 0 or args.queued < 0:
        parser.error("--runs and --repeats must be at least 1, --new-runs and --queued 0 or more")

    for name in list(os.environ):
        if name.startswith(("ROBO_THRESHOLD_", "ROBO_ALERT_")) or name == "ROBO_HOST_ALERTS":
            del os.environ[name]
    if not args.host_thresholds:
        for name in ("CPU_PCT", "MEMORY_PCT"):
            os.environ[f"ROBO_THRESHOLD_{name}_WARNING"] = "100.5"
            os.environ[f"ROBO_THRESHOLD_{name}_CRITICAL"] = "101"
    tmp = Path(tempfile.mkdtemp(prefix="robo-monitoring-ticks-"))
    home = tmp / "dagster_home"
    home.mkdir()
    os.environ["ROBO_DUCKDB_PATH"] = str(tmp / "robo.duckdb")
    print(f"working directory: {tmp}; cores: {os.cpu_count()}", flush=True)

    ok = True
    sensors = [Sensor(name, definition) for name, definition in SENSORS.items()]
    profiles: list[str] = []
    try:
        with DagsterInstance.local_temp(str(home), overrides=NO_TELEMETRY) as instance:
            began = time.monotonic()
            for index in range(args.runs):
                label, run = CYCLE[index % len(CYCLE)]
                if not run(instance):
                    print(f"run {index} ({label}) did not end as intended", file=sys.stderr)
                    ok = False
                if (index + 1) % 50 == 0:
                    print(f"  {index + 1} runs, {time.monotonic() - began:.0f} s", flush=True)
            queue_runs(instance, args.queued)
            finished = instance.get_runs_count(
                RunsFilter(statuses=[DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE])
            )
            failed = instance.get_runs_count(RunsFilter(statuses=[DagsterRunStatus.FAILURE]))
            setup_s = time.monotonic() - began
            print(
                f"setup: {finished} finished runs ({failed} failed), {args.queued} queued, "
                f"in {setup_s:.0f} s",
                flush=True,
            )

            for sensor in sensors:
                for _ in range(1000):  # the backlog: until the cursor stops moving
                    before = sensor.cursor
                    measured = sensor.tick(instance)
                    # metrics_sensor's cursor is a time: it moves on every tick, and its
                    # first tick already covers the whole last hour.
                    if sensor.name == "metrics_sensor" or sensor.cursor != before:
                        sensor.record("backlog", measured)
                    else:  # nothing new: already the first steady tick
                        sensor.record("steady", measured)
                    print(
                        f"  {sensor.name} backlog tick: {measured[0] * 1000:.0f} ms: "
                        f"{sensor.last_summary}",
                        flush=True,
                    )
                    if sensor.name == "metrics_sensor" or sensor.cursor == before:
                        break

            for sensor in sensors:
                while len(sensor.times["steady"]) < args.repeats:
                    sensor.record("steady", sensor.tick(instance))

            for index in range(args.runs, args.runs + args.new_runs):
                label, run = CYCLE[index % len(CYCLE)]
                if not run(instance):
                    print(f"run {index} ({label}) did not end as intended", file=sys.stderr)
                    ok = False
                for sensor in sensors:
                    sensor.record("new run", sensor.tick(instance))
                print(
                    f"  after a new run ({label}): "
                    + ", ".join(
                        f"{s.name} {s.times['new run'][-1] * 1000:.0f} ms" for s in sensors
                    ),
                    flush=True,
                )

            if args.profile:
                profiles = [profile_tick(sensor, instance) for sensor in sensors]
    except BaseException:
        ok = False
        raise
    finally:
        if ok and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}", file=sys.stderr)

    figures = {
        s.name: {case: {**stats(s.times[case]), "reports": s.reports[case]} for case in CASES}
        for s in sensors
    }
    host = "seed's load thresholds" if args.host_thresholds else "load thresholds out of reach"
    print(f"\n{args.runs} finished runs, {args.queued} queued, {host}; {os.cpu_count()} cores")
    print(
        f"{'sensor':<16}{'case':<10}{'n':>4}{'median ms':>11}{'p95 ms':>9}{'max ms':>9}"
        f"{'reports':>9}"
    )
    for name, by_case in figures.items():
        for case, s in by_case.items():
            if s["n"]:
                print(
                    f"{name:<16}{case:<10}{s['n']:>4}{s['median_ms']:>11.1f}"
                    f"{s['p95_ms']:>9.1f}{s['max_ms']:>9.1f}{s['reports']:>9}"
                )
    for text in profiles:
        print("\n" + text)
    summary = {
        "runs": args.runs,
        "queued": args.queued,
        "host_thresholds": args.host_thresholds,
        "repeats": args.repeats,
        "new_runs": args.new_runs,
        "cores": os.cpu_count(),
        "setup_s": round(setup_s, 1),
        "ticks": figures,
    }
    print(json.dumps(summary), flush=True)  # the very last line
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
