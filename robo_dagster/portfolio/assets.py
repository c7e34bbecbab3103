"""Assets of the ``portfolio`` group: what the broker says, marked on our own prices."""

import pandas as pd
from dagster import MetadataValue, Output

from robo_dagster.asset_defaults import group_asset, upstream
from robo_dagster.domain.market_sim import BENCHMARK_SYMBOL
from robo_dagster.domain.portfolio import UNKNOWN_SECTOR, mark_to_market, summarize_pnl
from robo_dagster.domain.risk import portfolio_risk as compute_portfolio_risk
from robo_dagster.domain.risk import sector_exposure as compute_sector_exposure
from robo_dagster.metadata import dashboard_page, markdown_preview, markdown_record
from robo_dagster.providers import BrokerProvider, MarketDataProvider
from robo_dagster.tasks.queues import PORTFOLIO_SYNC
from robo_dagster.warehouse import DuckDBWarehouse

GROUP = "portfolio"
portfolio_asset = group_asset(GROUP, owners=["team:portfolio"], queue=PORTFOLIO_SYNC)
RISK_WINDOW_SESSIONS = 252
PRICE_BARS = ["market_data", "price_bars"]


@portfolio_asset()
def account_balances(broker: BrokerProvider) -> Output[pd.DataFrame]:
    """Cash, equity, buying power and realized P&L as the broker reports them. The
    broker marks equity on its own feed; the ``positions_reconcile`` check compares it
    with our marks."""
    account = broker.account()
    frame = pd.DataFrame([account])
    return Output(
        frame,
        metadata={
            "equity": MetadataValue.float(float(account["equity"])),  # type: ignore[arg-type]
            "cash": MetadataValue.float(float(account["cash"])),  # type: ignore[arg-type]
            "buying_power": MetadataValue.float(float(account["buying_power"])),  # type: ignore[arg-type]
            "preview": markdown_record(account),
        },
    )


def latest_quotes(
    warehouse: DuckDBWarehouse, symbols: list[str], as_of: pd.Timestamp
) -> pd.DataFrame:
    """The latest stored bar on or before ``as_of`` per symbol, with the previous close."""
    return warehouse.query(
        """
        with ranked as (
            select symbol, date, open, close,
                   lag(close) over (partition by symbol order by date) as prev_close,
                   row_number() over (partition by symbol order by date desc) as recency
            from market_data.price_bars
            where symbol in (select unnest(?)) and date <= ?
        )
        select symbol, date as price_date, open, close, prev_close
        from ranked where recency = 1
        """,
        [symbols, as_of],
    )


@portfolio_asset(
    ins={
        "account_balances": upstream(GROUP, "account_balances"),
        "universe": upstream("market_data", "universe"),
    },
    deps=[PRICE_BARS],
    metadata=dashboard_page("book"),
)
def positions(
    broker: BrokerProvider,
    market: MarketDataProvider,
    warehouse: DuckDBWarehouse,
    account_balances: pd.DataFrame,
    universe: pd.DataFrame,
) -> Output[pd.DataFrame]:
    """Open positions marked to market on the latest stored close: market value, cost
    basis, unrealized, daily and overnight P&L, and weight in our own equity. The sector
    comes from the universe; where the source gives none it is "Unknown"."""
    ledger = broker.ledger()
    if ledger.positions.empty:
        raise ValueError("the broker reports no open positions; nothing to mark")
    quotes = latest_quotes(
        warehouse, ledger.positions["symbol"].tolist(), pd.Timestamp(market.session())
    )
    sectors = universe.set_index("symbol")["sector"]
    marked = mark_to_market(
        ledger.positions, quotes, sectors, cash=float(account_balances["cash"].iloc[0])
    )
    return Output(
        marked,
        metadata={
            "positions": len(marked),
            "market_value": MetadataValue.float(float(marked["market_value"].sum())),
            "marked_on": MetadataValue.text(str(pd.Timestamp(marked["price_date"].min()).date())),
            "preview": markdown_preview(
                marked[
                    [
                        "symbol",
                        "quantity",
                        "last_price",
                        "market_value",
                        "unrealized_pnl",
                        "daily_pnl",
                        "weight",
                    ]
                ],
                20,
            ),
        },
    )


def our_equity(account_balances: pd.DataFrame, positions: pd.DataFrame) -> float:
    """Cash from the broker plus positions at our marks."""
    return float(account_balances["cash"].iloc[0]) + float(positions["market_value"].sum())


@portfolio_asset(
    ins={
        "account_balances": upstream(GROUP, "account_balances"),
        "positions": upstream(GROUP, "positions"),
    },
    metadata=dashboard_page("book"),
)
def portfolio_pnl(account_balances: pd.DataFrame, positions: pd.DataFrame) -> Output[pd.DataFrame]:
    """Realized, unrealized, daily and overnight P&L of the book (one row)."""
    summary = summarize_pnl(
        positions,
        float(account_balances["realized_pnl"].iloc[0]),
        our_equity(account_balances, positions),
    )
    frame = pd.DataFrame([{"as_of": account_balances["as_of"].iloc[0], **summary}])
    return Output(
        frame,
        metadata={k: MetadataValue.float(float(v)) for k, v in summary.items()}
        | {"preview": markdown_preview(frame, 1, floatfmt=",.2f")},
    )


@portfolio_asset(
    ins={
        "account_balances": upstream(GROUP, "account_balances"),
        "positions": upstream(GROUP, "positions"),
    },
    deps=[PRICE_BARS],
    metadata=dashboard_page("risk"),
)
def portfolio_risk(
    warehouse: DuckDBWarehouse, account_balances: pd.DataFrame, positions: pd.DataFrame
) -> Output[pd.DataFrame]:
    """Gross and net exposure, largest-position concentration, beta to the market (SPY),
    1-day historical VaR 95 % and expected shortfall 97.5 % (today's market value times
    each day's returns over the last 252 sessions), max drawdown, and the largest
    sector's weight (one row). Without SPY in the data the
    beta is n/a and ``beta_note`` says why; a position whose sector the source does not
    give counts in ``unknown_sector_weight``, not in a sector."""
    symbols = [*positions["symbol"].tolist(), BENCHMARK_SYMBOL]
    history = warehouse.recent_rows(
        "market_data.price_bars", RISK_WINDOW_SESSIONS + 1, positions["price_date"].max(), symbols
    )
    closes = history.pivot(index="date", columns="symbol", values="close").sort_index()
    equity = our_equity(account_balances, positions)
    risk = compute_portfolio_risk(positions, closes, equity, BENCHMARK_SYMBOL)
    sectors = compute_sector_exposure(positions, equity)
    known = sectors[sectors["sector"] != UNKNOWN_SECTOR]
    # A sector the source does not give is no sector: its weight is reported apart and
    # the sector limit is judged on the known ones.
    risk["largest_sector"] = str(known["sector"].iloc[0]) if len(known) else ""
    risk["largest_sector_weight"] = float(known["weight"].iloc[0]) if len(known) else 0.0
    risk["unknown_sector_weight"] = float(
        sectors.loc[sectors["sector"] == UNKNOWN_SECTOR, "weight"].sum()
    )
    frame = pd.DataFrame([{"as_of": account_balances["as_of"].iloc[0], **risk}])
    beta = float(risk["beta"])
    return Output(
        frame,
        metadata={
            "var_95_1d_pct": MetadataValue.float(float(risk["var_95_1d_pct"])),
            "es_97_5_1d_pct": MetadataValue.float(float(risk["es_97_5_1d_pct"])),
            "var_method": MetadataValue.text(str(risk["var_method"])),
            "beta": MetadataValue.float(beta)
            if beta == beta
            else MetadataValue.text(str(risk["beta_note"])),
            "largest_position_weight": MetadataValue.float(float(risk["largest_position_weight"])),
            "gross_exposure": MetadataValue.float(float(risk["gross_exposure"])),
            "history_days": int(risk["history_days"]),
            "preview": markdown_record(risk),
        },
    )


@portfolio_asset(
    ins={
        "account_balances": upstream(GROUP, "account_balances"),
        "positions": upstream(GROUP, "positions"),
    },
    metadata=dashboard_page("risk"),
)
def sector_exposure(
    account_balances: pd.DataFrame, positions: pd.DataFrame
) -> Output[pd.DataFrame]:
    """Market value and weight of the book per sector."""
    frame = compute_sector_exposure(positions, our_equity(account_balances, positions))
    return Output(frame, metadata={"sectors": len(frame), "preview": markdown_preview(frame, 12)})
