"""Alpaca: market data and a paper-trading broker, over Alpaca's documented wire format."""

from robo_dagster.providers.alpaca.broker import AlpacaBroker
from robo_dagster.providers.alpaca.connection import AlpacaConnection
from robo_dagster.providers.alpaca.market_data import AlpacaMarketData

__all__ = ["AlpacaBroker", "AlpacaConnection", "AlpacaMarketData"]
