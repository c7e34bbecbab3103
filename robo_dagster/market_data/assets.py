"""Assets of the ``market_data`` group. Bodies stay thin: fetch, call ``domain``, return."""

import datetime as dt
import json
from typing import Any

import pandas as pd
from dagster import AssetExecutionContext, BackfillPolicy, Config, MetadataValue, Output
from pydantic import Field

from robo_dagster.asset_defaults import group_asset, upstream
from robo_dagster.domain import calendar
from robo_dagster.domain.indicators import compute_indicators
from robo_dagster.domain.market_sim import RISK_FREE_RATE
from robo_dagster.domain.options import black_scholes_delta, implied_volatility, summarize_chains
from robo_dagster.domain.quality import split_valid_bars
from robo_dagster.domain.sentiment import SENTIMENT_SCHEMA, score_texts
from robo_dagster.market_data.datasets import fetch_dataset, is_provided, not_provided_metadata
from robo_dagster.metadata import dashboard_page, markdown_preview, require_rows
from robo_dagster.partitions import TRADING_DAYS
from robo_dagster.providers import BrokerProvider, MarketDataProvider, UnknownSymbolError
from robo_dagster.providers.datasets import not_provided_frame
from robo_dagster.providers.market_data import (
    EARNINGS_SCHEMA,
    FUNDAMENTALS_SCHEMA,
    NEWS_SCHEMA,
    OPTION_CHAIN_SCHEMA,
    OPTIONS_SUMMARY_SCHEMA,
)
from robo_dagster.tasks.queues import DATA_FETCHER
from robo_dagster.warehouse import DuckDBWarehouse

GROUP = "market_data"
market_data_asset = group_asset(GROUP, owners=["team:market-data"], queue=DATA_FETCHER)
QUARANTINE_TABLE = "market_data.price_bars_quarantine"


@market_data_asset(deps=[["portfolio", "account_balances"]])
def universe(
    context: AssetExecutionContext, market: MarketDataProvider, broker: BrokerProvider
) -> Output[pd.DataFrame]:
    """The tradable universe, as the source serves it: on the simulator, the seed's five
    symbols, the SPY benchmark, the watchlist and, for benchmarks, generated symbols
    (``ROBO_UNIVERSE_SIZE``); on files, the symbols in the folder; on Alpaca, the seed's
    symbols, SPY, the watchlist and the broker's holdings, checked against its asset
    list. ``is_held`` flags the book. It follows each broker sync, so the data fetched
    next always covers the book; a held symbol the source cannot serve fails here."""
    held = sorted(set(broker.ledger().positions["symbol"]))
    frame = require_rows(market.universe(held), "universe")
    unknown = sorted(set(held) - set(frame["symbol"]))
    if unknown:
        raise UnknownSymbolError(
            f"the broker holds {', '.join(unknown)}, which the market-data source does not "
            f"list ({market.describe()}): {market.how_to_add_symbols()}"
        )
    frame["is_held"] = frame["symbol"].isin(set(held))
    no_sector = frame.loc[frame["sector"].isna(), "symbol"].tolist()
    note = market.as_of_note()
    if note:
        context.log.warning(note)
    return Output(
        frame,
        metadata={
            "source": MetadataValue.text(market.describe()),
            "market_date": MetadataValue.text(note or str(market.session())),
            "symbols": len(frame),
            "watchlist": MetadataValue.text(", ".join(frame.loc[frame["on_watchlist"], "symbol"])),
            "held": MetadataValue.text(", ".join(frame.loc[frame["is_held"], "symbol"])),
            "benchmark": MetadataValue.text(
                ", ".join(frame.loc[frame["is_benchmark"], "symbol"])
                or "none: beta and the market factor are n/a"
            ),
            "without_sector": MetadataValue.text(", ".join(no_sector) or "none"),
            "preview": markdown_preview(frame, 15),
        },
    )


@market_data_asset(
    ins={"universe": upstream(GROUP, "universe")},
    partitions_def=TRADING_DAYS,
    backfill_policy=BackfillPolicy.single_run(),
    metadata={"partition_expr": "date"},
)
def price_bars(
    context: AssetExecutionContext,
    market: MarketDataProvider,
    warehouse: DuckDBWarehouse,
    universe: pd.DataFrame,
) -> Output[pd.DataFrame]:
    """Daily OHLCV bars, one partition per XNYS session. A backfill of any range runs as
    one run. Bars that fail validation (NaN, non-positive, OHLC-inconsistent, duplicate)
    go to ``market_data.price_bars_quarantine`` with their reason, never to this table."""
    sessions = [dt.date.fromisoformat(k) for k in context.partition_keys]
    symbols = universe["symbol"].tolist()
    context.log.info(
        f"fetching {len(symbols)} symbols x {len(sessions)} sessions "
        f"({sessions[0]} to {sessions[-1]})"
    )
    bars = require_rows(market.daily_bars(symbols, sessions), "price_bars")
    valid, rejected = split_valid_bars(bars, calendar.session_index(sessions[0], sessions[-1]))
    quarantine_bars(warehouse, rejected, context.run_id, symbols, sessions[0], sessions[-1])
    if not rejected.empty:
        context.log.warning(
            f"quarantined {len(rejected)} bar(s): {rejected['reason'].value_counts().to_dict()}"
        )
    require_rows(valid, "price_bars (after quarantine)")
    valid = valid.assign(date=pd.to_datetime(valid["date"]))
    latest = valid[valid["date"] == valid["date"].max()]
    return Output(
        valid.reset_index(drop=True),
        metadata={
            "sessions": len(sessions),
            "symbols": int(valid["symbol"].nunique()),
            "quarantined_rows": len(rejected),
            "latest_session": MetadataValue.text(str(valid["date"].max().date())),
            "preview": markdown_preview(latest.sort_values("symbol"), 10),
        },
    )


def quarantine_bars(
    warehouse: DuckDBWarehouse,
    rejected: pd.DataFrame,
    run_id: str,
    symbols: list[str],
    first: dt.date,
    last: dt.date,
) -> None:
    """Record the rejected bars of a fetch with their reason, so nothing a provider
    sent is lost. The fetch's verdict replaces the earlier one for the same symbols and
    sessions (and for rows without a readable date), in one transaction, so the table
    holds exactly the bad rows of the latest data and a re-run adds nothing twice. It
    exists from the first run on, empty while every bar is valid."""
    payloads = rejected.drop(columns=["reason"]).astype(str).to_dict(orient="records")
    quarantined = pd.DataFrame(
        {
            "symbol": rejected["symbol"].astype(str),
            "date": pd.to_datetime(rejected["date"]),
            "reason": rejected["reason"].astype(str),
            "payload": [json.dumps(p) for p in payloads],
            "run_id": run_id,
            "quarantined_at": pd.Timestamp.now(tz="UTC").tz_localize(None),
        }
    )

    def write(conn: Any) -> None:
        conn.execute("create schema if not exists market_data")
        conn.execute(
            f"create table if not exists {QUARANTINE_TABLE} (symbol varchar, date timestamp, "
            "reason varchar, payload varchar, run_id varchar, quarantined_at timestamp)"
        )
        conn.register("quarantined", quarantined)
        conn.execute(
            f"delete from {QUARANTINE_TABLE} where symbol in (select unnest(?)) "
            "and (date is null or date between ? and ?)",
            [symbols, pd.Timestamp(first), pd.Timestamp(last)],
        )
        conn.execute(f"insert into {QUARANTINE_TABLE} by name select * from quarantined")

    warehouse.transaction(write, f"quarantining bars {first} to {last}")


@market_data_asset(
    ins={"price_bars": upstream(GROUP, "price_bars")},
    metadata=dashboard_page("market"),
)
def technical_indicators(price_bars: pd.DataFrame) -> Output[pd.DataFrame]:
    """SMA 20/50/200, EMA 12/26, RSI(14), MACD(12,26,9), Bollinger(20,2), ATR(14), returns
    and 20-day realized volatility for every symbol over all stored sessions. Definitions
    match TA-Lib (Wilder smoothing for RSI and ATR, population std for Bollinger)."""
    frame = compute_indicators(require_rows(price_bars, "technical_indicators input"))
    latest = frame[frame["date"] == frame["date"].max()]
    return Output(
        frame,
        metadata={
            "symbols": int(frame["symbol"].nunique()),
            "sessions": int(frame["date"].nunique()),
            "latest_session": MetadataValue.text(str(pd.Timestamp(frame["date"].max()).date())),
            "preview": markdown_preview(
                latest[
                    ["symbol", "close", "rsi_14", "macd", "sma_50", "atr_14", "realized_vol_20"]
                ],
                10,
            ),
        },
    )


class NewsConfig(Config):
    lookback_sessions: int = Field(5, ge=1, le=60, description="Sessions of headlines to keep.")


@market_data_asset(
    ins={"universe": upstream(GROUP, "universe")},
    metadata=dashboard_page("market"),
)
def news(
    context: AssetExecutionContext,
    config: NewsConfig,
    market: MarketDataProvider,
    universe: pd.DataFrame,
) -> Output[pd.DataFrame]:
    """Headlines of the last sessions with the vendor's impact score and a VADER
    sentiment score (compound in [-1, 1]) and label. Not provided when the source has
    no news feed (a folder without ``news.jsonl``) or its feed is down."""
    end = market.session()
    start = calendar.session_index(end - dt.timedelta(days=5 * config.lookback_sessions + 10), end)[
        -config.lookback_sessions
    ].date()
    symbols = universe.loc[~universe["is_benchmark"], "symbol"].tolist()
    schema = {**NEWS_SCHEMA, **SENTIMENT_SCHEMA}
    headlines = fetch_dataset(context, "news", schema, lambda: market.news(symbols, start, end))
    if (absent := not_provided_metadata(headlines)) is not None:
        return Output(headlines, metadata=absent)
    scored = pd.concat(
        [
            headlines.reset_index(drop=True),
            score_texts(headlines["headline"].reset_index(drop=True)),
        ],
        axis=1,
    )
    high_impact = scored[scored["impact"] >= 0.7]
    return Output(
        scored,
        metadata={
            "headlines": len(scored),
            "high_impact": len(high_impact),
            "window": MetadataValue.text(f"{start} to {end}"),
            "mean_sentiment": float(scored["sentiment"].mean()),
            "preview": markdown_preview(
                scored.sort_values("impact", ascending=False)[
                    ["published_at", "symbol", "headline", "impact", "sentiment"]
                ],
                10,
            ),
        },
    )


@market_data_asset(
    ins={"universe": upstream(GROUP, "universe")},
    metadata=dashboard_page("market"),
)
def earnings(
    context: AssetExecutionContext, market: MarketDataProvider, universe: pd.DataFrame
) -> Output[pd.DataFrame]:
    """The earnings calendar from 120 days back to 120 days ahead: estimates, and for
    reports already out, the actual EPS and the surprise. Alpaca has no earnings: they
    come from ``earnings.csv`` in ``ROBO_DATA_DIR``, or are not provided."""
    session = market.session()
    symbols = universe.loc[~universe["is_benchmark"], "symbol"].tolist()
    frame = fetch_dataset(
        context,
        "earnings",
        EARNINGS_SCHEMA,
        lambda: market.earnings(
            symbols, session - dt.timedelta(days=120), session + dt.timedelta(days=120)
        ),
    )
    if (absent := not_provided_metadata(frame)) is not None:
        return Output(frame, metadata=absent)
    upcoming = frame[frame["status"] == "scheduled"]
    return Output(
        frame,
        metadata={
            "reports": len(frame),
            "reported": int((frame["status"] == "reported").sum()),
            "next_report": MetadataValue.text(
                str(pd.Timestamp(upcoming["report_date"].min()).date()) if len(upcoming) else "none"
            ),
            "preview": markdown_preview(upcoming.head(10) if len(upcoming) else frame.tail(10), 10),
        },
    )


@market_data_asset(
    ins={"universe": upstream(GROUP, "universe")},
)
def fundamentals(
    context: AssetExecutionContext, market: MarketDataProvider, universe: pd.DataFrame
) -> Output[pd.DataFrame]:
    """Sector, market cap, trailing and forward EPS, P/E, P/B, dividend yield and beta
    per symbol, as of the latest session. Alpaca has none: they come from
    ``fundamentals.csv`` in ``ROBO_DATA_DIR``, or are not provided."""
    symbols = universe["symbol"].tolist()
    frame = fetch_dataset(
        context, "fundamentals", FUNDAMENTALS_SCHEMA, lambda: market.fundamentals(symbols)
    )
    if (absent := not_provided_metadata(frame)) is not None:
        return Output(frame, metadata=absent)
    return Output(
        frame,
        metadata={
            "symbols": len(frame),
            "preview": markdown_preview(
                frame[["symbol", "sector", "price", "market_cap", "eps_ttm", "pe_ratio"]], 10
            ),
        },
    )


@market_data_asset(
    ins={"universe": upstream(GROUP, "universe")},
)
def option_chains(
    context: AssetExecutionContext, market: MarketDataProvider, universe: pd.DataFrame
) -> Output[pd.DataFrame]:
    """Option quotes on the next monthly expiries with the implied volatility solved from
    each mid price (Black–Scholes–Merton) and its delta. A quote outside no-arbitrage
    bounds keeps a NaN implied volatility rather than a made-up one. A dividend yield
    the source does not give counts as 0. Not provided by the files source, or while
    the options feed is down."""
    symbols = universe["symbol"].tolist()
    chains = fetch_dataset(
        context, "option_chains", OPTION_CHAIN_SCHEMA, lambda: market.option_chains(symbols)
    )
    if (absent := not_provided_metadata(chains)) is not None:
        return Output(chains, metadata=absent)
    mid = (chains["bid"] + chains["ask"]) / 2.0
    t_years = chains["days_to_expiry"].to_numpy() / 365.0
    is_call = (chains["option_type"] == "call").to_numpy()
    spot = chains["underlying_price"].to_numpy()
    strike = chains["strike"].to_numpy()
    q = chains["dividend_yield"].fillna(0.0).to_numpy()
    iv = implied_volatility(mid.to_numpy(), spot, strike, t_years, RISK_FREE_RATE, is_call, q)
    frame = chains.assign(
        mid=mid,
        implied_vol=iv,
        delta=black_scholes_delta(spot, strike, t_years, RISK_FREE_RATE, iv, is_call, q),
    )
    return Output(
        frame,
        metadata={
            "contracts": len(frame),
            "symbols": int(frame["symbol"].nunique()),
            "iv_unsolved": int(frame["implied_vol"].isna().sum()),
            "preview": markdown_preview(frame.head(10), 10),
        },
    )


@market_data_asset(
    ins={"option_chains": upstream(GROUP, "option_chains")},
)
def options_summary(option_chains: pd.DataFrame) -> Output[pd.DataFrame]:
    """Per symbol: at-the-money implied volatility (30-day expiry), put/call volume and
    open-interest ratios, and the 25-delta skew (put IV minus call IV). Not provided
    when the option chains were not."""
    if not is_provided(option_chains):
        frame = not_provided_frame(OPTIONS_SUMMARY_SCHEMA, "the option chains were not provided")
        return Output(frame, metadata=not_provided_metadata(frame))
    frame = require_rows(summarize_chains(option_chains), "options_summary")
    return Output(frame, metadata={"symbols": len(frame), "preview": markdown_preview(frame, 10)})
