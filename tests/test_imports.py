"""Loading the code location (every run launch does) leaves out what a run may not need."""

import json
import os
import subprocess
import sys
from pathlib import Path

# The LLM SDKs (about 1 s of imports between them) load only when an LLM analyst is
# asked; TA-Lib only when indicators are computed; scipy (0.6 s) only when the simulator
# or the option pricer runs; exchange_calendars only when a date question is asked that
# the cached trading days (partitions.partition_days) do not answer.
LAZY = (
    "anthropic",
    "openai",
    "talib",
    "scipy.signal",
    "scipy.special",
    "scipy.stats",
    "exchange_calendars",
)


def loaded_after_import(env: dict[str, str]) -> list[str]:
    code = (
        "import json, sys\n"
        "import robo_dagster.definitions\n"
        f"print(json.dumps([m for m in {LAZY!r} if m in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env=env,
    )
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def test_the_definitions_do_not_import_what_a_run_may_not_need(tmp_path: Path) -> None:
    env = {**os.environ, "ROBO_CACHE_DIR": str(tmp_path / "cache")}
    # The first load builds the trading-day cache, with the calendar; no other load does.
    assert set(loaded_after_import(env)) <= {"exchange_calendars"}
    assert (tmp_path / "cache" / "trading_days.json").exists()
    assert loaded_after_import(env) == []
