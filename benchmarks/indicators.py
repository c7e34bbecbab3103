"""Benchmark ``compute_indicators`` against per-symbol TA-Lib loops.

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
- talib with reshape: both together, i.e. the per-symbol equivalent of our call;
- talib fed properly: the same TA-Lib loop, fed the way a TA-Lib based
  ``compute_indicators`` would feed it: one sort of the rows into (symbol, date) order,
  each symbol a contiguous slice of the sorted numpy columns, the returns computed
  once over the whole long column, every result written straight into a preallocated
  (column, row) block that the output frame wraps without a copy (no per-symbol
  frames, no concat). Timed whole, sort and frame included, and once more with our
  own row layout (which recognises the (date, symbol) panel without hashing every
  symbol) in place of the sort.

Medians over ``--repeat`` rounds (after one warm-up run each). Unless --headline-only,
ours is also timed on the other row orders. ``--baseline PATH`` also times the
``compute_indicators`` of another copy of the module (say, an older version saved with
``git show REV:robo_dagster/domain/indicators.py > /tmp/old.py``) in the same rounds. The last line printed is one JSON object
with the headline numbers.

Where touching fresh memory is slow (some VMs), "talib with reshape" swings from run
to run: its many small arrays come from the heap, which malloc hands back to the OS
after each round and must fault in again. MALLOC_TRIM_THRESHOLD_=4000000000 in the
environment keeps that memory and the timing steady.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import talib

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from robo_dagster.domain.indicators import INDICATOR_COLUMNS, _Layout, compute_indicators

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


FLOAT_COLUMNS = INDICATOR_COLUMNS[2:]
VOL_SCALE = np.sqrt(20 / 19 * 252)  # population std of 20 -> annualized sample std


def sort_rows(bars: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One sort of the rows into (symbol, date) order: (perm, lengths, sorted uniques)."""
    codes, uniques = pd.factorize(bars["symbol"], sort=True)
    keys, _ = pd.factorize(bars["date"], sort=True)
    perm = np.lexsort((keys, codes))
    return perm, np.bincount(codes, minlength=len(uniques)), np.asarray(uniques, dtype=object)


def talib_fed(bars: pd.DataFrame, layout: str = "sort") -> pd.DataFrame:
    """TA-Lib fed properly: the long columns put in (symbol, date) order once, every
    symbol a contiguous slice of them, every result written into its place in one
    preallocated (column, row) block that the frame wraps without a copy.

    ``layout="sort"`` orders the rows with one sort; ``layout="ours"`` with
    ``compute_indicators``' own layout (a transpose for a full (date, symbol) panel).
    """
    if layout == "sort":
        perm, lengths, uniques = sort_rows(bars)
        close, high, low = (
            np.take(bars[c].to_numpy(dtype=np.float64), perm) for c in ("close", "high", "low")
        )
        date = bars["date"].array.take(perm)
    else:
        lay = _Layout.from_columns(bars["symbol"], bars["date"])
        lengths, uniques = lay.lengths, lay.uniques
        close, high, low = (
            lay.to_output_order(bars[c].to_numpy(dtype=np.float64))
            for c in ("close", "high", "low")
        )
        date = lay.take(bars["date"])
    bounds = np.r_[0, np.cumsum(lengths)]
    block = np.empty((len(FLOAT_COLUMNS), len(close)))
    block[0] = close
    # The returns of the whole long column at once, NaN on each symbol's first bar.
    ratio, log_ret = block[1], block[2]
    np.divide(close[1:], close[:-1], out=ratio[1:])
    ratio[bounds[:-1]] = np.nan
    np.log(ratio, out=log_ret)
    ratio -= 1.0
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        c, h, lo, out = close[a:b], high[a:b], low[a:b], block[:, a:b]
        out[3] = talib.SMA(c, 20)
        out[4] = talib.SMA(c, 50)
        out[5] = talib.SMA(c, 200)
        out[6] = talib.EMA(c, 12)
        out[7] = talib.EMA(c, 26)
        out[8] = talib.RSI(c, 14)
        out[9], out[10], out[11] = talib.MACD(c, 12, 26, 9)
        out[12], out[13], out[14] = talib.BBANDS(c, 20, 2.0, 2.0, 0)
        out[15] = talib.ATR(h, lo, c, 14)
        out[16] = talib.STDDEV(log_ret[a:b], 20, 1.0)
    block[16] *= VOL_SCALE
    frame = pd.DataFrame(block.T, columns=pd.Index(FLOAT_COLUMNS), copy=False)
    frame.insert(0, "date", date)
    frame.insert(0, "symbol", np.repeat(uniques, lengths))
    return frame


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
        "--bad-closes",
        type=int,
        default=0,
        help="set this many closes of the headline frame, drawn at random, to NaN (bad "
        "bars); the plain TA-Lib loops then end those symbols' indicators instead, so "
        "their differences from ours are not a check any more",
    )
    parser.add_argument(
        "--headline-only", action="store_true", help="skip timing the other row orders"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another copy of robo_dagster/domain/indicators.py to time alongside ours",
    )
    args = parser.parse_args()

    bars = make_bars(args.symbols, args.days, args.order, args.ragged)
    if args.bad_closes:
        spoiled = np.random.default_rng(3).choice(len(bars), args.bad_closes, replace=False)
        bars.loc[spoiled, "close"] = np.nan
    ordered, arrays = split_by_symbol(bars)

    results = talib_raw(arrays)
    candidates: dict[str, Callable[[], object]] = {
        "ours": lambda: compute_indicators(bars),
        "raw": lambda: talib_raw(arrays),
        "core": lambda: [talib_core(c, h, lo) for c, h, lo in arrays],
        "reshape_in": lambda: split_by_symbol(bars),
        "reshape_out": lambda: assemble(ordered, results),
        "total": lambda: talib_with_reshape(bars),
        "fed": lambda: talib_fed(bars),
        "fed_sort": lambda: sort_rows(bars),
        "fed_layout": lambda: talib_fed(bars, layout="ours"),
    }
    baseline = None
    if args.baseline is not None:
        spec = importlib.util.spec_from_file_location("baseline_indicators", args.baseline)
        if spec is None or spec.loader is None:
            raise SystemExit(f"cannot load {args.baseline}")
        baseline = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(baseline)
        candidates["baseline"] = lambda: baseline.compute_indicators(bars)
    if not args.headline_only:
        for order in ORDERS:
            if order != args.order:
                other = make_bars(args.symbols, args.days, order, args.ragged)
                candidates[f"ours_{order}"] = lambda other=other: compute_indicators(other)
    times = timed(candidates, args.repeat)
    med = {name: float(np.median(t)) for name, t in times.items()}

    mine = compute_indicators(bars)
    worst = settled_difference(mine, assemble(ordered, results), ordered)
    fed = talib_fed(bars)
    if not fed[["symbol", "date"]].equals(mine[["symbol", "date"]]):
        raise AssertionError("talib fed properly: rows not in (symbol, date) order")
    worst_fed = settled_difference(mine, fed, ordered)

    rows = [
        (f"ours: compute_indicators (order={args.order})", med["ours"]),
        ("talib raw loop (arrays prepared)", med["raw"]),
        ("  of which the TA-Lib indicator calls alone", med["core"]),
        ("talib reshape in (sort + split)", med["reshape_in"]),
        ("talib reshape out (concat + frame)", med["reshape_out"]),
        ("talib with reshape (all together)", med["total"]),
        ("talib fed properly (one sort, slices, block)", med["fed"]),
        ("  of which the sort (factorize + lexsort)", med["fed_sort"]),
        ("talib fed properly, our layout for the sort", med["fed_layout"]),
    ]
    if baseline is not None:
        rows.append((f"baseline: {args.baseline.name} (order={args.order})", med["baseline"]))
    rows += [
        (f"ours: compute_indicators (order={name[5:]})", med[name])
        for name in med
        if name.startswith("ours_")
    ]

    print(
        f"{len(bars):,} rows: {args.symbols} symbols x {args.days} days, "
        f"ragged={args.ragged}, bad closes={args.bad_closes}"
    )
    print(f"{'':46s} {'median s':>10s} {'x talib raw':>12s} {'x talib fed':>12s}")
    for label, seconds in rows:
        print(
            f"{label:46s} {seconds:10.4f} {seconds / med['raw']:12.2f} {seconds / med['fed']:12.2f}"
        )
    if baseline is not None:
        theirs = baseline.compute_indicators(bars)
        diff = max(
            float(np.nanmax(np.abs(mine[c] - theirs[c]) / np.maximum(1.0, np.abs(theirs[c]))))
            for c in INDICATOR_COLUMNS[2:]
        )
        same_nans = all(mine[c].isna().equals(theirs[c].isna()) for c in INDICATOR_COLUMNS[2:])
        print(f"ours vs baseline, all bars: max rel. diff {diff:.2e}, same NaNs: {same_nans}")
    for name, value in (("talib", worst), ("talib fed", worst_fed)):
        text = "n/a (no symbol has 300 bars)" if np.isnan(value) else f"{value:.2e}"
        print(f"max rel. diff ours vs {name}, all columns, bars >= 300: {text}")
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
                "talib_fed_median_s": round(med["fed"], 5),
                "talib_fed_our_layout_median_s": round(med["fed_layout"], 5),
                "talib_fed_over_ours": round(med["fed"] / med["ours"], 3),
                "talib_fed_our_layout_over_ours": round(med["fed_layout"] / med["ours"], 3),
                **(
                    {"baseline_median_s": round(med["baseline"], 5)} if baseline is not None else {}
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
