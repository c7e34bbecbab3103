"""The book over time: the account replayed session by session, its equity curve, the
P&L of each position and the risk of each day's book.

Money in or out is taken at the start of its session (it is invested that day), so a
session's time-weighted return is its P&L over the capital at work that morning:

    daily_return = day_pnl / (previous equity + deposits - withdrawals)

Compounding those gives the cumulative return, which deposits and withdrawals do not
move, and the drawdown is measured on that compounded wealth, so a deposit never looks
like a recovery. Returns and drawdowns are fractions (0.012 is 1.2 %).

A history that begins after the account opened (the stored prices start later) takes
its first session as the base: the account as it stood then, with that day's P&L
unknown (NaN) and the returns compounded from there.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from robo_dagster.domain.portfolio import UNKNOWN_SECTOR, AccountBook
from robo_dagster.domain.severity import limit_severities

# Flows and ties are judged to the cent: below that is floating-point dust.
CENT = 0.005
RISK_WINDOW_SESSIONS = 252

EQUITY_COLUMNS = [
    "date",
    "equity",
    "cash",
    "market_value",
    "realized_pnl",
    "unrealized_pnl",
    "fees",
    "day_pnl",
    "deposits",
    "withdrawals",
    "daily_return",
    "cumulative_return",
    "drawdown",
    "benchmark_cumulative_return",
    "stale_marks",
    "source",
]
POSITION_PNL_COLUMNS = [
    "date",
    "symbol",
    "sector",
    "quantity",
    "close",
    "market_value",
    "day_pnl",
    "total_pnl",
    "contribution",
    "sector_day_pnl",
    "sector_contribution",
]
RISK_COLUMNS = [
    "date",
    "equity",
    "var_95_1d",
    "var_95_1d_pct",
    "var_95_limit_pct",
    "var_breach",
    "var_severity",
    "gross_exposure",
    "net_exposure",
    "largest_position",
    "largest_position_weight",
    "largest_sector",
    "largest_sector_weight",
    "beta",
    "history_days",
]


@dataclass(frozen=True)
class SessionBook:
    """The account at the close of each session (every frame is indexed by session)."""

    cash: pd.Series
    deposits: pd.Series
    withdrawals: pd.Series
    fees: pd.Series
    quantity: pd.DataFrame  # session x symbol, signed
    cost_basis: pd.DataFrame  # quantity x average cost
    realized_pnl: pd.DataFrame  # cumulative, per symbol
    # False when the sessions begin after the account opened: the first session is then
    # the base of the history, and its day figures are unknown (no earlier close).
    from_opening: bool = True


def replay_by_session(
    trades: pd.DataFrame,
    opening_cash: float,
    sessions: pd.DatetimeIndex,
    allow_short: bool = False,
    from_opening: bool = True,
    cash_flows: pd.DataFrame | None = None,
) -> SessionBook:
    """Replay the blotter (date, symbol, side, quantity, price, commission) and keep the
    account as it stood at each of ``sessions``' closes. A fill counts on its own
    session; fills before the first session are in its state, fills after the last are
    left out. ``from_opening``: the first session is the one the account opened on, and
    ``opening_cash`` is deposited on it; otherwise the account already lived before it.
    ``cash_flows`` (date, amount: > 0 in, < 0 out) count from the session on or after
    their date; those before the first session are in its cash."""
    if not len(sessions):
        raise ValueError("no sessions to replay the account over")
    book = AccountBook(opening_cash, allow_short)
    dates = (
        pd.DatetimeIndex(pd.to_datetime(trades["date"])) if len(trades) else pd.DatetimeIndex([])
    )
    order = np.argsort(dates.to_numpy(), kind="stable")
    kept = order[dates.to_numpy()[order] <= sessions[-1].to_datetime64()]
    columns = [
        trades[c].to_numpy()[kept] for c in ("symbol", "side", "quantity", "price", "commission")
    ]
    # One record per symbol a fill day touched (its state after that day's fills) and one
    # of the account's totals: the state at a session is that of its latest fill day.
    records: list[tuple[pd.Timestamp, str, float, float, float]] = []
    totals: list[tuple[pd.Timestamp, float, float]] = []
    touched: set[str] = set()

    def close_day(day: pd.Timestamp) -> None:
        records.extend((day, symbol, *book.position(symbol)) for symbol in touched)
        totals.append((day, book.cash, book.commissions))
        touched.clear()

    day = None
    for stamp, symbol, side, qty, price, fee in zip(dates[kept], *columns, strict=True):
        if day is not None and stamp != day:
            close_day(day)
        day = stamp
        book.fill(stamp.date(), str(symbol), str(side), float(qty), float(price), float(fee))
        touched.add(str(symbol))
    if day is not None:
        close_day(day)

    numbers = {"quantity": float, "average_cost": float, "realized_pnl": float}
    state = pd.DataFrame(records, columns=["date", "symbol", *numbers]).astype(numbers)

    def on_sessions(column: str) -> pd.DataFrame:
        wide = state.pivot(index="date", columns="symbol", values=column).sort_index().ffill()
        return wide.reindex(sessions, method="ffill").fillna(0.0).astype(float)

    scalars = (
        pd.DataFrame(totals, columns=["date", "cash", "commissions"])
        .astype({"cash": float, "commissions": float})
        .set_index("date")
        .reindex(sessions, method="ffill")
    )
    commissions = scalars["commissions"].fillna(0.0)
    quantity = on_sessions("quantity")
    moved = _flows_by_session(cash_flows, sessions)
    deposits = moved.clip(lower=0.0)
    if from_opening:
        deposits.iloc[0] += float(opening_cash)
    else:
        # Money moved up to the first session is in the base the history starts from.
        moved.iloc[0] = 0.0
        deposits.iloc[0] = 0.0
    return SessionBook(
        cash=scalars["cash"].fillna(float(opening_cash)).astype(float)
        + _flows_by_session(cash_flows, sessions).cumsum(),
        deposits=deposits,
        withdrawals=(-moved).clip(lower=0.0),
        fees=commissions.diff().fillna(commissions.iloc[0]),
        quantity=quantity,
        cost_basis=quantity * on_sessions("average_cost"),
        realized_pnl=on_sessions("realized_pnl"),
        from_opening=from_opening,
    )


def _flows_by_session(cash_flows: pd.DataFrame | None, sessions: pd.DatetimeIndex) -> pd.Series:
    """The net money moved on each session: a flow on a day that is not a session
    counts on the next one; flows after the last session are left out, flows before the
    first count on it."""
    moved = pd.Series(0.0, index=sessions)
    if cash_flows is None or cash_flows.empty:
        return moved
    dates = pd.DatetimeIndex(pd.to_datetime(cash_flows["date"]))
    at = sessions.searchsorted(dates, side="left")
    inside = at < len(sessions)
    np.add.at(moved.to_numpy(), at[inside], cash_flows["amount"].to_numpy(dtype=float)[inside])
    return moved


def marks(book: SessionBook, closes: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The price each held symbol is marked at on each session, and where that mark is
    stale: a session without a valid close is marked on the latest earlier one. A held
    symbol with no close at all yet cannot be marked and raises."""
    on_sessions = closes.reindex(index=book.quantity.index, columns=book.quantity.columns)
    held = book.quantity.abs() > 1e-9
    marked = on_sessions.ffill()
    unmarked = held & marked.isna()
    if unmarked.any().any():
        session, symbol = next(
            (s, c) for s, row in unmarked.iterrows() for c in row.index[row.to_numpy()]
        )
        raise ValueError(
            f"no valid close for held {symbol} on or before {pd.Timestamp(session).date()}: "
            "the book cannot be marked"
        )
    return marked.fillna(0.0), held & on_sessions.isna()


def with_returns(frame: pd.DataFrame, benchmark: pd.Series | None) -> pd.DataFrame:
    """Add the daily and cumulative time-weighted return, the drawdown from the running
    peak of compounded wealth, and the benchmark's cumulative return over the same
    sessions (NaN without one). ``frame`` holds date, equity, day_pnl, deposits and
    withdrawals."""
    invested = invested_capital(frame)
    daily = (frame["day_pnl"] / invested).where(invested > CENT)
    wealth = (1.0 + daily.fillna(0.0)).cumprod()
    frame = frame.assign(
        daily_return=daily,
        cumulative_return=wealth - 1.0,
        drawdown=wealth / wealth.cummax() - 1.0,
    )
    if benchmark is None or not benchmark.notna().any():
        return frame.assign(benchmark_cumulative_return=np.nan)
    level = benchmark.reindex(pd.DatetimeIndex(frame["date"])).ffill()
    first = level.dropna().iloc[0] if level.notna().any() else np.nan
    return frame.assign(benchmark_cumulative_return=(level / first - 1.0).to_numpy())


def invested_capital(frame: pd.DataFrame) -> pd.Series:
    """The capital at work each session: the previous close's equity plus that
    session's deposits less its withdrawals."""
    return frame["equity"].shift(1).fillna(0.0) + frame["deposits"] - frame["withdrawals"]


def equity_curve(
    book: SessionBook, closes: pd.DataFrame, benchmark: pd.Series | None
) -> pd.DataFrame:
    """One row per session (``EQUITY_COLUMNS``) from the replayed book marked on
    ``closes`` (session x symbol, valid closes only). Its day P&L is the change in equity
    less the money moved in, and equals the day's realized plus the change in
    unrealized P&L (fees are inside both, as in the ledger)."""
    price, stale = marks(book, closes)
    market_value = (book.quantity * price).sum(axis=1)
    equity = book.cash + market_value
    unrealized = market_value - book.cost_basis.sum(axis=1)
    realized = book.realized_pnl.sum(axis=1)
    flows = book.deposits - book.withdrawals
    frame = pd.DataFrame(
        {
            "date": book.cash.index,
            "equity": equity.to_numpy(),
            "cash": book.cash.to_numpy(),
            "market_value": market_value.to_numpy(),
            "realized_pnl": realized.diff().fillna(realized.iloc[0]).to_numpy(),
            "unrealized_pnl": unrealized.diff().fillna(unrealized.iloc[0]).to_numpy(),
            "fees": book.fees.to_numpy(),
            "day_pnl": (equity.diff().fillna(equity.iloc[0]) - flows).to_numpy(),
            "deposits": book.deposits.to_numpy(),
            "withdrawals": book.withdrawals.to_numpy(),
            "stale_marks": stale.sum(axis=1).astype(int).to_numpy(),
        }
    )
    if not book.from_opening:
        frame.loc[0, ["realized_pnl", "unrealized_pnl", "fees", "day_pnl"]] = np.nan
    return with_returns(frame, benchmark).assign(source="replayed blotter")[EQUITY_COLUMNS]


def reported_equity_curve(reported: pd.DataFrame, benchmark: pd.Series | None) -> pd.DataFrame:
    """One row per session (``EQUITY_COLUMNS``) from a broker's own daily equity and
    profit/loss (date, equity, profit_loss), the P&L counted from the history's base value
    as Alpaca's portfolio history reports it: a day's P&L is the change in it, and
    whatever moved equity beyond that is money in or out. The first session is the base,
    its day P&L unknown. The broker reports no cash, market value or P&L split, so those
    are NaN rather than guessed."""
    reported = reported.sort_values("date", ignore_index=True)
    equity = reported["equity"].astype(float)
    pnl = reported["profit_loss"].astype(float).diff()
    flows = (equity.diff() - pnl).fillna(0.0)
    flows = flows.where(flows.abs() > CENT, 0.0)
    frame = pd.DataFrame(
        {
            "date": pd.to_datetime(reported["date"]),
            "equity": equity,
            "cash": np.nan,
            "market_value": np.nan,
            "realized_pnl": np.nan,
            "unrealized_pnl": np.nan,
            "fees": np.nan,
            "day_pnl": pnl,
            "deposits": flows.clip(lower=0.0),
            "withdrawals": (-flows).clip(lower=0.0),
            "stale_marks": 0,
        }
    )
    return with_returns(frame, benchmark).assign(source="broker portfolio history")[EQUITY_COLUMNS]


def position_pnl(
    book: SessionBook, closes: pd.DataFrame, sectors: pd.Series, equity: pd.DataFrame
) -> pd.DataFrame:
    """Per session and position (``POSITION_PNL_COLUMNS``): its day P&L (realized plus
    the change in unrealized), its P&L since it was first bought, and its contribution to
    the day's return (day P&L over the capital at work, so a session's contributions sum
    to its ``daily_return``), with the same for its sector. ``equity`` is the equity
    curve (date, equity, deposits, withdrawals). A position closed on a session keeps
    that session's row."""
    price, _ = marks(book, closes)
    market_value = book.quantity * price
    total = market_value - book.cost_basis + book.realized_pnl
    day = total.diff()
    if book.from_opening:
        day.iloc[0] = total.iloc[0]
    invested = invested_capital(equity).set_axis(pd.DatetimeIndex(equity["date"]))
    long = pd.DataFrame(
        {
            "quantity": book.quantity.stack(future_stack=True),
            "close": price.stack(future_stack=True),
            "market_value": market_value.stack(future_stack=True),
            "day_pnl": day.stack(future_stack=True),
            "total_pnl": total.stack(future_stack=True),
        }
    )
    long.index = long.index.set_names(["date", "symbol"])
    long = long.reset_index()
    long = long.loc[(long["quantity"].abs() > 1e-9) | (long["day_pnl"].abs() > CENT)].copy()
    long.loc[long["quantity"].abs() <= 1e-9, ["quantity", "market_value"]] = 0.0
    long["sector"] = long["symbol"].map(sectors).fillna(UNKNOWN_SECTOR)
    capital = long["date"].map(invested)
    long["contribution"] = (long["day_pnl"] / capital).where(capital > CENT)
    by_sector = long.groupby(["date", "sector"])["day_pnl"].transform("sum")
    long["sector_day_pnl"] = by_sector
    long["sector_contribution"] = (by_sector / capital).where(capital > CENT)
    return long.sort_values(["date", "symbol"], ignore_index=True)[POSITION_PNL_COLUMNS]


def risk_by_session(
    positions: pd.DataFrame,
    equity: pd.DataFrame,
    closes: pd.DataFrame,
    benchmark: str,
    var_limit_pct: float,
    window: int = RISK_WINDOW_SESSIONS,
) -> pd.DataFrame:
    """Per session (``RISK_COLUMNS``), the risk of that day's book measured as
    ``risk.portfolio_risk`` measures today's: historical VaR 95 % over the ``window``
    returns up to it (each position's market value that day times its past returns),
    against the limit, with its level (``domain.severity``); gross and net exposure; the largest position and known sector;
    beta to ``benchmark``. ``positions`` is the position P&L (date, symbol, sector,
    quantity, market_value), ``equity`` the equity curve, ``closes`` session x symbol
    reaching ``window`` sessions before the first where the data allows (days with no
    close at all are not scenarios).

    Every session at once: the scenario P&L of every day's book on every past day is one
    matrix product, and each session's window a slice of it."""
    dates = pd.DatetimeIndex(equity["date"])
    equity_now = equity["equity"].to_numpy(dtype=float)
    held = positions.loc[positions["quantity"].abs() > 1e-9]
    value = (
        held.pivot(index="date", columns="symbol", values="market_value")
        .reindex(index=dates)
        .fillna(0.0)
    )
    # A day without any close (before the stored data begins, a missing partition) is
    # no scenario: only the sessions themselves are kept, to be marked on.
    closes = closes.sort_index()
    closes = closes.loc[closes.notna().any(axis=1) | closes.index.isin(dates)]
    at = closes.index.get_indexer(dates)
    if (at < 0).any():
        raise ValueError(f"no closes for the session {dates[np.argmin(at)].date()}")
    prices = closes.reindex(columns=value.columns)
    returns = (prices / prices.shift(1) - 1.0).fillna(0.0).to_numpy()
    scenarios = returns @ value.to_numpy().T  # (close day, session)
    # The window of each session: the ``window`` returns ending on it. The first close
    # has no return, so a session near the start of the data has fewer.
    rows = at[None, :] + np.arange(1 - window, 1)[:, None]
    in_window = rows >= 1
    sessions = np.arange(len(dates))
    pnl = np.where(in_window, scenarios[rows.clip(0), sessions], np.nan)
    days = in_window.sum(axis=0)
    # A session with no return behind it yet (the first) has an all-NaN window: its
    # VaR is NaN, which numpy would also warn about on the terminal.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        var = np.maximum(-np.nanquantile(pnl, 0.05, axis=0), 0.0)
    var = np.where(days >= 20, var, np.nan)

    invested = value.sum(axis=1).to_numpy()
    beta = _window_beta(pnl, invested, closes, benchmark, rows, in_window)
    long_mv = value.clip(lower=0.0).sum(axis=1).to_numpy()
    short_mv = (-value).clip(lower=0.0).sum(axis=1).to_numpy()
    has_book = (value.abs() > 0).any(axis=1).to_numpy()
    weights = value.abs().div(equity_now, axis=0)
    sectors = (
        held.loc[held["sector"] != UNKNOWN_SECTOR]
        .groupby(["date", "sector"])["market_value"]
        .sum()
        .reset_index()
    )
    largest_sector = sectors.loc[sectors.groupby("date")["market_value"].idxmax()].set_index("date")
    with np.errstate(all="ignore"):
        frame = pd.DataFrame(
            {
                "date": dates,
                "equity": equity_now,
                "var_95_1d": np.where(has_book, var, 0.0),
                "gross_exposure": (long_mv + short_mv) / equity_now,
                "net_exposure": (long_mv - short_mv) / equity_now,
                "largest_position": np.where(
                    has_book, weights.idxmax(axis=1).fillna("").to_numpy(), ""
                ),
                "largest_position_weight": weights.max(axis=1).fillna(0.0).to_numpy(),
                "largest_sector": largest_sector["sector"].reindex(dates).fillna("").to_numpy(),
                "largest_sector_weight": (
                    largest_sector["market_value"].reindex(dates).fillna(0.0).to_numpy()
                    / equity_now
                ),
                "beta": np.where(has_book, beta, np.nan),
                "history_days": np.where(has_book, days, 0).astype(int),
            }
        )
    frame["var_95_1d_pct"] = (frame["var_95_1d"] / frame["equity"]).where(frame["equity"] > 0)
    frame["var_95_limit_pct"] = float(var_limit_pct)
    frame["var_breach"] = frame["var_95_1d_pct"] > var_limit_pct
    # The level the morning brief, the check and the alert give the same VaR.
    frame["var_severity"] = limit_severities("var", frame["var_95_1d_pct"], var_limit_pct)
    return frame[RISK_COLUMNS]


def _window_beta(
    pnl: np.ndarray,
    invested: np.ndarray,
    closes: pd.DataFrame,
    benchmark: str,
    rows: np.ndarray,
    in_window: np.ndarray,
) -> np.ndarray:
    """Each session's OLS beta of its book's returns (scenario P&L over the money
    invested) on ``benchmark``'s over the same window: ``risk.beta_to`` column by
    column. NaN with fewer than 20 shared days, or without the benchmark."""
    if benchmark not in closes.columns or not closes[benchmark].notna().any():
        return np.full(pnl.shape[1], np.nan)
    market = closes[benchmark].ffill().pct_change(fill_method=None).to_numpy()
    x = market[rows.clip(0)]
    shared = in_window & np.isfinite(x)
    with np.errstate(all="ignore"):
        y = pnl / np.where(invested != 0, invested, np.nan)[None, :]
        shared &= np.isfinite(y)
        n = shared.sum(axis=0)
        x0, y0 = np.where(shared, x, 0.0), np.where(shared, y, 0.0)
        mean_x, mean_y = x0.sum(axis=0) / n, y0.sum(axis=0) / n
        dx = np.where(shared, x - mean_x, 0.0)
        dy = np.where(shared, y - mean_y, 0.0)
        variance = (dx * dx).sum(axis=0) / n
        beta = (dx * dy).sum(axis=0) / n / variance
    return np.where((n >= 20) & (variance > 0), beta, np.nan)
