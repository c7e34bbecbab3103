"""The resources every asset, check and job gets, configured from the environment."""

from __future__ import annotations

import os
from typing import Any

from dagster import EnvVar

from robo_dagster import settings
from robo_dagster.ai_analysis.analysts import Analyst, LLMBackedAnalyst, RuleBasedAnalyst
from robo_dagster.providers import PaperBroker, SimulatedMarketData
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
        )
    )


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
        "analyst": build_analyst(),
    }
