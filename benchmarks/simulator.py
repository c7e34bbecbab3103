"""How long the simulator takes to make daily bars, alone.

    python benchmarks/simulator.py [--symbols 500 5000] [--days 504] [--repeat 3]

``MarketSimulator(7).daily_bars`` for the universe the pipeline uses (the seed's symbols,
SPY, the default watchlist, then generated ones up to ``--symbols``) on the last
``--days`` sessions up to 2026-11-25, timed ``--repeat`` times in one process. The last
line is one JSON object with the medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from robo_dagster.domain import calendar
from robo_dagster.domain.market_sim import DEFAULT_WATCHLIST, MarketSimulator, build_universe

AS_OF = "2026-11-25"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, nargs="+", default=[500, 5000])
    parser.add_argument("--days", type=int, default=504)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    sessions = calendar.sessions_between("2015-01-02", AS_OF)[-args.days :]
    results = {}
    for n in args.symbols:
        symbols = build_universe(list(DEFAULT_WATCHLIST), size=n)["symbol"].tolist()
        seconds = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            MarketSimulator(7).daily_bars(symbols, sessions)
            seconds.append(time.perf_counter() - started)
        results[str(len(symbols))] = round(statistics.median(seconds), 3)
        print(
            f"{len(symbols):>6} symbols x {len(sessions)} sessions: {results[str(len(symbols))]} s"
        )
    print(json.dumps({"days": len(sessions), "repeat": args.repeat, "median_s": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
