"""Resources for the outside world: market data and the broker.

Each provider is a ``ConfigurableResource`` with a small interface; the embedded
default is the deterministic simulator, and a real vendor or broker replaces it by
implementing the same methods, without touching an asset.
"""

from robo_dagster.providers.broker import BrokerProvider, PaperBroker
from robo_dagster.providers.datasets import DatasetNotProvided
from robo_dagster.providers.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderUnavailable,
    UnknownSymbolError,
)
from robo_dagster.providers.market_data import MarketDataProvider
from robo_dagster.providers.simulated import SimulatedMarketData

__all__ = [
    "BrokerProvider",
    "DatasetNotProvided",
    "MarketDataProvider",
    "PaperBroker",
    "ProviderAuthError",
    "ProviderError",
    "ProviderUnavailable",
    "SimulatedMarketData",
    "UnknownSymbolError",
]
