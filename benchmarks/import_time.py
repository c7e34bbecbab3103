"""What loading the code location costs a run launch: ``import robo_dagster.definitions``
against ``import dagster``, each in fresh interpreters, alternated in one sitting.

    python benchmarks/import_time.py                 # 5 interpreters of each
    python benchmarks/import_time.py --repeat 9 --top 15

Every run Dagster launches starts a new interpreter that imports the definitions, so
this is paid once per run. The ratio is the figure to compare across machines: what
the definitions add on top of Dagster's own import. ``--top`` lists the modules that
the definitions import beyond Dagster, by their own (self) import time, from one
``python -X importtime`` of each.

The last line is JSON: the medians, the ratio and the slowest extra modules.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"dagster": "import dagster", "definitions": "import robo_dagster.definitions"}


def fresh_import_s(statement: str) -> float:
    """Wall seconds of a fresh interpreter that runs ``statement`` and exits."""
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], check=True, cwd=ROOT, env=_env())
    return time.perf_counter() - began


def self_times_ms(statement: str) -> Counter[str]:
    """Each module's own import time in ms, from ``python -X importtime``."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        check=True,
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
    )
    times: Counter[str] = Counter()
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _, name = (part.strip() for part in line.split(":", 1)[1].split("|"))
        times[name] += int(own) / 1000.0
    return times


def _env() -> dict[str, str]:
    # No bytecode writes, so every interpreter reads the same caches the first did.
    return {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="interpreters of each (5)")
    parser.add_argument("--top", type=int, default=10, help="extra modules to list (10)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    for statement in TARGETS.values():  # warm the OS file cache and the bytecode
        fresh_import_s(statement)
    samples: dict[str, list[float]] = {name: [] for name in TARGETS}
    for round_number in range(args.repeat):
        for name, statement in TARGETS.items():
            samples[name].append(fresh_import_s(statement))
        print(
            f"round {round_number + 1}/{args.repeat}: "
            + ", ".join(f"{name} {values[-1]:.2f} s" for name, values in samples.items()),
            file=sys.stderr,
        )
    medians = {name: statistics.median(values) for name, values in samples.items()}
    ratio = medians["definitions"] / medians["dagster"]
    extra = self_times_ms(TARGETS["definitions"])
    extra.subtract(self_times_ms(TARGETS["dagster"]))
    slowest = [(name, round(ms, 1)) for name, ms in extra.most_common(args.top) if ms > 0]
    for name, ms in slowest:
        print(f"  {ms:8.1f} ms  {name}", file=sys.stderr)
    print(
        f"import dagster {medians['dagster']:.2f} s, import robo_dagster.definitions "
        f"{medians['definitions']:.2f} s: {ratio:.2f}x (medians of {args.repeat})",
        file=sys.stderr,
    )
    print(
        json.dumps(
            {
                "repeat": args.repeat,
                "median_s": {name: round(value, 3) for name, value in medians.items()},
                "samples_s": {name: [round(v, 3) for v in vs] for name, vs in samples.items()},
                "ratio": round(ratio, 3),
                "slowest_extra_modules_ms": slowest,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
