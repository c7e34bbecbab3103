"""The resources every asset, check and job gets, configured from the environment."""

from __future__ import annotations

from typing import Any

from robo_dagster import settings
from robo_dagster.providers import PaperBroker, SimulatedMarketData
from robo_dagster.warehouse import DuckDBWarehouse, WarehouseIOManager


def build_resources(database: str | None = None, **market_overrides: Any) -> dict[str, Any]:
    """The default resources: the simulated market, the paper broker and the DuckDB file.

    ``database`` and ``market_overrides`` (seed, watchlist, universe_size, as_of) replace
    the environment's values; tests and the benchmark point them at a temporary file.
    """
    path = database or settings.duckdb_path()
    market = SimulatedMarketData(
        **{
            "seed": settings.seed(),
            "watchlist": settings.watchlist(),
            "universe_size": settings.universe_size(),
            "as_of": settings.as_of(),
            **market_overrides,
        }
    )
    return {
        "io_manager": WarehouseIOManager(database=path),
        "warehouse": DuckDBWarehouse(database=path),
        "market": market,
        "broker": PaperBroker(portfolio_file=settings.portfolio_file(), market=market),
    }
