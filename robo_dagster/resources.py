"""The resources every asset, check and job gets, configured from the environment."""

from __future__ import annotations

import os
from typing import Any

from dagster import EnvVar

from robo_dagster import settings
from robo_dagster.ai_analysis.analysts import Analyst, LLMBackedAnalyst, RuleBasedAnalyst
from robo_dagster.providers import (
    BrokerProvider,
    MarketDataProvider,
    PaperBroker,
    SimulatedMarketData,
)
from robo_dagster.providers.alpaca import AlpacaBroker, AlpacaConnection, AlpacaMarketData
from robo_dagster.providers.files import FilesMarketData
from robo_dagster.providers.llm import LLMAnalyst
from robo_dagster.warehouse import DuckDBWarehouse, WarehouseIOManager


def build_analyst(kind: str | None = None) -> Analyst:
    """The analyst ``ROBO_ANALYST`` asks for. The API key reaches the LLM resource as an
    ``EnvVar``, so Dagster resolves it at run time and never shows its value; a local
    OpenAI-compatible server (Ollama, vLLM, LM Studio) needs no key."""
    kind = kind or settings.analyst()
    if kind == "rules":
        return RuleBasedAnalyst()
    key_variable = settings.API_KEY_VARIABLES[kind]
    api_key: Any = EnvVar(key_variable) if os.environ.get(key_variable) else ""
    return LLMBackedAnalyst(
        llm=LLMAnalyst(
            provider=kind,  # type: ignore[arg-type]
            model=settings.llm_model(kind),
            api_key=api_key,
            base_url=settings.llm_base_url(),
            timeout_s=settings.llm_timeout_s(),
            max_retries=settings.llm_max_retries(),
            deadline_s=settings.llm_deadline_s(),
        )
    )


def build_market(**overrides: Any) -> MarketDataProvider:
    """The market-data source ``ROBO_MARKET_DATA`` asks for: the simulator (default), a
    folder of files (``ROBO_DATA_DIR``) or Alpaca. ``overrides`` (seed, watchlist,
    universe_size, as_of) replace the environment's values where the source has them."""
    source = settings.market_data_source()
    common = {"watchlist": settings.watchlist(), "as_of": settings.as_of()}
    if source == "sim":
        values = {"seed": settings.seed(), "universe_size": settings.universe_size(), **common}
        return SimulatedMarketData(**{**values, **overrides})
    known = {k: v for k, v in overrides.items() if k in common}
    if source == "files":
        folder = settings.data_dir()
        if folder is None:
            raise ValueError("ROBO_MARKET_DATA=files needs ROBO_DATA_DIR, the folder of your files")
        return FilesMarketData(data_dir=folder, **{**common, **known})
    return AlpacaMarketData(
        connection=alpaca_connection(),
        supplement_dir=settings.data_dir(),
        **{**common, **known},
    )


def alpaca_connection() -> AlpacaConnection:
    """Alpaca's endpoints, and its keys as ``EnvVar``s: Dagster resolves them when a run
    starts and never shows their values. A missing one fails that run with the
    variable's name."""
    return AlpacaConnection(
        key_id=EnvVar(settings.ALPACA_KEY_ID_VARIABLE),
        secret_key=EnvVar(settings.ALPACA_SECRET_KEY_VARIABLE),
        trading_url=settings.alpaca_trading_url(),
        data_url=settings.alpaca_data_url(),
        feed=settings.alpaca_feed(),  # type: ignore[arg-type]
    )


def build_broker(market: MarketDataProvider, database: str | None = None) -> BrokerProvider:
    """The broker ``ROBO_BROKER`` asks for: the paper broker on the portfolio file
    (default), or an Alpaca paper account."""
    if settings.broker_kind() == "paper":
        return PaperBroker(
            portfolio_file=settings.portfolio_file(),
            market=market,
            orders_file=settings.paper_orders_file(database),
        )
    return AlpacaBroker(
        connection=alpaca_connection(),
        risk_limits=settings.risk_limits(),
        as_of=market.as_of,
    )


def build_resources(database: str | None = None, **market_overrides: Any) -> dict[str, Any]:
    """The default resources: the market-data source and the broker the environment
    chooses (the simulator and the paper broker by default), and the DuckDB file.

    ``database`` and ``market_overrides`` (seed, watchlist, universe_size, as_of) replace
    the environment's values; tests and the benchmark point them at a temporary file.
    """
    path = database or settings.duckdb_path()
    market = build_market(**market_overrides)
    return {
        "io_manager": WarehouseIOManager(database=path),
        "warehouse": DuckDBWarehouse(database=path),
        "market": market,
        "broker": build_broker(market, path),
        "analyst": build_analyst(),
    }
