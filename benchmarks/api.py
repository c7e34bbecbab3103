"""What the REST API adds to a call: ``POST /api/v1/events`` against calling
``push_event_once`` directly, and ``GET /api/v1/scheduling/status`` against
``queue_status`` directly, in one sitting, on a live uvicorn on 127.0.0.1 with tokens,
rate limits and the audit log on.

    python benchmarks/api.py --requests 200

Prints the medians and p95s in milliseconds and the ratio API / direct.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import free_port  # the benchmarks dir is not a package


def _summary(name: str, samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="api_bench_"))
    home = scratch / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    token = "bench-0123456789abcdefghij"
    os.environ.update(
        DAGSTER_HOME=str(home),
        ROBO_DUCKDB_PATH=str(scratch / "robo.duckdb"),
        ROBO_AS_OF="2026-11-25",
        ROBO_API_TOKENS=f"bench:{token}:read,submit,events",
        ROBO_API_RATE_LIMIT="100000/minute",
    )
    import uvicorn
    from dagster import DagsterInstance

    from robo_dagster.api.app import ApiConfig, create_app
    from robo_dagster.api.rate_limits import RateLimits
    from robo_dagster.api.tokens import TokenTable, load_tokens
    from robo_dagster.market_data.inbox import push_event_once
    from robo_dagster.tasks.status import queue_status

    database = os.environ["ROBO_DUCKDB_PATH"]
    app = create_app(ApiConfig(database, TokenTable(load_tokens()), RateLimits.from_environment()))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}/api/v1"
    headers = {"Authorization": f"Bearer {token}"}
    event = {"type": "news", "symbol": "AAPL", "impact": 0.2, "headline": "bench"}
    results: dict[str, list[float]] = {
        k: [] for k in ("api_event", "direct_event", "api_queue", "direct_queue")
    }
    with httpx.Client(headers=headers, timeout=30) as client, DagsterInstance.get() as instance:
        client.post(f"{url}/events", json=event).raise_for_status()  # warm: tables, imports
        client.get(f"{url}/scheduling/status").raise_for_status()
        for _ in range(args.requests):  # alternated, so that both see the same machine
            start = time.perf_counter()
            client.post(f"{url}/events", json=event).raise_for_status()
            results["api_event"].append(time.perf_counter() - start)
            start = time.perf_counter()
            push_event_once(event, "bench", database)
            results["direct_event"].append(time.perf_counter() - start)
            start = time.perf_counter()
            client.get(f"{url}/scheduling/status").raise_for_status()
            results["api_queue"].append(time.perf_counter() - start)
            start = time.perf_counter()
            queue_status(instance)
            results["direct_queue"].append(time.perf_counter() - start)
    server.should_exit = True
    thread.join(timeout=10)
    summary = {name: _summary(name, samples) for name, samples in results.items()}
    for name, figures in summary.items():
        print(f"{name:<13} median {figures['median_ms']:7.2f} ms   p95 {figures['p95_ms']:7.2f} ms")
    for kind in ("event", "queue"):
        ratio = summary[f"api_{kind}"]["median_ms"] / summary[f"direct_{kind}"]["median_ms"]
        print(f"{kind}: API / direct = {ratio:.2f}x")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
