"""Technical indicators for daily bars, computed for all symbols at once, with TA-Lib.

The definitions are TA-Lib's (see ``compute_indicators``), and TA-Lib computes them:
SMA, EMA, RSI, BBANDS, ATR and STDDEV, one call per run of good bars of a symbol.
numpy does the rest (the returns, the layout, the bad-bar bookkeeping); nothing here
knows Dagster. ``talib`` is imported on the first call, not with the module: a run
launch that never computes indicators does not pay for it.

How it is computed, and why:

- TA-Lib is only fast when it is fed contiguous float64 arrays and its results go
  straight to their final place. The long input is put in (symbol, date) order once,
  every symbol (every run of good bars, see below) is then a contiguous slice of the
  ordered close/high/low columns, and every result is written into its rows of one
  preallocated (column, row) block that the output frame wraps without a copy: no
  per-symbol frames and no concat. The returns are computed once over the whole long
  column. (BENCHMARKS.md, "Technical indicators", has the figures: fed like this,
  TA-Lib beat the hand-written vectorized recurrences this module used to carry, on
  the same layout, so those were deleted.)
- Getting into (symbol, date) order must not cost more than the indicators: rows
  already grouped by symbol (a query ordered by symbol) or a full date-major panel
  (the market-data provider's order) are recognised without hashing every symbol
  string, and the panel is reordered by a transpose; any other order is ranked with
  a (symbol x date) presence grid instead of a sort. A plain factorize and sort of
  the rows cost more than all the TA-Lib calls together.
- A bad bar (see ``compute_indicators``) must restart the indicators, not end them as
  it does inside TA-Lib. A few whole-column reductions tell whether the input has
  one at all; only then are the good bars marked and cut into runs (segments), each
  of which goes through TA-Lib as a series of its own.
- A window in which the close does not move is detected exactly (a running count of
  changes) and gets exactly its close as SMA and bands and exactly zero spread and
  volatility, which TA-Lib's running sums only give to the last bits.

Conventions. Every column follows TA-Lib's convention: EMAs seeded with the SMA of
their first n closes, RSI and ATR seeded with the means of the first 14 changes and
true ranges, RSI 0 (not 50) when nothing moved, BBANDS with the population std. The
one place where TA-Lib is not consistent with itself is MACD, and there we chose:
``macd`` is ``ema_12 - ema_26``, the difference of the frame's own two TA-Lib EMA
columns, with its first value on the 26th bar, and ``macd_signal`` is TA-Lib's 9-EMA
of that line, seeded with the mean of its first 9 values as TA-Lib's MACD seeds its
signal. TA-Lib's MACD function instead runs a second 12-EMA seeded on bars 15 to 26
and publishes nothing before the 34th bar, so its line is not its own ``EMA(12) -
EMA(26)`` in the first bars (the two agree to 1e-6 by bar 300 and converge on). A
frame whose ``macd`` contradicted its ``ema_12`` and ``ema_26`` would be wrong to the
reader who checks it; and this is also what the module always published, so its
warm-up (the 26th bar) and the values of the tests computed by hand stay as they were.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

INDICATOR_COLUMNS: list[str] = [
    "symbol",
    "date",
    "close",
    "return_1d",
    "log_return_1d",
    "sma_20",
    "sma_50",
    "sma_200",
    "ema_12",
    "ema_26",
    "rsi_14",
    "macd",
    "macd_signal",
    "macd_hist",
    "bb_upper",
    "bb_middle",
    "bb_lower",
    "atr_14",
    "realized_vol_20",
]

TRADING_DAYS_PER_YEAR = 252
SMA_PERIODS = (20, 50, 200)
EMA_FAST, EMA_SLOW, MACD_SIGNAL = 12, 26, 9
RSI_PERIOD = 14
ATR_PERIOD = 14
BB_PERIOD, BB_WIDTH = 20, 2.0
VOL_WINDOW = 20

_FLOAT_COLUMNS = INDICATOR_COLUMNS[2:]
# Row of each computed column in the (indicator, row) block handed to ``_fill_block``;
# the output block has ``close`` in row 0 and these in rows 1.. in the same order.
_PLANE = {name: i for i, name in enumerate(_FLOAT_COLUMNS[1:])}
_REQUIRED = ("symbol", "date", "high", "low", "close")
# TA-Lib's STDDEV is the population std: times sqrt(n / (n - 1)) for the sample std,
# and sqrt(252) to annualize.
_VOL_SCALE = math.sqrt(TRADING_DAYS_PER_YEAR * VOL_WINDOW / (VOL_WINDOW - 1))


def compute_indicators(bars: pd.DataFrame) -> pd.DataFrame:
    """Compute the daily indicator set for every symbol in a long frame of bars.

    Args:
        bars: One row per (symbol, date), in any order, with at least the columns
            ``symbol``, ``date``, ``high``, ``low`` and ``close`` (others, e.g. ``open``
            and ``volume``, are ignored). The rows of one symbol are its consecutive
            trading days; symbols may start and end on different dates.

    Returns:
        A frame with the columns ``INDICATOR_COLUMNS``, sorted by (symbol, date), with a
        fresh ``RangeIndex`` and one row per input row. ``symbol`` and ``date`` keep the
        input dtypes; the other columns are float64 and NaN during each indicator's
        warm-up:

        - ``return_1d = close / prev_close - 1``; ``log_return_1d = ln(close / prev_close)``.
        - ``sma_n``: mean of the last n closes.
        - ``ema_n``: alpha = 2 / (n + 1), seeded with the mean of the first n closes, so
          the first value is on the n-th bar (TA-Lib EMA).
        - ``rsi_14``: Wilder averages (alpha = 1/14) of gains and losses, seeded with
          their means over the first 14 changes; ``100 * gain / (gain + loss)``, and 0
          when both averages are 0 (no movement at all), which is what TA-Lib returns.
        - ``macd = ema_12 - ema_26``; ``macd_signal`` is the 9-EMA of macd seeded with
          the mean of its first 9 values (TA-Lib EMA); ``macd_hist = macd -
          macd_signal``. TA-Lib's MACD function seeds its fast EMA later, so it differs
          in the first bars and agrees after a few hundred (see the module docstring).
        - ``bb_upper/bb_middle/bb_lower``: ``sma_20 +/- 2 * std`` with the population std
          of the last 20 closes (TA-Lib BBANDS, matype 0).
        - ``atr_14``: Wilder average of the true range, seeded with the mean of the first
          14 true ranges (TA-Lib ATR).
        - ``realized_vol_20``: sample std of the last 20 log returns times sqrt(252)
          (TA-Lib STDDEV, rescaled).

        A window over which the close does not change has a std and a volatility of
        exactly 0, and SMAs and bands exactly equal to its close.

        Bad bars: a bar with a missing or non-finite high, low or close, or with a
        close that is not positive, is quarantined. It gets NaN in every column but
        ``close``, and so does every bar whose window or recursion would include it.
        Each maximal run of good bars (a segment) is computed as a series of its own
        that starts at its first bar; counting from there:

        - the windows (the returns, ``sma_n``, the bands, ``realized_vol_20``) are NaN
          while they hold the bad bar or a return across it, and the plain rolling
          values again once they do not: the returns from the 2nd bar, ``sma_n`` from
          the n-th, the bands from the 20th, ``realized_vol_20`` from the 21st;
        - the recursions start again, warm-up and seed included, exactly as at the
          start of a series: ``ema_n`` from the n-th bar (seeded with the mean of those
          n closes), ``rsi_14`` and ``atr_14`` from the 15th (the means of the first 14
          changes and true ranges), ``macd`` from the 26th and ``macd_signal`` and
          ``macd_hist`` from the 34th. No true range reaches across the gap: the first
          bar after it only serves as the previous close of the next, like bar 0.

        So a segment's values are those of ``compute_indicators`` on the segment alone,
        bit for bit. Leading bad bars just delay a symbol's first values. Nothing
        changes for the other symbols, bit for bit either: a symbol's values depend
        only on its own bars. (Two good closes whose ratio is 0 or infinite, which takes
        prices some 300 orders of magnitude apart, make the later one a bad bar too.)

        That is why each segment goes to TA-Lib on its own: TA-Lib itself behaves
        otherwise. Its Python wrapper skips leading NaNs, like the above, but a NaN
        close in mid-series makes its SMA, EMA, BBANDS and MACD NaN from that bar to
        the end of the series and its RSI 0.0 from that bar to the end; its ATR runs on
        as if that close did not exist (the true range of the next bar is its high -
        low alone). A NaN high or low makes its ATR NaN from that bar to the end and
        leaves the close-only functions alone, and a close of 0 or below is just a
        number to it.

    Raises:
        KeyError: a required column is missing.
        ValueError: a symbol or date is missing, or a (symbol, date) pair repeats.
    """
    missing = [col for col in _REQUIRED if col not in bars.columns]
    if missing:
        raise KeyError(f"bars is missing columns {missing}")
    if len(bars) == 0:
        return _empty_result(bars)

    symbol, date = _column(bars, "symbol"), _column(bars, "date")
    layout = _Layout.from_columns(symbol, date)
    close, high, low = (
        layout.to_output_order(_column(bars, col).to_numpy(dtype=np.float64, na_value=np.nan))
        for col in ("close", "high", "low")
    )
    # All float columns share one (column, row) block that the frame wraps without a
    # copy, so each indicator is written exactly once into its final place.
    block = np.empty((len(_FLOAT_COLUMNS), len(bars)))
    block[0] = close
    _fill_block(close, high, low, layout.lengths, block[1:])

    out = pd.DataFrame(block.T, columns=pd.Index(_FLOAT_COLUMNS), copy=False)
    out.insert(0, "date", layout.take(date))
    out.insert(0, "symbol", layout.symbols_out(symbol))
    return out


def _column(bars: pd.DataFrame, name: str) -> pd.Series:
    """bars[name], which must be a single column."""
    column = bars[name]
    if not isinstance(column, pd.Series):  # a repeated column name selects a frame
        raise ValueError(f"bars has more than one {name!r} column")
    return column


# --------------------------------------------------------------------------- layout
class _Layout:
    """Maps input rows to output rows, i.e. to (symbol, bar number) order.

    ``lengths[s]`` is the number of bars of the s-th symbol in sorted symbol order and
    ``uniques`` the sorted symbols. ``perm[i]`` is the input row of output row i, or
    None when the input already is in output order. ``panel`` = (days, symbols) is set
    when the input is a full date-major panel (every date lists every symbol in sorted
    order), whose reordering is a plain transpose.
    """

    def __init__(
        self,
        lengths: np.ndarray,
        uniques: np.ndarray,
        perm: np.ndarray | None = None,
        panel: tuple[int, int] | None = None,
    ) -> None:
        self.lengths = lengths
        self.uniques = uniques
        self.perm = perm
        self.panel = panel

    @classmethod
    def from_columns(cls, symbol: pd.Series, date: pd.Series) -> _Layout:
        keys = _date_keys(date)
        grouped = None
        if symbol.dtype == object:
            values = symbol.to_numpy()
            # Hashing a million Python strings (pd.factorize) costs a third of all the
            # indicators; the two orders bars usually come in need far less.
            grouped = _by_symbol_runs(values, keys)
            if isinstance(grouped, _Layout):
                return grouped
            if grouped is None:
                panel = _date_major_panel(values, keys)
                if panel is not None:
                    return panel
                codes, uniques = pd.factorize(values, sort=True)
            else:
                codes, uniques = grouped
        else:
            codes, uniques = pd.factorize(symbol, sort=True)
        if grouped is None:  # grouped rows were already checked for output order
            step = np.diff(codes)
            in_order = bool(np.all((step > 0) | ((step == 0) & (np.diff(keys) > 0))))
        else:
            in_order = False
        if len(codes) and codes.min() < 0:
            raise ValueError("bars has rows without a symbol")
        uniques = np.asarray(uniques, dtype=object)
        if in_order:
            return cls(np.bincount(codes, minlength=len(uniques)), uniques)

        day = _day_index(keys, date)
        n_days = int(day.max()) + 1
        if len(uniques) * n_days > 64 * len(codes) + 10_000_000:
            # Too sparse for the grid below (say, many short-lived symbols): sort.
            perm = np.lexsort((day, codes))
            same = np.diff(codes[perm]) == 0
            if bool(np.any(same & (np.diff(day[perm]) == 0))):
                raise ValueError("bars has repeated (symbol, date) rows")
            return cls(np.bincount(codes, minlength=len(uniques)), uniques, perm)
        # Rank each row among its symbol's dates with a presence grid (symbols x dates)
        # and a running count along dates: O(rows), no sort of the rows.
        cell = codes * n_days + day
        grid = np.zeros(len(uniques) * n_days, dtype=bool)
        grid[cell] = True
        rank_grid = np.cumsum(grid.reshape(len(uniques), n_days), axis=1, dtype=np.int32)
        lengths = rank_grid[:, -1].astype(np.int64)
        if int(lengths.sum()) != len(codes):
            raise ValueError("bars has repeated (symbol, date) rows")
        starts = np.cumsum(lengths) - lengths
        position = np.take(starts, codes) + np.take(rank_grid, cell) - 1
        perm = np.empty(len(codes), dtype=np.int64)
        np.put(perm, position, np.arange(len(codes)))
        return cls(lengths, uniques, perm)

    def to_output_order(self, values: np.ndarray) -> np.ndarray:
        """A float column in output order (the input itself if already in order)."""
        if self.panel is not None:
            # A transposing copy streams through memory; a gather by perm would
            # touch a new cache line for every value.
            return values.reshape(self.panel).T.ravel()
        # np.take is about twice as fast as fancy indexing for a plain gather.
        return values if self.perm is None else np.take(values, self.perm)

    def take(self, column: pd.Series) -> pd.api.extensions.ExtensionArray:
        """The column in output order with its own dtype, not sharing memory."""
        values = column.array
        if self.panel is not None:
            days, n_symbols = self.panel
            return values[::n_symbols].take(np.tile(np.arange(days), n_symbols))
        return values.copy() if self.perm is None else values.take(self.perm)

    def symbols_out(self, column: pd.Series) -> np.ndarray | pd.api.extensions.ExtensionArray:
        """The symbol column in output order, same dtype, not sharing memory."""
        if column.dtype != object:
            return self.take(column)
        if self.perm is None and self.panel is None:
            return column.to_numpy().copy()
        # Repeating the few unique objects is cheaper than gathering a million.
        return np.repeat(self.uniques, self.lengths)


def _by_symbol_runs(
    values: np.ndarray, keys: np.ndarray
) -> _Layout | tuple[np.ndarray, np.ndarray] | None:
    """Rows grouped in one run per symbol: a layout if also in output order, else
    (codes, sorted uniques); None if the rows are not grouped by symbol.

    Only the run heads are hashed. A prefix tells cheaply whether the column looks
    grouped at all before the full comparison is paid for.
    """
    head = values[:4096]
    if np.count_nonzero(head[1:] != head[:-1]) * 8 > len(head):
        return None
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    head_codes, uniques = pd.factorize(values[starts], sort=True)
    if len(uniques) != len(starts) or (len(head_codes) and head_codes.min() < 0):
        return None  # a symbol in several runs, or a missing symbol: take the long way
    lengths = np.diff(np.r_[starts, len(values)])
    rising = np.diff(keys) > 0
    rising[starts[1:] - 1] = True  # a new symbol may start at any date
    uniques = np.asarray(uniques, dtype=object)
    if bool(np.all(np.diff(head_codes) > 0)) and bool(rising.all()):
        return _Layout(lengths, uniques)
    return np.repeat(head_codes, lengths), uniques


def _date_major_panel(values: np.ndarray, keys: np.ndarray) -> _Layout | None:
    """Layout for rows sorted by (date, symbol) with every symbol on every date."""
    step = np.diff(keys)
    if len(step) == 0 or step.min() < 0:
        return None
    n_days = int(np.count_nonzero(step)) + 1
    n_symbols, rest = divmod(len(values), n_days)
    if rest:
        return None
    first = values[:n_symbols]
    if pd.isna(first).any():
        return None  # the long way reports the missing symbol
    # Blocks of n_symbols rows are whole dates if the date changes at every block
    # boundary (there are only n_days - 1 changes, so nowhere else); every block must
    # then list the same, sorted, distinct symbols as the first.
    try:
        if not (
            bool(np.all(step[n_symbols - 1 :: n_symbols] > 0))
            and bool(np.all(first[1:] > first[:-1]))
            and bool((values.reshape(n_days, n_symbols) == first).all())
        ):
            return None
    except TypeError:  # symbols that do not compare with each other: the long way
        return None
    return _Layout(np.full(n_symbols, n_days), first.copy(), panel=(n_days, n_symbols))


def _date_keys(date: pd.Series) -> np.ndarray:
    """Integers that order like the dates: epoch units, or sorted factorize codes."""
    values = date.array
    if isinstance(values, pd.arrays.DatetimeArray):
        keys = values.asi8
        if np.any(keys == np.iinfo(np.int64).min):
            raise ValueError("bars has rows without a date")
        return keys
    keys, _ = pd.factorize(date, sort=True)
    if len(keys) and keys.min() < 0:
        raise ValueError("bars has rows without a date")
    return keys


def _day_index(keys: np.ndarray, date: pd.Series) -> np.ndarray:
    """Small non-negative integers that order like the dates (for the presence grid)."""
    values = date.array
    if not isinstance(values, pd.arrays.DatetimeArray):
        return keys  # already sorted factorize codes
    if values.tz is None:
        # Midnight timestamps: whole days since the first date are already small
        # integers, which saves hashing every row.
        day_len = int(np.timedelta64(1, "D") / np.timedelta64(1, values.unit))
        day, rest = np.divmod(keys - keys.min(), day_len)
        if not rest.any() and day.max() < 16 * len(keys) + 100_000:
            return day
    day, _ = pd.factorize(keys, sort=True)
    return day


# --------------------------------------------------------------------------- kernel
def _fill_block(
    close: np.ndarray, high: np.ndarray, low: np.ndarray, lengths: np.ndarray, out: np.ndarray
) -> None:
    """Write the indicator rows for long (symbol, bar) ordered inputs into out.

    out is the (indicator, row) block, rows in the inputs' order, ``lengths`` the
    number of bars of each symbol in that order. Each segment (a symbol's run of good
    bars; the whole symbol when it has no bad bar) is a contiguous slice of the inputs
    and of every row of out, and goes through TA-Lib as a series of its own. The
    inputs are not modified (they may be the caller's frame's memory).
    """
    import talib  # here, not at the top: import time matters for run launches

    ends = np.cumsum(lengths)
    starts = ends - lengths
    ratio, log_ret = out[_PLANE["return_1d"]], out[_PLANE["log_return_1d"]]
    ratio[0] = np.nan
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        np.divide(close[1:], close[:-1], out=ratio[1:])
        if _surely_good(close, high, low, ratio[1:]):
            bad = None
            seg_starts, seg_ends = starts, ends
        else:
            good = _good_bars(close, high, low, ratio, starts)
            bad = np.flatnonzero(~good)
            seg_starts, seg_ends = _segments(good, starts)
            ratio[bad] = np.nan
        # A segment's first return would reach across a gap or into the previous symbol.
        ratio[seg_starts] = np.nan
        np.log(ratio, out=log_ret)
    ratio -= 1.0

    sma = {n: _PLANE[f"sma_{n}"] for n in SMA_PERIODS}
    ema_fast, ema_slow = _PLANE[f"ema_{EMA_FAST}"], _PLANE[f"ema_{EMA_SLOW}"]
    macd, signal = _PLANE["macd"], _PLANE["macd_signal"]
    rsi, atr, vol = _PLANE["rsi_14"], _PLANE["atr_14"], _PLANE["realized_vol_20"]
    upper, middle, lower = _PLANE["bb_upper"], _PLANE["bb_middle"], _PLANE["bb_lower"]
    for a, b in zip(seg_starts.tolist(), seg_ends.tolist(), strict=True):
        c, o = close[a:b], out[:, a:b]
        o[upper], o[middle], o[lower] = talib.BBANDS(
            c, BB_PERIOD, BB_WIDTH, BB_WIDTH, talib.MA_Type.SMA
        )
        for n, row in sma.items():
            # BBANDS' middle band is TA-Lib's SMA of the same period, bit for bit.
            o[row] = o[middle] if n == BB_PERIOD else talib.SMA(c, n)
        o[ema_fast] = talib.EMA(c, EMA_FAST)
        o[ema_slow] = talib.EMA(c, EMA_SLOW)
        np.subtract(o[ema_fast], o[ema_slow], out=o[macd])
        # The wrapper skips the line's leading NaNs: seeded with its first 9 values.
        o[signal] = talib.EMA(o[macd], MACD_SIGNAL)
        o[rsi] = talib.RSI(c, RSI_PERIOD)
        o[atr] = talib.ATR(high[a:b], low[a:b], c, ATR_PERIOD)
        o[vol] = talib.STDDEV(log_ret[a:b], VOL_WINDOW, 1.0)
    np.subtract(out[macd], out[signal], out=out[_PLANE["macd_hist"]])
    out[vol] *= _VOL_SCALE
    if bad is not None:
        out[:, bad] = np.nan
    _flat_windows(close, out)


def _surely_good(c: np.ndarray, h: np.ndarray, lo: np.ndarray, ratio: np.ndarray) -> bool:
    """True only if no bar is bad (see ``_good_bars``), from a few whole-column
    reductions: a NaN or infinity makes a sum non-finite and a minimum NaN. False
    just sends the input to the exact test (say, a sum that overflows, or a ratio
    of 0 or infinity across two symbols)."""
    return bool(
        np.isfinite(h.sum())
        and np.isfinite(lo.sum())
        and np.isfinite(c.sum())
        and c.min() > 0.0
        and (len(ratio) == 0 or (ratio.min() > 0.0 and ratio.max() < np.inf))
    )


def _good_bars(
    c: np.ndarray, h: np.ndarray, lo: np.ndarray, ratio: np.ndarray, starts: np.ndarray
) -> np.ndarray:
    """Which bars of long (symbol, bar) inputs can enter the indicators: a finite high
    and low and a positive finite close, whose ratio to the previous close of the same
    symbol (if that bar is good too) is a positive finite number; only prices some 300
    orders of magnitude apart fail that last test. ``ratio[t]`` is c[t] / c[t - 1]."""
    good = np.isfinite(h) & np.isfinite(lo) & (c > 0.0) & (c < np.inf)
    jump = ~((ratio > 0.0) & (ratio < np.inf))
    jump[starts] = False  # a symbol's first bar has no previous close
    good[1:] &= ~(jump[1:] & good[:-1])
    return good


def _segments(good: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first row, end row) of each maximal run of good bars within one symbol."""
    first = np.zeros(len(good), dtype=bool)
    first[starts] = True
    begins = good.copy()
    begins[1:] &= first[1:] | ~good[:-1]
    stops = good.copy()
    stops[:-1] &= first[1:] | ~good[1:]
    return np.flatnonzero(begins), np.flatnonzero(stops) + 1


def _flat_windows(close: np.ndarray, out: np.ndarray) -> None:
    """Exact values on windows over which the close does not change: the SMAs and all
    three bands equal the close, the volatility (of n zero returns) is 0.

    TA-Lib's running sums give those only to the last bits. A window is flat when a
    running count of close changes is the same at both its ends; windows that reach
    across a segment or symbol boundary are NaN (warm-up) and stay so.
    """
    moved = close[1:] != close[:-1]  # a NaN close counts as a change
    if moved.all():
        return  # no two equal consecutive closes: no flat window
    count = np.empty(len(close), dtype=np.int64)
    count[0] = 0
    np.cumsum(moved, out=count[1:])

    def flat(n_closes: int, row: int) -> np.ndarray:
        """Rows whose last n_closes closes are equal and whose value in row is set."""
        if n_closes > len(count):
            return np.empty(0, dtype=np.intp)
        at = np.flatnonzero(count[n_closes - 1 :] == count[: len(count) - n_closes + 1])
        at += n_closes - 1
        return at[~np.isnan(out[row, at])]

    for n in SMA_PERIODS:
        at = flat(n, _PLANE[f"sma_{n}"])
        out[_PLANE[f"sma_{n}"], at] = close[at]
        if n == BB_PERIOD:
            for band in ("bb_upper", "bb_middle", "bb_lower"):
                out[_PLANE[band], at] = close[at]
    at = flat(VOL_WINDOW + 1, _PLANE["realized_vol_20"])
    out[_PLANE["realized_vol_20"], at] = 0.0


def _empty_result(bars: pd.DataFrame) -> pd.DataFrame:
    """The output columns and dtypes, without rows."""
    out = pd.DataFrame({name: np.empty(0) for name in _FLOAT_COLUMNS})
    out.insert(0, "date", bars["date"].array[:0])
    out.insert(0, "symbol", bars["symbol"].array[:0])
    return out
