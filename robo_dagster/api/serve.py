"""``robo-dagster serve``: the REST API under uvicorn, refusing an unsafe start.

It refuses, with one line and exit status 2:

- a token configuration it cannot use (``api.tokens``) or a bad ``ROBO_API_RATE_LIMIT``;
- an address other than loopback when no token is configured (an open API may only be
  reachable from this machine);
- a second service on the same DuckDB file (the audit spool has one writer).
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import sys

from robo_dagster import settings
from robo_dagster.api.rate_limits import RateLimitConfigError, RateLimits
from robo_dagster.api.tokens import TokenConfigError, TokenTable, load_tokens
from robo_dagster.warehouse.target import side_file

DEFAULT_PORT = 8001


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _hold_service_lock(database: str) -> int | None:
    """An exclusive lock on ``<db>.api.lock`` for the process's life; None if taken."""
    path = side_file(database, ".api.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def serve(host: str, port: int, dagster_host: str, dagster_port: int) -> int:
    """Run the API until interrupted; the exit status."""
    try:
        tokens = TokenTable(load_tokens())
        limits = RateLimits.from_environment()
    except (TokenConfigError, RateLimitConfigError) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    if not tokens and not is_loopback(host):
        print(
            f"refused: no API token is configured, so the API binds to loopback only, not "
            f"{host}; set ROBO_API_TOKENS (name:token:scope,...) to serve other addresses, "
            "behind a TLS proxy",
            file=sys.stderr,
        )
        return 2
    database = settings.duckdb_path()
    lock = _hold_service_lock(database)
    if lock is None:
        holder = side_file(database, ".api.lock").read_text().strip() or "?"
        print(
            f"refused: another robo-dagster serve (PID {holder}) already serves {database}",
            file=sys.stderr,
        )
        return 2
    import uvicorn

    from robo_dagster.api.app import ApiConfig, create_app

    app = create_app(
        ApiConfig(
            database=database,
            tokens=tokens,
            rate_limits=limits,
            dagster_host=dagster_host,
            dagster_port=dagster_port,
        )
    )
    access = f"{len(tokens.tokens)} token(s)" if tokens else "open to local callers (no tokens)"
    print(
        f"robo-dagster API on http://{host}:{port} (docs at /docs): {access}; "
        f"rate limits {limits.describe()}; Dagster webserver http://{dagster_host}:{dagster_port}",
        flush=True,
    )
    try:
        uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=True)
    finally:
        os.close(lock)
    return 0
