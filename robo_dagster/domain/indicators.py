"""Technical indicators for daily bars, computed for all symbols at once.

The definitions are the standard, TA-Lib compatible ones (see ``compute_indicators``).

How it is computed, and why:

- The long input is laid out as a wide ``(symbols, days)`` array whose rows are
  *left-aligned*: column 0 of every row is that symbol's first bar. Warm-ups then end in
  the same column for every symbol, symbols that start later need no special case, and
  every indicator is a few array operations along the day axis. No Python loop runs
  over symbols or days.
- Running sums and the EMA/Wilder recursions ``y[t] = x[t] + d * y[t-1]`` are
  evaluated as *blocked scans*: the day axis is cut into blocks of ``_BLOCK`` days, the
  scan inside every block of every symbol is one matrix product with a small
  triangular matrix (BLAS), and only the block-end values (1/16 of the data) go through
  a sequential recursion. Element-by-element recursions (``np.cumsum``,
  ``scipy.signal.lfilter``) are latency bound and were 5-9x slower here.
- Symbols are processed in groups (``_CHUNK_BYTES`` per array) so that the twenty-odd
  temporaries stay in cache and are reused instead of being freshly allocated for the
  whole universe; each group is still handled with whole-array operations.
"""

from __future__ import annotations

from functools import lru_cache

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
# Plane of each computed column in the (indicator, symbol, day) work array; the output
# block has ``close`` in row 0 and these in rows 1.. in the same order.
_PLANE = {name: i for i, name in enumerate(_FLOAT_COLUMNS[1:])}
_N_PLANES = len(_PLANE)
_LOCAL_PLANES = 2  # return_1d and log_return_1d only look at two bars
_REQUIRED = ("symbol", "date", "high", "low", "close")

_BLOCK = 16  # days per scan block; the matrix product costs _BLOCK flops per value
_CHUNK_BYTES = 256 * 1024  # bytes per (symbols, days) temporary in one group


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
          the mean of its first 9 values; ``macd_hist = macd - macd_signal``. TA-Lib's
          MACD seeds its EMAs later, so it differs in the first bars and agrees after a
          few hundred.
        - ``bb_upper/bb_middle/bb_lower``: ``sma_20 +/- 2 * std`` with the population std
          of the last 20 closes (TA-Lib BBANDS, matype 0).
        - ``atr_14``: Wilder average of the true range, seeded with the mean of the first
          14 true ranges (TA-Lib ATR).
        - ``realized_vol_20``: sample std of the last 20 log returns times sqrt(252).

        A window over which the close does not change has a std of exactly 0, and a
        constant series has bands and SMAs exactly equal to its close.

        Missing data: a symbol's leading bars without a finite high, low and close are
        skipped and its indicators start at its first complete bar (as TA-Lib skips
        leading NaNs); those bars get NaN throughout. After that, the first bar with a
        missing or non-finite high, low or close, or with a close whose ratio to the
        previous close is not positive, ends the symbol's indicators: every column but
        the two returns is NaN from that bar on (TA-Lib's running sums and recursions
        do the same). The returns stay bar-local.

    Raises:
        KeyError: a required column is missing.
        ValueError: a symbol or date is missing, or a (symbol, date) pair repeats.
    """
    missing = [col for col in _REQUIRED if col not in bars.columns]
    if missing:
        raise KeyError(f"bars is missing columns {missing}")
    if len(bars) == 0:
        return _empty_result(bars)

    layout = _Layout.from_columns(bars["symbol"], bars["date"])
    close, high, low = (
        layout.to_output_order(bars[col].to_numpy(dtype=np.float64))
        for col in ("close", "high", "low")
    )
    # All float columns share one (column, row) block that the frame wraps without a
    # copy, so each indicator is written exactly once into its final place.
    block = np.empty((len(_FLOAT_COLUMNS), len(bars)))
    block[0] = close
    _fill_block(close, high, low, layout.lengths, block[1:])

    out = pd.DataFrame(block.T, columns=_FLOAT_COLUMNS, copy=False)
    out.insert(0, "date", layout.take(bars["date"]))
    out.insert(0, "symbol", layout.symbols_out(bars["symbol"]))
    return out


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
        if symbol.dtype == object:
            values = symbol.to_numpy()
            # Hashing a million Python strings (pd.factorize) costs about as much as all
            # the indicators; the two orders bars usually come in need far less.
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
        if len(codes) and codes.min() < 0:
            raise ValueError("bars has rows without a symbol")
        uniques = np.asarray(uniques, dtype=object)

        step = np.diff(codes)
        if bool(np.all((step > 0) | ((step == 0) & (np.diff(keys) > 0)))):
            return cls(np.bincount(codes, minlength=len(uniques)), uniques)
        # Any other order: rank each row among its symbol's dates with a presence grid
        # (symbols x dates) and a running count along dates: O(rows), no sort.
        day = _day_index(keys, date)
        grid = np.zeros((len(uniques), int(day.max()) + 1), dtype=bool)
        grid[codes, day] = True
        rank_grid = np.cumsum(grid, axis=1, dtype=np.int32)
        lengths = rank_grid[:, -1].astype(np.int64)
        if int(lengths.sum()) != len(codes):
            raise ValueError("bars has repeated (symbol, date) rows")
        starts = np.cumsum(lengths) - lengths
        position = starts[codes] + rank_grid[codes, day] - 1
        perm = np.empty(len(codes), dtype=np.int64)
        perm[position] = np.arange(len(codes))
        return cls(lengths, uniques, perm)

    def to_output_order(self, values: np.ndarray) -> np.ndarray:
        if self.panel is not None:
            # A transposing copy streams through memory; a gather by perm would
            # touch a new cache line for every value.
            return values.reshape(self.panel).T.ravel()
        return values if self.perm is None else values[self.perm]

    def take(self, column: pd.Series) -> pd.api.extensions.ExtensionArray:
        """The column in output order with its own dtype, not sharing memory."""
        values = column.array
        if self.panel is not None:
            days, n_symbols = self.panel
            return values[:: n_symbols].take(np.tile(np.arange(days), n_symbols))
        return values.copy() if self.perm is None else values.take(self.perm)

    def symbols_out(self, column: pd.Series) -> np.ndarray | pd.api.extensions.ExtensionArray:
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
    # Blocks of n_symbols rows are whole dates if the date changes at every block
    # boundary (there are only n_days - 1 changes, so nowhere else); every block must
    # then list the same, sorted, distinct symbols as the first.
    if not (
        bool(np.all(step[n_symbols - 1 :: n_symbols] > 0))
        and bool(np.all(first[1:] > first[:-1]))
        and bool((values.reshape(n_days, n_symbols) == first).all())
    ):
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
    """Write the indicator planes for long (symbol, bar) ordered inputs into out.

    out has shape (planes, rows) in output order. Symbols are taken in groups; each
    group is laid out left-aligned into (symbols, days) arrays.
    """
    width = int(lengths.max())
    group = max(1, _CHUNK_BYTES // (8 * width))
    starts = np.r_[0, np.cumsum(lengths)]
    # One workspace per group size (the last group may be smaller): the scans need
    # C-contiguous arrays, which slices of a bigger workspace are not.
    workspaces: dict[int, _Workspace] = {}
    for first in range(0, len(lengths), group):
        last = min(first + group, len(lengths))
        if last - first not in workspaces:
            workspaces[last - first] = _Workspace(last - first, width)
        rows = slice(int(starts[first]), int(starts[last]))
        workspaces[last - first].run(
            close[rows], high[rows], low[rows], lengths[first:last], out[:, rows]
        )


class _Workspace:
    """Preallocated per-group arrays, reused for every group of symbols."""

    def __init__(self, n_symbols: int, width: int) -> None:
        shape = (n_symbols, width)
        self.width = width
        self.inputs = np.empty((3, *shape))  # close, high, low
        self.planes = np.empty((_N_PLANES, *shape))
        self.sums_in = np.empty((4, *shape))  # dev, dev^2, r, r^2 for running sums
        self.sums = np.empty((4, *shape))
        self.wilder_in = np.empty((3, *shape))  # gain, loss, true range
        self.wilder = np.empty((3, *shape))
        self.ema_in = np.empty(shape)
        self.tmp = np.empty((2, *shape))
        self.moved = np.empty(shape, dtype=bool)
        self.changes = np.empty(shape, dtype=np.int32)

    def run(
        self,
        close: np.ndarray,
        high: np.ndarray,
        low: np.ndarray,
        lengths: np.ndarray,
        out: np.ndarray,
    ) -> None:
        m = len(lengths)
        full = bool((lengths == lengths[0]).all())
        inputs = self.inputs
        valid = None if full else np.arange(self.width) < lengths[:, None]
        for plane, values in zip(inputs, (close, high, low), strict=True):
            _left_align(values, lengths, full, valid, plane)

        lead = _leading_gaps(inputs, lengths)
        if lead is not None:
            inputs[...] = _shift(inputs, -lead, fill=None)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            self._indicators()
        planes = self.planes
        if lead is not None:
            planes[...] = _shift(planes, lead, fill=np.nan)

        if full:
            out.reshape(_N_PLANES, m, -1)[...] = planes[:, :, : lengths[0]]
        else:
            out[...] = planes[:, valid]

    def _indicators(self) -> None:
        c, h, lo = self.inputs
        planes = self.planes
        p = {name: planes[i] for name, i in _PLANE.items()}
        tmp = self.tmp
        width = self.width

        # Returns (kept bar-local even when the rest is cut at a gap).
        ratio = tmp[0]
        ratio[:, 0] = np.nan
        np.divide(c[:, 1:], c[:, :-1], out=ratio[:, 1:])
        np.subtract(ratio, 1.0, out=p["return_1d"])
        np.log(ratio, out=p["log_return_1d"])

        gain, loss, true_range = self.wilder_in
        _true_range(c, h, lo, true_range, tmp[1])

        # Everything below needs finite inputs: the blocked scans would smear a NaN over
        # its whole block, backwards in time too. A bad bar is rare, so it is detected
        # with two cheap checks and only then located and cut.
        ends = None
        if not (
            np.isfinite(p["log_return_1d"][:, 1:]).all()
            and np.isfinite(true_range[:, 1:]).all()
            and np.isfinite(c[:, 0]).all()
        ):
            ends = _first_bad_bar(c, h, lo, p["log_return_1d"], true_range)
            _hold_from(self.inputs, ends)
            np.divide(c[:, 1:], c[:, :-1], out=ratio[:, 1:])
            _true_range(c, h, lo, true_range, tmp[1])
            log_ret = np.log(ratio, out=ratio)
        else:
            log_ret = p["log_return_1d"]

        # Running sums of prices relative to each symbol's first close: the sums stay
        # small (precision of the windowed differences) and a flat series sums zeros.
        dev, dev2, r, r2 = self.sums_in
        ref = c[:, :1]
        np.subtract(c, ref, out=dev)
        np.multiply(dev, dev, out=dev2)
        r[:, 0] = 0.0
        r[:, 1:] = log_ret[:, 1:]
        np.multiply(r, r, out=r2)
        sums = self.sums
        _scan(self.sums_in, 1.0, sums)

        # Bars since the last change of close, as a running count of changes: a window
        # whose count is unchanged is flat, and its std is set to exactly 0 instead of
        # the cancellation noise of differenced sums.
        moved, changes = self.moved, self.changes
        np.not_equal(c[:, 1:], c[:, :-1], out=moved[:, 1:])
        changes[:, 0] = 0
        np.cumsum(moved[:, 1:], axis=1, dtype=np.int32, out=changes[:, 1:])

        for n in SMA_PERIODS:
            _window_sum(sums[0], n, p[f"sma_{n}"])
            p[f"sma_{n}"][:, n - 1 :] *= 1.0 / n
            p[f"sma_{n}"][:, n - 1 :] += ref
        _bollinger(sums, changes, c, p, tmp[1])
        _realized_vol(sums, changes, p["realized_vol_20"], tmp[1])

        ema_in = self.ema_in
        for n, name in ((EMA_FAST, "ema_12"), (EMA_SLOW, "ema_26")):
            _seed_input(c, 0, n, 2.0 / (n + 1), ema_in)
            _scan(ema_in, 1.0 - 2.0 / (n + 1), p[name])
        np.subtract(p["ema_12"], p["ema_26"], out=p["macd"])
        alpha = 2.0 / (MACD_SIGNAL + 1)
        _seed_input(p["macd"], EMA_SLOW - 1, MACD_SIGNAL, alpha, ema_in)
        _scan(ema_in, 1.0 - alpha, p["macd_signal"])
        np.subtract(p["macd"], p["macd_signal"], out=p["macd_hist"])

        # Gains, losses and true ranges share the Wilder smoothing: one scan for all.
        change = tmp[1]
        np.subtract(c[:, 1:], c[:, :-1], out=change[:, 1:])
        gain[:, 0] = loss[:, 0] = 0.0
        np.maximum(change[:, 1:], 0.0, out=gain[:, 1:])
        np.minimum(change[:, 1:], 0.0, out=loss[:, 1:])
        np.negative(loss, out=loss)
        wilder_in = self.wilder_in
        for plane in wilder_in:
            _seed_input(plane, 1, RSI_PERIOD, 1.0 / RSI_PERIOD, plane)
        wilder = self.wilder
        _scan(wilder_in, 1.0 - 1.0 / RSI_PERIOD, wilder)
        total = np.add(wilder[0], wilder[1], out=tmp[1])
        rsi = np.divide(wilder[0], total, out=p["rsi_14"])
        rsi *= 100.0
        np.copyto(rsi, 0.0, where=total == 0.0)  # flat: TA-Lib says 0, not 50
        p["atr_14"][...] = wilder[2]

        _warmup_nans(p, width)
        if ends is not None:
            cut = np.arange(width) >= ends[:, None]
            planes[_LOCAL_PLANES:, cut] = np.nan


def _left_align(
    values: np.ndarray,
    lengths: np.ndarray,
    full: bool,
    valid: np.ndarray | None,
    out: np.ndarray,
) -> None:
    """Long (symbol, bar) values -> rows of out, padded by repeating the last bar.

    Padding with the last value (not NaN) keeps the scans finite; it lies after the
    symbol's end, and everything is causal, so it never reaches a real output.
    """
    if full:
        n = int(lengths[0])
        out[:, :n] = values.reshape(len(lengths), n)
        out[:, n:] = out[:, n - 1 : n]
    else:
        ends = np.cumsum(lengths) - 1
        last = values[np.maximum(ends, 0)]
        out[...] = np.where(lengths > 0, last, 1.0)[:, None]
        out[valid] = values


def _leading_gaps(inputs: np.ndarray, lengths: np.ndarray) -> np.ndarray | None:
    """Per symbol, the number of leading bars without finite high/low/close; None if 0."""
    if np.isfinite(inputs[:, :, 0]).all():
        return None
    complete = np.isfinite(inputs).all(axis=0)
    return np.where(complete.any(axis=1), complete.argmax(axis=1), lengths).astype(np.int64)


def _shift(stack: np.ndarray, by: np.ndarray, fill: float | None) -> np.ndarray:
    """Shift each symbol row of (..., symbols, days) right by ``by`` (left if negative).

    Cells shifted in get ``fill``, or, if None, repeat the row's edge value.
    """
    width = stack.shape[-1]
    cols = np.arange(width) - by[:, None]
    idx = np.broadcast_to(np.clip(cols, 0, width - 1), stack.shape)
    moved = np.take_along_axis(stack, idx, axis=-1)
    if fill is None:
        return moved
    return np.where((cols >= 0) & (cols < width), moved, fill)


def _first_bad_bar(
    c: np.ndarray, h: np.ndarray, lo: np.ndarray, log_ret: np.ndarray, true_range: np.ndarray
) -> np.ndarray:
    """Per symbol, the first bar whose data cannot enter the indicators (else width)."""
    bad = np.empty(c.shape, dtype=bool)
    bad[:, 0] = ~(np.isfinite(c[:, 0]) & np.isfinite(h[:, 0]) & np.isfinite(lo[:, 0]))
    bad[:, 1:] = ~(np.isfinite(log_ret[:, 1:]) & np.isfinite(true_range[:, 1:]))
    return np.where(bad.any(axis=1), bad.argmax(axis=1), c.shape[1])


def _hold_from(inputs: np.ndarray, ends: np.ndarray) -> None:
    """Replace each row's bars from ``ends`` on by its last good close (1.0 if none).

    A flat continuation keeps every scan finite; those bars are NaN-ed afterwards.
    """
    width = inputs.shape[-1]
    last_good = np.take_along_axis(inputs[0], np.maximum(ends - 1, 0)[:, None], axis=1)
    last_good = np.where(ends[:, None] > 0, last_good, 1.0)
    cut = np.arange(width) >= ends[:, None]
    for plane in inputs:
        np.copyto(plane, last_good, where=cut)


def _true_range(
    c: np.ndarray, h: np.ndarray, lo: np.ndarray, out: np.ndarray, tmp: np.ndarray
) -> None:
    """TR[t] = max(high - low, |high - prev close|, |low - prev close|); TR[0] = 0."""
    out[:, 0] = 0.0
    np.subtract(h[:, 1:], lo[:, 1:], out=out[:, 1:])
    for side in (h, lo):
        np.subtract(side[:, 1:], c[:, :-1], out=tmp[:, 1:])
        np.abs(tmp[:, 1:], out=tmp[:, 1:])
        np.maximum(out[:, 1:], tmp[:, 1:], out=out[:, 1:])


@lru_cache(maxsize=16)
def _scan_matrix(decay: float) -> np.ndarray:
    """Block matrix M[i, k] = decay**(k - i) for i <= k, else 0: x_block @ M scans it."""
    k = np.arange(_BLOCK)
    lag = k[None, :] - k[:, None]
    return np.where(lag >= 0, decay ** np.maximum(lag, 0).astype(np.float64), 0.0)


def _scan(x: np.ndarray, decay: float, out: np.ndarray) -> None:
    """out[..., t] = x[..., t] + decay * out[..., t-1] from a zero state, along days.

    decay = 1 gives running sums. x and out are C-contiguous; x is used as scratch.

    The days are cut into blocks of ``_BLOCK``. A matrix-vector product gives every
    block's own scan value at its end; a short recursion over blocks turns those into
    the true values at block ends; adding ``decay * (previous block end)`` to each
    block's first input then makes one matrix product with the block matrix produce
    the final values. Both products run per symbol row (a stack looped in C), small
    enough that OpenBLAS stays single-threaded: waking its threads for one big
    product cost 30x the arithmetic on a busy machine.
    """
    matrix = _scan_matrix(decay)
    width = x.shape[-1]
    n_blocks, tail = divmod(width, _BLOCK)
    x2 = x.reshape(-1, width)
    out2 = out.reshape(-1, width)
    carry_out = None
    if n_blocks:
        split = n_blocks * _BLOCK
        blocks = x2[:, :split].reshape(-1, n_blocks, _BLOCK)
        ends = np.matmul(blocks, matrix[:, -1])
        if decay == 1.0:
            carry = np.cumsum(ends, axis=1)
        else:
            # The recursion over blocks is the same scan with decay**_BLOCK, on 1/16 of
            # the values (lfilter's per-call overhead made it the slowest step).
            carry = np.empty_like(ends)
            _scan(ends, decay**_BLOCK, carry)
        blocks[:, 1:, 0] += decay * carry[:, :-1]
        np.matmul(blocks, matrix, out=out2[:, :split].reshape(-1, n_blocks, _BLOCK))
        carry_out = carry[:, -1]
    if tail:
        rest = x2[:, width - tail :]
        if carry_out is not None:
            rest[:, 0] += decay * carry_out
        out2[:, width - tail :] = rest @ matrix[:tail, :tail]


def _seed_input(x: np.ndarray, first: int, n: int, alpha: float, out: np.ndarray) -> None:
    """Input for ``_scan`` that yields the seeded EMA of x[first:] (may alias x).

    The EMA is mean(x[first:first+n]) at bar first+n-1 and then
    alpha * x[t] + (1 - alpha) * ema[t-1]; zeros before the seed give the zero state.
    """
    seed_at = first + n - 1
    if seed_at >= x.shape[1]:
        out[...] = 0.0
        return
    seed = x[:, first : seed_at + 1].mean(axis=1)
    np.multiply(x[:, seed_at + 1 :], alpha, out=out[:, seed_at + 1 :])
    out[:, :seed_at] = 0.0
    out[:, seed_at] = seed


def _window_sum(running: np.ndarray, n: int, out: np.ndarray) -> None:
    """Sum of the last n values from running sums, at bars n-1 and later."""
    if running.shape[1] < n:
        return
    out[:, n - 1] = running[:, n - 1]
    np.subtract(running[:, n:], running[:, :-n], out=out[:, n:])


def _bollinger(
    sums: np.ndarray,
    changes: np.ndarray,
    c: np.ndarray,
    p: dict[str, np.ndarray],
    tmp: np.ndarray,
) -> None:
    n = BB_PERIOD
    mid, upper, lower = p["bb_middle"], p["bb_upper"], p["bb_lower"]
    if sums.shape[-1] < n:
        return
    # A flat window's mean is its close exactly, not the rounded difference of sums;
    # sma_20 gets the same value so the middle band stays identical to it.
    flat = changes[:, n - 1 :] == changes[:, : changes.shape[1] - n + 1]
    np.copyto(p[f"sma_{n}"][:, n - 1 :], c[:, n - 1 :], where=flat)
    mid[...] = p[f"sma_{n}"]
    s1 = upper  # scratch: the windowed sums, overwritten below
    s2 = tmp
    _window_sum(sums[0], n, s1)
    _window_sum(sums[1], n, s2)
    var = s2[:, n - 1 :]
    s1 = s1[:, n - 1 :]
    np.multiply(s1, s1, out=s1)
    s1 *= 1.0 / n
    var -= s1
    var *= 1.0 / n
    np.maximum(var, 0.0, out=var)  # cancellation can leave a tiny negative variance
    np.copyto(var, 0.0, where=flat)
    width = np.sqrt(var, out=var)
    width *= BB_WIDTH
    np.add(mid[:, n - 1 :], width, out=upper[:, n - 1 :])
    np.subtract(mid[:, n - 1 :], width, out=lower[:, n - 1 :])


def _realized_vol(sums: np.ndarray, changes: np.ndarray, out: np.ndarray, tmp: np.ndarray) -> None:
    n = VOL_WINDOW
    if sums.shape[-1] <= n:
        return
    # Log returns at bars t-n+1..t: their running sums include r[0] = 0, so the window
    # sum is running[t] - running[t-n], for t >= n.
    s1 = tmp[:, n:]
    np.subtract(sums[2][:, n:], sums[2][:, :-n], out=s1)
    var = out[:, n:]
    np.subtract(sums[3][:, n:], sums[3][:, :-n], out=var)
    np.multiply(s1, s1, out=s1)
    s1 *= 1.0 / n
    var -= s1
    var *= 1.0 / (n - 1)
    np.maximum(var, 0.0, out=var)
    # n+1 equal closes = n zero returns: exactly zero volatility.
    np.copyto(var, 0.0, where=changes[:, n:] == changes[:, :-n])
    np.sqrt(var, out=var)
    var *= np.sqrt(TRADING_DAYS_PER_YEAR)


def _warmup_nans(p: dict[str, np.ndarray], width: int) -> None:
    """NaN the bars before each indicator's first value (bar numbers from 0)."""
    first = {
        "return_1d": 1,
        "log_return_1d": 1,
        "rsi_14": RSI_PERIOD,
        "atr_14": ATR_PERIOD,
        "ema_12": EMA_FAST - 1,
        "ema_26": EMA_SLOW - 1,
        "macd": EMA_SLOW - 1,
        "macd_signal": EMA_SLOW + MACD_SIGNAL - 2,
        "macd_hist": EMA_SLOW + MACD_SIGNAL - 2,
        "bb_upper": BB_PERIOD - 1,
        "bb_middle": BB_PERIOD - 1,
        "bb_lower": BB_PERIOD - 1,
        "realized_vol_20": VOL_WINDOW,
        **{f"sma_{n}": n - 1 for n in SMA_PERIODS},
    }
    for name, bars in first.items():
        p[name][:, : min(bars, width)] = np.nan


def _empty_result(bars: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({name: np.empty(0) for name in _FLOAT_COLUMNS})
    out.insert(0, "date", bars["date"].array[:0])
    out.insert(0, "symbol", bars["symbol"].array[:0])
    return out
