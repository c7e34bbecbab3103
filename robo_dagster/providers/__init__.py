"""Resources for the outside world: market data and the broker.

Each provider is a ``ConfigurableResource`` with a small interface; the embedded
default is the deterministic simulator, and a real vendor or broker replaces it by
implementing the same methods, without touching an asset.
"""

from robo_dagster.providers.broker import BrokerProvider, PaperBroker
from robo_dagster.providers.market_data import (
    MarketDataProvider,
    ProviderError,
    ProviderUnavailable,
    SimulatedMarketData,
    UnknownSymbolError,
)

__all__ = [
    "BrokerProvider",
    "MarketDataProvider",
    "PaperBroker",
    "ProviderError",
    "ProviderUnavailable",
    "SimulatedMarketData",
    "UnknownSymbolError",
]
