"""Bad configuration is refused with a message that names what is wrong."""

import datetime as dt
import json
from pathlib import Path

import pytest

from robo_dagster import settings
from robo_dagster.providers import PaperBroker, ProviderError, SimulatedMarketData
from tests.conftest import AS_OF


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ROBO_UNIVERSE_SIZE", "lots", "ROBO_UNIVERSE_SIZE='lots' is not a whole number"),
        ("ROBO_UNIVERSE_SIZE", "-3", "must be at least 0"),
        ("ROBO_SEED", "1.5", "ROBO_SEED='1.5' is not a whole number"),
        ("ROBO_AS_OF", "yesterday", "ROBO_AS_OF='yesterday' is not a date"),
        ("ROBO_DUCKDB_PATH", "/tmp/portfolio.duckdb", "may not be named after one of the schemas"),
    ],
)
def test_bad_environment_values_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    reader = {
        "ROBO_UNIVERSE_SIZE": settings.universe_size,
        "ROBO_SEED": settings.seed,
        "ROBO_AS_OF": settings.as_of,
        "ROBO_DUCKDB_PATH": settings.duckdb_path,
    }[name]
    with pytest.raises(ValueError, match=message):
        reader()


def test_watchlist_is_read_and_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROBO_WATCHLIST", " amd, intc ,,")
    assert settings.watchlist() == ["AMD", "INTC"]


def broker_for(tmp_path: Path, content: object) -> PaperBroker:
    path = tmp_path / "portfolio.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return PaperBroker(portfolio_file=str(path), market=SimulatedMarketData(as_of=AS_OF))


BASE = {"account_id": "T-1", "opening_cash": 1000.0, "opened_on": "2026-01-02"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ({**BASE, "opening_cash": -5}, "opening_cash"),
        (
            {
                **BASE,
                "trades": [{"date": "2026-01-05", "symbol": "AAPL", "side": "HOLD", "quantity": 1}],
            },
            "side",
        ),
        (
            {
                **BASE,
                "trades": [{"date": "2026-01-05", "symbol": "AAPL", "side": "BUY", "quantity": 0}],
            },
            "quantity",
        ),
        (
            {
                **BASE,
                "trades": [
                    {"date": "2026-01-05", "symbol": "no ticker", "side": "BUY", "quantity": 1}
                ],
            },
            "malformed ticker",
        ),
    ],
)
def test_a_malformed_portfolio_file_names_the_problem(
    tmp_path: Path, content: object, message: str
) -> None:
    with pytest.raises(ProviderError, match=message):
        broker_for(tmp_path, content).portfolio()


def test_trades_on_closed_days_and_missing_files_are_refused(tmp_path: Path) -> None:
    holiday = {
        **BASE,
        "trades": [{"date": "2026-07-03", "symbol": "AAPL", "side": "BUY", "quantity": 1}],
    }
    with pytest.raises(ProviderError, match="non-trading days: 2026-07-03"):
        broker_for(tmp_path, holiday).trades()
    missing = PaperBroker(
        portfolio_file=str(tmp_path / "nope.json"), market=SimulatedMarketData(as_of=AS_OF)
    )
    with pytest.raises(ProviderError, match="does not exist"):
        missing.portfolio()


def test_unpriced_fills_take_the_sessions_close(tmp_path: Path) -> None:
    book = {
        **BASE,
        "trades": [{"date": "2026-11-24", "symbol": "AAPL", "side": "BUY", "quantity": 10}],
    }
    broker = broker_for(tmp_path, book)
    close = broker.market.daily_bars(["AAPL"], [dt.date(2026, 11, 24)])["close"].iloc[0]
    assert broker.trades()["price"].iloc[0] == close
    account = broker.account()
    assert account["cash"] == pytest.approx(1000.0 - 10 * close)
    assert account["open_positions"] == 1
