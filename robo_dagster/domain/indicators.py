"""Technical indicators for daily bars, computed for all symbols at once.

The definitions are the standard, TA-Lib compatible ones (see ``compute_indicators``).
Only numpy, pandas and BLAS (through numpy) do the work; nothing here knows Dagster.

How it is computed, and why:

- The long input is laid out as a wide ``(symbols, days)`` array whose rows are
  *left-aligned*: column 0 of every row is that symbol's first bar. Warm-ups then end in
  the same column for every symbol, symbols that start later need no special case, and
  every indicator is a few whole-array operations along the day axis. No Python loop
  runs over single symbols or days.
- Getting there must not cost more than the indicators: rows already grouped by symbol
  (a query ordered by symbol) or a full date-major panel (the market-data provider's
  order) are recognised without hashing every symbol string; any other order is
  ranked with a (symbol x date) presence grid instead of a sort.
- Running sums and the EMA / Wilder recursions ``y[t] = g * x[t] + d * y[t-1]`` are
  *blocked scans*: the day axis is cut into blocks of ``_BLOCK`` days, the scan inside
  every block of every symbol is a product with a small triangular matrix (BLAS), and
  only the block-end values (1/16 of the data) go through the recursion, itself done
  the same way. Element-by-element recursions are latency bound: per value,
  ``scipy.signal.lfilter`` took about 4x and ``np.cumsum`` 2.5x as long here.
- Symbols go through in groups of neighbours (``_CHUNK_BYTES`` per array) so the
  twenty-odd temporaries stay in cache and are reused rather than allocated for the
  whole universe. Groups of symbols with the full history are computed straight into
  the output block, with no copy in or out.
- Running sums lose precision to cancellation; prices enter them relative to each
  symbol's first close, and a window in which the close does not move is detected
  exactly (a running count of changes) and gets exactly zero spread.
- A bad bar (see ``compute_indicators``) costs clean data nothing: it leaves the running
  sums or the smoothed true range non-finite at the end, so a group's one pass tells
  whether it has one. Only then are the group's symbols that have one computed again,
  their runs of good bars laid out as symbols of their own and put through the same
  machinery, and the results put back in place.
- Every step works on each symbol row on its own, the scans' last, partial block
  included, so a symbol's values do not depend on which symbols share its group; only
  the width of the layout (the longest history) can move their last bits.
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
_REQUIRED = ("symbol", "date", "high", "low", "close")

_BLOCK = 16  # days per scan block; the matrix product costs _BLOCK flops per value
_CHUNK_BYTES = 512 * 1024  # bytes per (symbols, days) temporary in one group


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

        So a segment's values are those of ``compute_indicators`` on the segment alone
        (to the last bits of rounding). Leading bad bars just delay a symbol's first
        values. Nothing changes for the other symbols, bit for bit: a symbol's values
        depend only on its own bars and, in their last bits, on the length of the
        longest history. (Two good closes whose ratio is 0 or infinite, which takes
        prices some 300 orders of magnitude apart, make the later one a bad bar too.)

        TA-Lib behaves otherwise. Its Python wrapper skips leading NaNs, like the
        above, but a NaN close in mid-series makes its SMA, EMA, BBANDS and MACD NaN
        from that bar to the end of the series and its RSI 0.0 from that bar to the
        end; its ATR runs on as if that close did not exist (the true range of the next
        bar is its high - low alone). A NaN high or low makes its ATR NaN from that bar
        to the end and leaves the close-only functions alone, and a close of 0 or below
        is just a number to it.

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
    close: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    lengths: np.ndarray,
    out: np.ndarray,
    split: bool = True,
) -> None:
    """Write the indicator planes for long (symbol, bar) ordered inputs into out.

    out has shape (planes, rows) in output order. Symbols go through in groups, each
    laid out as left-aligned (symbols, days) arrays of the longest history's width.

    Neighbours with that full history are rows of the long arrays as they are, and
    their output slice is the plane stack itself: those groups need no copy in or out.
    Symbols with a shorter history (and short runs of full ones between them) are
    gathered into groups of their own, padded, and scattered back.
    """
    width = int(lengths.max())
    group = max(1, _CHUNK_BYTES // (8 * width))
    starts = np.r_[0, np.cumsum(lengths)]
    # Runs of neighbours with the full history; runs too short to fill a decent group
    # (a small group costs more than copying) join the gathered symbols.
    full = lengths == width
    edges = np.flatnonzero(np.diff(full.astype(np.int8))) + 1
    run_first, run_end = np.r_[0, edges], np.r_[edges, len(lengths)]
    long_run = full[run_first] & (run_end - run_first >= max(1, group // 4))
    gathered = ~np.repeat(long_run, run_end - run_first)
    in_place = [
        (a, min(a + group, end))
        for first, end in zip(run_first[long_run].tolist(), run_end[long_run].tolist(), strict=True)
        for a in range(first, end, group)
    ]

    # One set of work arrays, sized for the largest group: fresh ones per group cost
    # page faults and cache misses that showed up as 2x the time of the arithmetic.
    space = _Workspace(min(group, len(lengths)), width)

    for first, last in in_place:
        span = slice(int(starts[first]), int(starts[last]))
        block = np.reshape(out[:, span], (_N_PLANES, last - first, width), copy=False)
        space.rows(last - first).run(
            [v[span].reshape(last - first, width) for v in (close, high, low)],
            block,
            split=split,
        )
    picked = np.flatnonzero(gathered)
    for k in range(0, len(picked), group):
        symbols = picked[k : k + group]
        size = lengths[symbols]
        offsets = np.cumsum(size) - size
        rows = np.repeat(starts[symbols] - offsets, size) + np.arange(int(size.sum()))
        work = space.rows(len(symbols))
        valid = np.arange(width) < size[:, None]
        for plane, values in zip(work.aligned, (close, high, low), strict=True):
            _left_align(values[rows], size, valid, plane)
        work.run(list(work.aligned), work.planes, size, split)
        out[:, rows] = work.planes[:, valid]


class _Workspace:
    """Arrays for one group of symbols, allocated once and reused by every group.

    Every array is a stack of (symbols, days) planes; ``rows(m)`` gives the same
    workspace cut to the first m symbols, whose planes are still C-contiguous.
    """

    _ARRAYS = (
        "aligned",
        "planes",
        "sums_in",
        "sums",
        "wilder_in",
        "wilder",
        "ema_in",
        "tmp",
        "moved",
        "changes",
    )

    def __init__(self, n_symbols: int, width: int) -> None:
        shape = (n_symbols, width)
        self.width = width
        self.n_symbols = n_symbols
        self.aligned = np.empty((3, *shape))  # close, high, low of gathered groups
        self.planes = np.empty((_N_PLANES, *shape))  # their indicators
        self.sums_in = np.empty((4, *shape))  # dev, dev^2, r, r^2 (see _indicators)
        self.sums = np.empty((4, *shape))
        self.wilder_in = np.empty((3, *shape))  # gain, loss, true range
        self.wilder = np.empty((3, *shape))
        self.ema_in = np.empty((2, *shape))
        self.tmp = np.empty((2, *shape))
        self.moved = np.empty(shape, dtype=bool)
        self.changes = np.empty(shape, dtype=np.int32)

    def rows(self, n_symbols: int) -> _Workspace:
        """This workspace cut to its first ``n_symbols`` symbols (views, no copies)."""
        if n_symbols == self.n_symbols:
            return self
        view = object.__new__(_Workspace)
        view.width, view.n_symbols = self.width, n_symbols
        for name in self._ARRAYS:
            full = getattr(self, name)
            setattr(view, name, full[..., :n_symbols, :])
        return view

    def run(
        self,
        inputs: list[np.ndarray],
        planes: np.ndarray,
        lengths: np.ndarray | None = None,
        split: bool = True,
    ) -> None:
        """Indicators of one group from left-aligned (symbols, days) closes, highs and
        lows (not modified) into the (planes, symbols, days) stack ``planes``.

        ``lengths`` (default: all the full width) tells a symbol's bars from its
        padding. If some bar is bad (see ``_good_bars``) and ``split``, the symbols
        with a bad bar are computed again by ``_split_at_bad_bars``; the others keep
        what this pass gave them.
        """
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            close, high, low = inputs
            usable = self._indicators(close, high, low, planes)
        if not usable and split:
            _split_at_bad_bars(inputs, lengths, planes)

    def _indicators(self, c: np.ndarray, h: np.ndarray, lo: np.ndarray, planes: np.ndarray) -> bool:
        """Fill the planes from left-aligned (symbols, days) closes/highs/lows.

        Returns False if some bar is bad (the planes of its symbol are then garbage),
        which costs next to nothing to detect. A non-finite close, or a close whose
        ratio to the previous one is not a positive finite number, makes the running
        sums non-finite to the end; a close <= 0 gives such a ratio on one side of it
        unless every close of its row is <= 0. A non-finite high or low makes the
        smoothed true range non-finite to the end. Only bar 0 needs a look of its own
        (its true range is not taken, and its close has no previous one), and so do
        the highs and lows of rows too short for the first ATR, whose true ranges the
        smoothing never sees.
        """
        p = {name: planes[i] for name, i in _PLANE.items()}
        tmp = self.tmp
        width = self.width
        dev, dev2, r, r2 = self.sums_in

        # Returns; the log returns and their squares also go into running sums.
        ratio = tmp[0]
        ratio[:, 0] = np.nan
        np.divide(c[:, 1:], c[:, :-1], out=ratio[:, 1:])
        np.subtract(ratio, 1.0, out=p["return_1d"])
        np.log(ratio, out=ratio)
        p["log_return_1d"][...] = ratio
        r[:, 0] = 0.0
        r[:, 1:] = ratio[:, 1:]
        np.multiply(r, r, out=r2)

        # Running sums of prices relative to each symbol's first close: the sums stay
        # small (precision of the windowed differences) and a flat series sums zeros.
        ref = c[:, :1]
        np.subtract(c, ref, out=dev)
        np.multiply(dev, dev, out=dev2)
        sums = self.sums
        _scan(self.sums_in, (1.0,) * 4, (1.0,) * 4, sums)

        # A running count of close changes: a window over which it does not move is
        # flat, and gets a std of exactly 0 instead of the cancellation noise of
        # differenced sums.
        moved, changes = self.moved, self.changes
        np.not_equal(c[:, 1:], c[:, :-1], out=moved[:, 1:])
        changes[:, 0] = 0
        np.cumsum(moved[:, 1:], axis=1, dtype=np.int32, out=changes[:, 1:])

        half_width = tmp[1]
        for n in SMA_PERIODS:
            sma = p[f"sma_{n}"]
            _window_sum(sums[0], n, sma)
            sma[:, n - 1 :] *= 1.0 / n
            if n == BB_PERIOD:  # the variance wants the mean of dev, before ref is added
                _bollinger_half_width(sums[1], sma, half_width)
            sma[:, n - 1 :] += ref
        _bollinger(half_width, changes, c, p)
        _realized_vol(sums, changes, p["realized_vol_20"], tmp[1])

        # Both EMAs in one scan (their planes are neighbours), then the signal line.
        ema_in = self.ema_in
        alphas = (2.0 / (EMA_FAST + 1), 2.0 / (EMA_SLOW + 1))
        for plane, n, alpha in zip(ema_in, (EMA_FAST, EMA_SLOW), alphas, strict=True):
            plane[:, n:] = c[:, n:]
            _seed_input(plane, c, 0, n, alpha)
        emas = planes[_PLANE["ema_12"] : _PLANE["ema_26"] + 1]
        _scan(ema_in, tuple(1.0 - a for a in alphas), alphas, emas)
        np.subtract(p["ema_12"], p["ema_26"], out=p["macd"])
        alpha = 2.0 / (MACD_SIGNAL + 1)
        first = EMA_SLOW - 1
        ema_in[0, :, first + MACD_SIGNAL :] = p["macd"][:, first + MACD_SIGNAL :]
        _seed_input(ema_in[0], p["macd"], first, MACD_SIGNAL, alpha)
        signal = planes[_PLANE["macd_signal"] : _PLANE["macd_signal"] + 1]
        _scan(ema_in[:1], (1.0 - alpha,), (alpha,), signal)
        np.subtract(p["macd"], p["macd_signal"], out=p["macd_hist"])

        # Gains, losses and true ranges share the Wilder smoothing: one scan for all.
        gain, loss, true_range = self.wilder_in
        change = tmp[1]
        np.subtract(c[:, 1:], c[:, :-1], out=change[:, 1:])
        gain[:, 0] = loss[:, 0] = 0.0
        np.maximum(change[:, 1:], 0.0, out=gain[:, 1:])
        np.subtract(gain[:, 1:], change[:, 1:], out=loss[:, 1:])  # = max(-change, 0)
        _true_range(c, h, lo, true_range, tmp[1])
        wilder_in, wilder = self.wilder_in, self.wilder
        alpha = 1.0 / RSI_PERIOD
        _seed_input(wilder_in, wilder_in, 1, RSI_PERIOD, alpha)
        _scan(wilder_in, (1.0 - alpha,) * 3, (alpha,) * 3, wilder)
        total = np.add(wilder[0], wilder[1], out=tmp[1])
        # TA-Lib gives 0 (not 50) when there was no movement at all: with the floor,
        # 0 / 0 becomes 0 / tiny = 0, and any real total is left unchanged.
        np.maximum(total, np.finfo(np.float64).tiny, out=total)
        rsi = np.divide(wilder[0], total, out=p["rsi_14"])
        rsi *= 100.0
        p["atr_14"][...] = wilder[2]

        _warmup_nans(p, width)
        return bool(
            np.isfinite(sums[:, :, -1]).all()
            and np.isfinite(wilder[2, :, -1]).all()
            and (c[:, 0] > 0.0).all()
            and np.isfinite(h[:, 0] if width > ATR_PERIOD else h).all()
            and np.isfinite(lo[:, 0] if width > ATR_PERIOD else lo).all()
        )


def _left_align(
    values: np.ndarray, lengths: np.ndarray, valid: np.ndarray, out: np.ndarray
) -> None:
    """Long (symbol, bar) values -> rows of out, padded by repeating the last bar.

    Padding with the last value (not NaN) keeps the scans finite; it lies after the
    symbol's end, and everything is causal, so it never reaches a real output.
    """
    out[...] = values[np.cumsum(lengths) - 1][:, None]
    out[valid] = values


def _good_bars(c: np.ndarray, h: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Which bars of (symbols, days) inputs can enter the indicators: a finite high and
    low and a positive finite close, whose ratio to the previous close (if that bar is
    good too) is a positive finite number; only prices some 300 orders of magnitude
    apart fail that last test."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        good = np.isfinite(h) & np.isfinite(lo) & (c > 0.0) & (c < np.inf)
        ratio = c[:, 1:] / c[:, :-1]
        jump = ~((ratio > 0.0) & (ratio < np.inf))
    good[:, 1:] &= ~(jump & good[:, :-1])
    return good


def _split_at_bad_bars(
    inputs: list[np.ndarray], lengths: np.ndarray | None, planes: np.ndarray
) -> None:
    """Recompute the symbols of a group that have a bad bar, each maximal run of good
    bars (a segment) as a symbol of its own that starts at the run's first bar.

    Every indicator of a segment is then what the segment alone would give: windows
    and recursions never reach across a bad bar, and the recursions are seeded again
    at the start of each segment. The bad bars, and the padding of those symbols, get
    NaN throughout. The segments go through ``_fill_block`` like any long input; they
    have no bad bar, so they are not split again.
    """
    c, h, lo = inputs
    width = c.shape[1]
    good = _good_bars(c, h, lo)
    if lengths is not None:  # the padding after a symbol's last bar is not a bad bar
        good |= np.arange(width) >= lengths[:, None]
    rows = np.flatnonzero(~good.all(axis=1))
    if len(rows) == 0:
        return  # no bad bar after all (prices too large for the sums): leave them
    keep = good[rows]
    if lengths is not None:
        keep &= np.arange(width) < lengths[rows, None]
    starts = keep.copy()
    starts[:, 1:] &= ~keep[:, :-1]
    seg_first = np.flatnonzero(starts[keep])  # keep[...] is in (symbol, bar) order
    n_good = int(np.count_nonzero(keep))
    block = np.full((planes.shape[0], len(rows), width), np.nan)
    if n_good:
        long = np.empty((planes.shape[0], n_good))
        seg_lengths = np.diff(np.r_[seg_first, n_good])
        close, high, low = (x[rows][keep] for x in (c, h, lo))
        _fill_block(close, high, low, seg_lengths, long, split=False)
        block[:, keep] = long
    planes[:, rows] = block


def _true_range(
    c: np.ndarray, h: np.ndarray, lo: np.ndarray, out: np.ndarray, tmp: np.ndarray
) -> None:
    """TR[t] = max(high - low, |high - prev close|, |low - prev close|); TR[0] = 0.

    For high >= low that is max(high, prev) - min(low, prev), bit for bit (the same
    difference is taken, and rounding is monotonic), in three passes instead of
    seven. A group with an inverted bar (high < low) gets TA-Lib's formula itself.
    """
    prev, hi, low = c[:, :-1], h[:, 1:], lo[:, 1:]
    out[:, 0] = 0.0
    body, scratch = out[:, 1:], tmp[:, 1:]
    if not (hi < low).any():
        np.maximum(hi, prev, out=body)
        np.minimum(low, prev, out=scratch)
        body -= scratch
        return
    np.subtract(hi, low, out=body)
    for side in (hi, low):
        np.subtract(side, prev, out=scratch)
        np.abs(scratch, out=scratch)
        np.maximum(body, scratch, out=body)


@lru_cache(maxsize=32)
def _scan_matrices(
    decays: tuple[float, ...], gains: tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Per plane, the block matrix g * d**(k - i) for i <= k, else 0 (a block times it
    is the block's scan), shaped (planes, 1, B, B); and d / g shaped (planes, 1)."""
    k = np.arange(_BLOCK)
    lag = (k[None, :] - k[:, None]).astype(np.float64)
    d = np.asarray(decays, dtype=np.float64)[:, None, None]
    g = np.asarray(gains, dtype=np.float64)[:, None, None]
    mats = np.where(lag >= 0, g * d ** np.maximum(lag, 0.0), 0.0)
    return mats[:, None], (d / g)[:, :, 0]


def _scan(
    x: np.ndarray, decays: tuple[float, ...], gains: tuple[float, ...], out: np.ndarray
) -> None:
    """out[p, :, t] = gains[p] * x[p, :, t] + decays[p] * out[p, :, t-1], zero state.

    x and out are (planes, symbols, days); decay 1 and gain 1 give running sums. x is
    C-contiguous and used as scratch; out needs contiguous planes only.

    The days are cut into blocks of ``_BLOCK``. A matrix-vector product gives every
    block's own scan value at its end; the recursion over blocks (the same scan with
    decay**_BLOCK, on 1/16 of the values) turns those into the true values at block
    ends; adding ``decay / gain * (previous block end)`` to each block's first input
    then makes one matrix product with the block matrix produce the final values. The
    products run per symbol row (a stack looped in C), each small enough for OpenBLAS
    to stay single-threaded: waking its threads for one big product cost over 10x the
    arithmetic on a busy machine.
    """
    mats, carry_scale = _scan_matrices(decays, gains)
    n_planes, _, width = x.shape
    n_blocks, tail = divmod(width, _BLOCK)
    split = n_blocks * _BLOCK
    carry_out = None
    if n_blocks:
        blocks = np.reshape(x[..., :split], (n_planes, -1, n_blocks, _BLOCK), copy=False)
        ends = np.matmul(blocks, mats[..., -1:])[..., 0]
        if all(decay == 1.0 for decay in decays):
            carry = np.cumsum(ends, axis=-1)
        else:
            carry = np.empty_like(ends)
            block_decays = tuple(decay**_BLOCK for decay in decays)
            _scan(ends, block_decays, (1.0,) * n_planes, carry)
        blocks[..., 1:, 0] += carry_scale[..., None] * carry[..., :-1]
        target = np.reshape(out[..., :split], (n_planes, -1, n_blocks, _BLOCK), copy=False)
        np.matmul(blocks, mats, out=target)
        carry_out = carry[..., -1]
    if tail:
        rest = x[..., split:]
        if carry_out is not None:
            rest[..., 0] += carry_scale * carry_out
        # One product per symbol row, like the blocks': one product over all the rows
        # would round a row's values depending on how many rows share it.
        tails = np.matmul(rest[..., None, :], mats[..., :tail, :tail])
        out[..., split:] = tails[..., 0, :]


def _seed_input(u: np.ndarray, x: np.ndarray, first: int, n: int, alpha: float) -> None:
    """Make u (holding x from bar first+n on) the ``_scan`` input, with gain alpha, of
    the EMA of x[..., first:] seeded with its mean over n bars (TA-Lib style).

    The EMA is mean(x[first:first+n]) at bar first+n-1, then
    alpha * x[t] + (1 - alpha) * ema[t-1]. Zeros before the seed give the zero state,
    and the seed enters divided by alpha because the scan multiplies it back.
    """
    seed_at = first + n - 1
    if seed_at >= x.shape[-1]:
        u[...] = 0.0
        return
    seed = x[..., first : seed_at + 1].mean(axis=-1)
    u[..., :seed_at] = 0.0
    u[..., seed_at] = seed / alpha


def _window_sum(running: np.ndarray, n: int, out: np.ndarray) -> None:
    """Sum of the last n values from running sums, at bars n-1 and later."""
    if running.shape[1] < n:
        return
    out[:, n - 1] = running[:, n - 1]
    np.subtract(running[:, n:], running[:, :-n], out=out[:, n:])


def _bollinger_half_width(running_sq: np.ndarray, mean_dev: np.ndarray, out: np.ndarray) -> None:
    """BB_WIDTH * population std of the last BB_PERIOD closes, from bar BB_PERIOD-1 on.

    ``mean_dev`` holds the window mean of dev = close - ref and ``running_sq`` the
    running sums of dev**2.
    """
    n = BB_PERIOD
    if mean_dev.shape[1] < n:
        return
    _window_sum(running_sq, n, out)
    var = out[:, n - 1 :]
    var *= 1.0 / n
    md = mean_dev[:, n - 1 :]
    var -= md * md
    np.maximum(var, 0.0, out=var)  # cancellation can leave a tiny negative variance
    np.sqrt(var, out=var)
    var *= BB_WIDTH


def _bollinger(
    half_width: np.ndarray, changes: np.ndarray, c: np.ndarray, p: dict[str, np.ndarray]
) -> None:
    """The three bands from the finished sma_20 and ``_bollinger_half_width``."""
    n = BB_PERIOD
    width = c.shape[1]
    if width < n:
        return
    sma, half = p[f"sma_{n}"][:, n - 1 :], half_width[:, n - 1 :]
    # A flat window (no change of close inside it) has exactly zero std, and its mean
    # is its close exactly, not the rounded difference of running sums. sma_20 gets the
    # same value so that it stays identical to the middle band.
    flat = changes[:, n - 1 :] == changes[:, : width - n + 1]
    if flat.any():
        np.copyto(half, 0.0, where=flat)
        np.copyto(sma, c[:, n - 1 :], where=flat)
    p["bb_middle"][:, n - 1 :] = sma
    np.add(sma, half, out=p["bb_upper"][:, n - 1 :])
    np.subtract(sma, half, out=p["bb_lower"][:, n - 1 :])


def _realized_vol(sums: np.ndarray, changes: np.ndarray, out: np.ndarray, tmp: np.ndarray) -> None:
    """Annualized sample std of the last VOL_WINDOW log returns, from bar VOL_WINDOW on.

    sums[2] and sums[3] are running sums of the log returns r (r = 0 on bar 0) and of
    r**2, so n * (sample variance) * (n - 1) / n = sum r**2 - (sum r)**2 / n; the
    1 / (n - 1) and the 252 are applied after the square root, in one multiplication.
    """
    n = VOL_WINDOW
    if sums.shape[-1] <= n:
        return
    s1 = tmp[:, n:]
    np.subtract(sums[2][:, n:], sums[2][:, :-n], out=s1)
    var = out[:, n:]
    np.subtract(sums[3][:, n:], sums[3][:, :-n], out=var)
    s1 *= 1.0 / np.sqrt(n)
    np.multiply(s1, s1, out=s1)
    var -= s1
    np.maximum(var, 0.0, out=var)
    # n + 1 equal closes are n zero returns: exactly zero volatility. (Their sums
    # cancel exactly already; this keeps it so whatever the rounding elsewhere.)
    flat = changes[:, n:] == changes[:, :-n]
    if flat.any():
        np.copyto(var, 0.0, where=flat)
    np.sqrt(var, out=var)
    var *= np.sqrt(TRADING_DAYS_PER_YEAR / (n - 1))


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
    """The output columns and dtypes, without rows."""
    out = pd.DataFrame({name: np.empty(0) for name in _FLOAT_COLUMNS})
    out.insert(0, "date", bars["date"].array[:0])
    out.insert(0, "symbol", bars["symbol"].array[:0])
    return out
