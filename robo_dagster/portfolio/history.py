"""Assets of the ``portfolio`` group that keep the book over time: the equity curve,
each position's P&L and each day's risk, one row per session since the account opened.

They are re-derived in full on every run rather than appended by partition: the whole
history of a desk's account is a few hundred sessions and replays in well under a
second (BENCHMARKS.md), and a full replay cannot drift from the blotter the way an
appended history can when a fill is corrected.

The closes are the stored, validated price bars (``market_data/price_bars``), the same
ones ``positions`` and ``portfolio_risk`` mark today's book at, so the last session ties
to them, and to the broker's equity, to the cent. The history reaches back as far as
the stored bars do: when they begin after the account opened, it begins with them
(backfill ``price_bars`` from the opening for the whole history; ``make pipeline`` does).
A session without a stored close for a held symbol is marked on the latest earlier one
(``stale_marks`` counts them).
"""

from collections.abc import Sequence

import pandas as pd
from dagster import MetadataValue, Output

from robo_dagster.asset_defaults import group_asset, upstream
from robo_dagster.domain import calendar
from robo_dagster.domain.history import (
    RISK_WINDOW_SESSIONS,
    SessionBook,
    equity_curve,
    position_pnl,
    replay_by_session,
    reported_equity_curve,
    risk_by_session,
)
from robo_dagster.domain.market_sim import BENCHMARK_SYMBOL
from robo_dagster.metadata import dashboard_page, markdown_preview
from robo_dagster.providers import BrokerProvider, MarketDataProvider, ProviderError
from robo_dagster.providers.broker import Blotter
from robo_dagster.tasks.queues import PORTFOLIO_SYNC
from robo_dagster.warehouse import DuckDBWarehouse

GROUP = "portfolio"
PRICE_BARS = ["market_data", "price_bars"]
history_asset = group_asset(GROUP, owners=["team:portfolio"], queue=PORTFOLIO_SYNC)


def stored_closes(
    warehouse: DuckDBWarehouse, symbols: Sequence[str], sessions: pd.DatetimeIndex
) -> pd.DataFrame:
    """Session x symbol stored closes over ``sessions`` (NaN where none is stored)."""
    wanted = sorted(set(symbols))
    rows = warehouse.query(
        """
        select date, symbol, close from market_data.price_bars
        where symbol in (select unnest(?)) and date between ? and ?
        """,
        [wanted, sessions[0], sessions[-1]],
    )
    wide = rows.pivot(index="date", columns="symbol", values="close")
    return wide.reindex(index=sessions, columns=wanted).astype(float)


def replayed_sessions(
    blotter: Blotter, market: MarketDataProvider, warehouse: DuckDBWarehouse
) -> pd.DatetimeIndex:
    """The sessions from the account's opening, or from the first stored bar when that
    is later, to the market's latest session."""
    ((first_stored,),) = warehouse.query(
        "select min(date) from market_data.price_bars where date <= ?",
        [pd.Timestamp(market.session())],
    ).itertuples(index=False)
    if pd.isna(first_stored):
        raise ProviderError(f"no price bars stored up to {market.session()}: backfill price_bars")
    first = max(calendar.session_on_or_after(blotter.opened_on), pd.Timestamp(first_stored).date())
    sessions = calendar.session_index(first, market.session())
    if not len(sessions):
        raise ProviderError(
            f"the account opened on {blotter.opened_on}, after the market's session "
            f"{market.session()}: there is no history yet"
        )
    return sessions


def replayed_book(
    broker: BrokerProvider, market: MarketDataProvider, warehouse: DuckDBWarehouse
) -> tuple[Blotter, SessionBook, pd.DataFrame]:
    """The blotter, the account replayed over its sessions, and the closes it is marked
    at (the benchmark's among them)."""
    blotter = broker.blotter()
    sessions = replayed_sessions(blotter, market, warehouse)
    # An account opened on a weekend or holiday starts on the next session.
    opening_session = calendar.session_on_or_after(blotter.opened_on)
    book = replay_by_session(
        blotter.trades,
        blotter.opening_cash or 0.0,
        sessions,
        allow_short=blotter.allow_short,
        from_opening=sessions[0].date() <= opening_session,
        cash_flows=blotter.cash_flows,
    )
    closes = stored_closes(warehouse, [*book.quantity.columns, BENCHMARK_SYMBOL], sessions)
    return blotter, book, closes


def _benchmark(closes: pd.DataFrame) -> pd.Series | None:
    return closes.get(BENCHMARK_SYMBOL)


def _headline(frame: pd.DataFrame, columns: Sequence[str]) -> dict[str, MetadataValue]:
    """The latest session's ``columns`` as numbers, which the UI plots over time."""
    latest = frame.iloc[-1]
    return {c: MetadataValue.float(float(latest[c])) for c in columns if pd.notna(latest[c])}


@history_asset(
    deps=[PRICE_BARS, [GROUP, "account_balances"]],
    metadata=dashboard_page("book"),
)
def equity_history(
    broker: BrokerProvider, market: MarketDataProvider, warehouse: DuckDBWarehouse
) -> Output[pd.DataFrame]:
    """The equity curve, one row per session since the account opened: equity, cash and
    market value; the day's P&L (realized, the change in unrealized, fees inside both);
    deposits and withdrawals; the cumulative time-weighted return, the drawdown from its
    running peak, and SPY's cumulative return over the same sessions. Returns are
    fractions. The paper broker's account is replayed from its blotter on the day's
    closes; a broker that keeps its own daily equity (Alpaca's portfolio history) gives
    the equity and P&L, and the columns it does not report are empty. The history
    reaches back as far as the stored price bars do."""
    blotter, book, closes = replayed_book(broker, market, warehouse)
    start, end = book.cash.index[0].date(), book.cash.index[-1].date()
    reported = broker.reported_equity_history(start, end)
    if reported is not None:
        frame = reported_equity_curve(reported, _benchmark(closes))
    elif blotter.opening_cash is None:
        raise ProviderError(
            f"{type(broker).__name__} gives neither its opening cash nor its own equity "
            "history: the equity curve cannot be built"
        )
    else:
        frame = equity_curve(book, closes, _benchmark(closes))
    if frame.empty:
        raise ProviderError(f"the broker reports no equity between {start} and {end}")
    shown = frame.tail(10).iloc[::-1]
    return Output(
        frame,
        metadata=_headline(
            frame,
            ["equity", "day_pnl", "drawdown", "cumulative_return", "benchmark_cumulative_return"],
        )
        | {
            "sessions": len(frame),
            "first_session": MetadataValue.text(str(frame["date"].iloc[0].date())),
            "max_drawdown": MetadataValue.float(float(-frame["drawdown"].min())),
            "stale_marks": int(frame["stale_marks"].sum()),
            "source": MetadataValue.text(str(frame["source"].iloc[0])),
            "preview": markdown_preview(
                shown[["date", "equity", "day_pnl", "cumulative_return", "drawdown"]],
                10,
                floatfmt=",.4f",
            ),
        },
    )


@history_asset(
    ins={
        "equity_history": upstream(GROUP, "equity_history"),
        "universe": upstream("market_data", "universe"),
    },
    deps=[PRICE_BARS],
    metadata=dashboard_page("book"),
)
def pnl_history(
    broker: BrokerProvider,
    market: MarketDataProvider,
    warehouse: DuckDBWarehouse,
    equity_history: pd.DataFrame,
    universe: pd.DataFrame,
) -> Output[pd.DataFrame]:
    """Per session and position: quantity, close and market value; the day's P&L
    (realized plus the change in unrealized) and the P&L since the position was bought;
    its contribution to the day's return and its sector's. A session's contributions sum
    to its return in ``equity_history``."""
    _, book, closes = replayed_book(broker, market, warehouse)
    sectors = universe.set_index("symbol")["sector"]
    frame = position_pnl(book, closes, sectors, equity_history)
    latest = frame.loc[frame["date"] == frame["date"].max()]
    return Output(
        frame,
        metadata={
            "rows": len(frame),
            "sessions": int(frame["date"].nunique()),
            "symbols": int(frame["symbol"].nunique()),
            "latest_day_pnl": MetadataValue.float(float(latest["day_pnl"].sum())),
            "preview": markdown_preview(
                latest.sort_values("contribution", key=abs, ascending=False)[
                    ["symbol", "sector", "market_value", "day_pnl", "total_pnl", "contribution"]
                ],
                15,
                floatfmt=",.4f",
            ),
        },
    )


@history_asset(
    ins={
        "equity_history": upstream(GROUP, "equity_history"),
        "pnl_history": upstream(GROUP, "pnl_history"),
    },
    deps=[PRICE_BARS],
    metadata=dashboard_page("risk"),
)
def risk_history(
    broker: BrokerProvider,
    warehouse: DuckDBWarehouse,
    equity_history: pd.DataFrame,
    pnl_history: pd.DataFrame,
) -> Output[pd.DataFrame]:
    """Per session, that day's book measured as ``portfolio_risk`` measures today's:
    1-day historical VaR 95 % over the 252 sessions before it, against the desk's limit;
    gross and net exposure; the largest position and sector weight; beta to SPY."""
    dates = pd.DatetimeIndex(equity_history["date"])
    # The window before the first session, as far as the stored bars reach.
    sessions = calendar.session_index(
        calendar.session_index(calendar.calendar_start(), dates[0].date())[
            -(RISK_WINDOW_SESSIONS + 1) :
        ][0].date(),
        dates[-1].date(),
    )
    symbols = [*pnl_history["symbol"].unique(), BENCHMARK_SYMBOL]
    closes = stored_closes(warehouse, symbols, sessions)
    frame = risk_by_session(
        pnl_history,
        equity_history,
        closes,
        BENCHMARK_SYMBOL,
        broker.limits().var_95_limit_pct,
    )
    return Output(
        frame,
        metadata=_headline(
            frame, ["var_95_1d_pct", "gross_exposure", "net_exposure", "largest_sector_weight"]
        )
        | {
            "sessions": len(frame),
            "sessions_over_var_limit": int(frame["var_breach"].sum()),
            "preview": markdown_preview(
                frame.tail(10).iloc[::-1][
                    ["date", "var_95_1d_pct", "var_95_limit_pct", "gross_exposure", "beta"]
                ],
                10,
                floatfmt=",.4f",
            ),
        },
    )
