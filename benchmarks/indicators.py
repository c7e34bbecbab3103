"""Benchmark ``compute_indicators`` against a per-symbol TA-Lib loop.

    python benchmarks/indicators.py --symbols 500 --days 2520 --repeat 5

Builds a deterministic random-walk OHLC frame (by default every symbol on every day,
rows in (date, symbol) order like the market-data provider's; see --order, --ragged)
and times, in the same process, round by round:

- ours: ``compute_indicators(bars)``, the whole call (layout in, indicators, frame out);
- talib raw: the same indicator set per symbol, on numpy arrays prepared beforehand:
  TA-Lib SMA 20/50/200, EMA 12/26, RSI 14, MACD, BBANDS and ATR, plus the returns and
  the 20-day realized volatility (numpy and TA-Lib STDDEV). The TA-Lib calls alone are
  timed too, for reference;
- talib reshape: what that loop needs around it: sorting and splitting the long frame
  into per-symbol arrays, and concatenating the results back into the same long frame;
- talib with reshape: both together, i.e. the per-symbol equivalent of our call.

Medians over ``--repeat`` rounds (after one warm-up run each). Unless --headline-only,
ours is also timed on the other row orders. The last line printed is one JSON object
with the headline numbers.

Where touching fresh memory is slow (some VMs), "talib with reshape" swings from run
to run: its many small arrays come from the heap, which malloc hands back to the OS
after each round and must fault in again. MALLOC_TRIM_THRESHOLD_=4000000000 in the
environment keeps that memory and the timing steady.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import talib

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from robo_dagster.domain.indicators import INDICATOR_COLUMNS, compute_indicators

ORDERS = ("symbol", "date", "shuffled")


def make_bars(
    n_symbols: int, n_days: int, order: str, ragged: float, seed: int = 7
) -> pd.DataFrame:
    """Random-walk daily bars, one row per (symbol, date), in the requested row order.

    ``ragged`` is the share of symbols that start later (up to half the period).
    """
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2010-01-04", periods=n_days)
    log_ret = rng.normal(0.0003, 0.015, (n_symbols, n_days))
    close = 20.0 * np.exp(rng.uniform(0, 3, (n_symbols, 1)) + np.cumsum(log_ret, axis=1))
    open_ = close * np.exp(rng.normal(0, 0.005, close.shape))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.008, close.shape)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.008, close.shape)))
    volume = rng.integers(100_000, 5_000_000, close.shape).astype(np.float64)
    start = np.zeros(n_symbols, dtype=np.int64)
    late = rng.random(n_symbols) < ragged
    start[late] = rng.integers(1, n_days // 2, late.sum())
    keep = np.arange(n_days) >= start[:, None]
    symbols = np.array([f"S{i:04d}" for i in range(n_symbols)], dtype=object)
    bars = pd.DataFrame(
        {
            "symbol": np.repeat(symbols, n_days)[keep.ravel()],
            "date": np.tile(dates.to_numpy(), n_symbols)[keep.ravel()],
            "open": open_[keep],
            "high": high[keep],
            "low": low[keep],
            "close": close[keep],
            "volume": volume[keep],
        }
    )
    if order == "date":  # how MarketSim.daily_bars returns them
        return bars.sort_values(["date", "symbol"], ignore_index=True)
    if order == "shuffled":
        return bars.sample(frac=1.0, random_state=seed, ignore_index=True)
    return bars


def split_by_symbol(bars: pd.DataFrame) -> tuple[pd.DataFrame, list[tuple[np.ndarray, ...]]]:
    """Sort by (symbol, date) and cut the close/high/low columns into per-symbol arrays."""
    ordered = bars.sort_values(["symbol", "date"], ignore_index=True)
    sym = ordered["symbol"].to_numpy()
    cuts = np.flatnonzero(sym[1:] != sym[:-1]) + 1
    columns = [np.split(ordered[c].to_numpy(), cuts) for c in ("close", "high", "low")]
    return ordered, list(zip(*columns, strict=True))


def talib_symbol(close: np.ndarray, high: np.ndarray, low: np.ndarray) -> list[np.ndarray]:
    """The indicator set for one symbol, in INDICATOR_COLUMNS order after ``close``."""
    ratio = np.empty_like(close)
    ratio[0] = np.nan
    np.divide(close[1:], close[:-1], out=ratio[1:])
    log_ret = np.log(ratio)
    macd, signal, hist = talib.MACD(close, 12, 26, 9)
    upper, middle, lower = talib.BBANDS(close, 20, 2.0, 2.0, 0)
    # STDDEV is the population std; rescale to the sample std and annualize.
    vol = talib.STDDEV(log_ret, 20, 1.0) * np.sqrt(20 / 19 * 252)
    return [
        ratio - 1.0,
        log_ret,
        talib.SMA(close, 20),
        talib.SMA(close, 50),
        talib.SMA(close, 200),
        talib.EMA(close, 12),
        talib.EMA(close, 26),
        talib.RSI(close, 14),
        macd,
        signal,
        hist,
        upper,
        middle,
        lower,
        talib.ATR(high, low, close, 14),
        vol,
    ]


def talib_core(close: np.ndarray, high: np.ndarray, low: np.ndarray) -> list[np.ndarray]:
    """Only the TA-Lib indicator calls (no returns, no volatility), for reference."""
    return [
        talib.SMA(close, 20),
        talib.SMA(close, 50),
        talib.SMA(close, 200),
        talib.EMA(close, 12),
        talib.EMA(close, 26),
        talib.RSI(close, 14),
        *talib.MACD(close, 12, 26, 9),
        *talib.BBANDS(close, 20, 2.0, 2.0, 0),
        talib.ATR(high, low, close, 14),
    ]


def talib_raw(arrays: list[tuple[np.ndarray, ...]]) -> list[list[np.ndarray]]:
    return [talib_symbol(c, h, lo) for c, h, lo in arrays]


def assemble(ordered: pd.DataFrame, results: list[list[np.ndarray]]) -> pd.DataFrame:
    """Per-symbol results back into one long frame shaped like ours."""
    data = {"symbol": ordered["symbol"].to_numpy(), "date": ordered["date"].to_numpy()}
    data["close"] = ordered["close"].to_numpy()
    for i, name in enumerate(INDICATOR_COLUMNS[3:]):
        data[name] = np.concatenate([r[i] for r in results])
    return pd.DataFrame(data)


def talib_with_reshape(bars: pd.DataFrame) -> pd.DataFrame:
    ordered, arrays = split_by_symbol(bars)
    return assemble(ordered, talib_raw(arrays))


def settled_difference(mine: pd.DataFrame, theirs: pd.DataFrame, ordered: pd.DataFrame) -> float:
    """Largest relative difference over all columns once TA-Lib's MACD has settled
    (bar 300 of each symbol): a sanity check of the timed code, not a test."""
    settled = ordered.groupby("symbol", sort=False).cumcount().to_numpy() >= 300
    if not settled.any():
        return float("nan")
    worst = 0.0
    for column in INDICATOR_COLUMNS[2:]:
        ours, ref = mine[column].to_numpy()[settled], theirs[column].to_numpy()[settled]
        worst = max(worst, float(np.nanmax(np.abs(ours - ref) / np.maximum(1.0, np.abs(ref)))))
    return worst


def timed(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, list[float]]:
    """Wall times of each function, interleaved round by round.

    Interleaving makes every candidate see the same machine conditions (other load,
    memory state), so the ratios are fair even when the absolute times drift.
    """
    for fn in fns.values():
        fn()  # warm-up: imports, caches, first touch of memory
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--days", type=int, default=2520)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--order",
        choices=ORDERS,
        default="date",
        help="row order of the input for the headline numbers; the default, (date, "
        "symbol), is how the market-data provider returns bars",
    )
    parser.add_argument("--ragged", type=float, default=0.0, help="share of late starters")
    parser.add_argument(
        "--headline-only", action="store_true", help="skip timing the other row orders"
    )
    args = parser.parse_args()

    bars = make_bars(args.symbols, args.days, args.order, args.ragged)
    ordered, arrays = split_by_symbol(bars)

    results = talib_raw(arrays)
    candidates: dict[str, Callable[[], object]] = {
        "ours": lambda: compute_indicators(bars),
        "raw": lambda: talib_raw(arrays),
        "core": lambda: [talib_core(c, h, lo) for c, h, lo in arrays],
        "reshape_in": lambda: split_by_symbol(bars),
        "reshape_out": lambda: assemble(ordered, results),
        "total": lambda: talib_with_reshape(bars),
    }
    if not args.headline_only:
        for order in ORDERS:
            if order != args.order:
                other = make_bars(args.symbols, args.days, order, args.ragged)
                candidates[f"ours_{order}"] = lambda other=other: compute_indicators(other)
    times = timed(candidates, args.repeat)
    med = {name: float(np.median(t)) for name, t in times.items()}

    worst = settled_difference(compute_indicators(bars), assemble(ordered, results), ordered)

    rows = [
        (f"ours: compute_indicators (order={args.order})", med["ours"]),
        ("talib raw loop (arrays prepared)", med["raw"]),
        ("  of which the TA-Lib indicator calls alone", med["core"]),
        ("talib reshape in (sort + split)", med["reshape_in"]),
        ("talib reshape out (concat + frame)", med["reshape_out"]),
        ("talib with reshape (all together)", med["total"]),
    ]
    rows += [
        (f"ours: compute_indicators (order={name[5:]})", med[name])
        for name in med
        if name.startswith("ours_")
    ]

    print(f"{len(bars):,} rows: {args.symbols} symbols x {args.days} days, ragged={args.ragged}")
    print(f"{'':44s} {'median s':>10s} {'x talib raw':>12s}")
    for label, seconds in rows:
        print(f"{label:44s} {seconds:10.4f} {seconds / med['raw']:12.2f}")
    settled_text = "n/a (no symbol has 300 bars)" if np.isnan(worst) else f"{worst:.2e}"
    print(f"max rel. diff ours vs talib, all columns, bars >= 300: {settled_text}")
    print(
        json.dumps(
            {
                "symbols": args.symbols,
                "days": args.days,
                "repeat": args.repeat,
                "ours_median_s": round(med["ours"], 5),
                "talib_raw_median_s": round(med["raw"], 5),
                "talib_with_reshape_median_s": round(med["total"], 5),
                "ratio_vs_talib_raw": round(med["ours"] / med["raw"], 3),
            }
        )
    )


if __name__ == "__main__":
    main()
