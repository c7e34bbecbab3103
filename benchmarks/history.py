"""Benchmark the book's history: the replay by session, the equity curve, the position
P&L and the risk of every session's book.

    python benchmarks/history.py --repeat 5

Two books, on deterministic random-walk closes:

- the sample: the shipped portfolio's shape, 10 symbols and 11 fills over 518 sessions;
- a busy desk: ``--symbols`` symbols (default 100) and ``--fills`` fills (default
  5,000) over ``--sessions`` sessions (default 1,260, five years).

Each stage is timed in the same rounds, median of ``--repeat`` after one warm-up: the
domain functions the three assets call (``replay_by_session``, ``equity_curve``,
``position_pnl``, ``risk_by_session``), and, as the baseline, one ``portfolio_risk``
call on the last session's book (what the ``portfolio_risk`` asset computes), and that
call once per session (once, not repeated: the reference ``risk_by_session`` replaces
with one matrix product). The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from robo_dagster.domain.history import (
    equity_curve,
    position_pnl,
    replay_by_session,
    risk_by_session,
)
from robo_dagster.domain.risk import portfolio_risk

BENCHMARK = "SPY"
WINDOW = 252


def make_book(
    n_symbols: int, n_fills: int, n_sessions: int, seed: int = 7
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DatetimeIndex, pd.Series]:
    """Closes over the sessions and a window before them, a long-only blotter (buys,
    and sells of at most what is held), and sectors."""
    rng = np.random.default_rng(seed)
    index = pd.bdate_range("2019-01-02", periods=n_sessions + WINDOW)
    symbols = [f"S{i:03d}" for i in range(n_symbols)]
    moves = rng.normal(0.0003, 0.015, (len(index), n_symbols + 1))
    closes = pd.DataFrame(
        50.0 * np.exp(np.cumsum(moves, axis=0)), index=index, columns=[*symbols, BENCHMARK]
    )
    sessions = index[WINDOW:]
    days = np.sort(rng.integers(0, n_sessions, n_fills))
    held = dict.fromkeys(symbols, 0.0)
    rows = []
    for day in days:
        symbol = symbols[int(rng.integers(0, n_symbols))]
        quantity = float(rng.integers(1, 200))
        side = "SELL" if held[symbol] >= quantity and rng.random() < 0.4 else "BUY"
        held[symbol] += quantity if side == "BUY" else -quantity
        price = float(closes.at[sessions[day], symbol])
        rows.append((sessions[day], symbol, side, quantity, price, 1.0))
    trades = pd.DataFrame(
        rows, columns=["date", "symbol", "side", "quantity", "price", "commission"]
    )
    sectors = pd.Series({s: f"Sector {i % 11}" for i, s in enumerate(symbols)})
    return trades, closes, sessions, sectors


def risk_loop(pnl: pd.DataFrame, curve: pd.DataFrame, closes: pd.DataFrame) -> list[Any]:
    """The reference ``risk_by_session`` replaces: ``portfolio_risk`` once per session."""
    held = dict(tuple(pnl.loc[pnl["quantity"].abs() > 1e-9].groupby("date")))
    return [
        portfolio_risk(held[d], closes.loc[:d].iloc[-(WINDOW + 1) :], float(e), BENCHMARK)
        for d, e in zip(curve["date"], curve["equity"], strict=True)
        if d in held
    ]


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    fn()
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def measure(
    name: str, n_symbols: int, n_fills: int, n_sessions: int, repeat: int
) -> dict[str, Any]:
    trades, closes, sessions, sectors = make_book(n_symbols, n_fills, n_sessions)
    opening = 10_000_000.0
    replay_s, book = timed(lambda: replay_by_session(trades, opening, sessions), repeat)
    curve_s, curve = timed(lambda: equity_curve(book, closes, closes[BENCHMARK]), repeat)
    pnl_s, pnl = timed(lambda: position_pnl(book, closes, sectors, curve), repeat)
    risk_s, _ = timed(
        lambda: risk_by_session(pnl, curve, closes, BENCHMARK, 0.03), max(1, repeat // 2)
    )
    loop_s, _ = timed(lambda: risk_loop(pnl, curve, closes), 1)
    today = pnl.loc[pnl["date"] == sessions[-1]]
    one_s, _ = timed(
        lambda: portfolio_risk(
            today, closes.iloc[-(WINDOW + 1) :], float(curve["equity"].iloc[-1]), BENCHMARK
        ),
        repeat,
    )
    figures = {
        "book": name,
        "symbols": n_symbols,
        "fills": n_fills,
        "sessions": n_sessions,
        "pnl_rows": len(pnl),
        "replay_s": round(replay_s, 4),
        "equity_curve_s": round(curve_s, 4),
        "position_pnl_s": round(pnl_s, 4),
        "risk_by_session_s": round(risk_s, 3),
        "one_portfolio_risk_s": round(one_s, 5),
        "portfolio_risk_loop_s": round(loop_s, 3),
        "loop_over_risk_by_session": round(loop_s / risk_s, 1),
    }
    print(
        f"{name:>10}: {n_symbols} symbols, {n_fills:,} fills, {n_sessions} sessions -> "
        f"replay {replay_s * 1e3:.1f} ms, equity curve {curve_s * 1e3:.1f} ms, position "
        f"P&L {pnl_s * 1e3:.1f} ms ({len(pnl):,} rows), risk by session {risk_s:.3f} s "
        f"against portfolio_risk once per session {loop_s:.2f} s ({loop_s / risk_s:.0f}x) "
        f"and once {one_s * 1e3:.2f} ms",
        flush=True,
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--fills", type=int, default=5_000)
    parser.add_argument("--sessions", type=int, default=1_260)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    results = [
        measure("sample", 10, 11, 518, args.repeat),
        measure("busy desk", args.symbols, args.fills, args.sessions, args.repeat),
    ]
    print(json.dumps({"benchmark": "history", "repeat": args.repeat, "books": results}))


if __name__ == "__main__":
    main()
