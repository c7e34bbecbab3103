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

from dataclasses import dataclass

import numpy as np
import pandas as pd

from robo_dagster.domain.portfolio import UNKNOWN_SECTOR, AccountBook
from robo_dagster.domain.risk import portfolio_risk, sector_exposure

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
) -> SessionBook:
    """Replay the blotter (date, symbol, side, quantity, price, commission) and keep the
    account as it stood at each of ``sessions``' closes. A fill counts on its own
    session; fills before the first session are in its state, fills after the last are
    left out. ``from_opening``: the first session is the one the account opened on, and
    ``opening_cash`` is deposited on it; otherwise the account already lived before it."""
    if not len(sessions):
        raise ValueError("no sessions to replay the account over")
    book = AccountBook(opening_cash, allow_short)
    dates = pd.to_datetime(trades["date"]) if len(trades) else pd.Series([], dtype="M8[ns]")
    trades = trades.assign(_session=dates.to_numpy()).loc[dates.to_numpy() <= sessions[-1]]
    stamps: list[pd.Timestamp] = []
    totals: list[tuple[float, float]] = []
    holdings: list[pd.DataFrame] = []
    for session, fills in trades.groupby("_session", sort=True):
        book.replay(fills.drop(columns="_session"))
        stamps.append(pd.Timestamp(session))
        totals.append((book.cash, book.commissions))
        holdings.append(book.holdings().set_index("symbol"))

    # The state at a session is that of its latest fill day on or before it.
    def on_sessions(column: str) -> pd.DataFrame:
        if not stamps:
            return pd.DataFrame(index=sessions, dtype=float)
        rows = pd.DataFrame([h[column] for h in holdings], index=pd.DatetimeIndex(stamps))
        return rows.reindex(sessions, method="ffill").fillna(0.0).astype(float)

    scalars = pd.DataFrame(
        totals or [(float(opening_cash), 0.0)],
        index=pd.DatetimeIndex(stamps or [sessions[0]]),
        columns=["cash", "commissions"],
    ).reindex(sessions, method="ffill")
    commissions = scalars["commissions"].fillna(0.0)
    quantity = on_sessions("quantity")
    deposits = pd.Series(0.0, index=sessions)
    if from_opening:
        deposits.iloc[0] = float(opening_cash)
    return SessionBook(
        cash=scalars["cash"].fillna(float(opening_cash)),
        deposits=deposits,
        withdrawals=pd.Series(0.0, index=sessions),
        fees=commissions.diff().fillna(commissions.iloc[0]),
        quantity=quantity,
        cost_basis=quantity * on_sessions("average_cost"),
        realized_pnl=on_sessions("realized_pnl"),
        from_opening=from_opening,
    )


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
    """Per session (``RISK_COLUMNS``), the risk of that day's book as ``portfolio_risk``
    measures today's: historical VaR 95 % over the ``window`` sessions up to it (each
    position's market value that day times its past returns), against the limit;
    gross and net exposure; the largest position and known sector; beta to
    ``benchmark``. ``positions`` is the position P&L (date, symbol, sector, quantity,
    market_value), ``equity`` the equity curve, ``closes`` session x symbol with enough
    sessions before the first for the window."""
    held = positions.loc[positions["quantity"].abs() > 1e-9]
    by_session = dict(tuple(held.groupby("date")))
    closes = closes.sort_index()
    rows = []
    for date, value in zip(pd.DatetimeIndex(equity["date"]), equity["equity"], strict=True):
        book = by_session.get(date)
        row: dict[str, object] = {"date": date, "equity": float(value)}
        if book is None or not float(value) > 0:
            rows.append(
                row
                | {
                    "var_95_1d": 0.0 if book is None else np.nan,
                    "gross_exposure": 0.0,
                    "net_exposure": 0.0,
                    "largest_position": "",
                    "largest_position_weight": 0.0,
                    "largest_sector": "",
                    "largest_sector_weight": 0.0,
                    "beta": np.nan,
                    "history_days": 0,
                }
            )
            continue
        history = closes.loc[:date].iloc[-(window + 1) :]
        risk = portfolio_risk(book, history, float(value), benchmark)
        sectors = sector_exposure(book, float(value))
        known = sectors[sectors["sector"] != UNKNOWN_SECTOR]
        rows.append(
            row
            | {
                key: risk[key]
                for key in (
                    "var_95_1d",
                    "gross_exposure",
                    "net_exposure",
                    "largest_position",
                    "largest_position_weight",
                    "beta",
                    "history_days",
                )
            }
            | {
                "largest_sector": str(known["sector"].iloc[0]) if len(known) else "",
                "largest_sector_weight": float(known["weight"].iloc[0]) if len(known) else 0.0,
            }
        )
    frame = pd.DataFrame(rows)
    frame["var_95_1d_pct"] = (frame["var_95_1d"] / frame["equity"]).where(frame["equity"] > 0)
    frame["var_95_limit_pct"] = float(var_limit_pct)
    frame["var_breach"] = frame["var_95_1d_pct"] > var_limit_pct
    frame["history_days"] = frame["history_days"].astype(int)
    return frame[RISK_COLUMNS]
