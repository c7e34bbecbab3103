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
        ("ROBO_AS_OF", "2999-01-04", "ROBO_AS_OF='2999-01-04' is after today"),
        ("ROBO_AS_OF", "1900-01-02", "ROBO_AS_OF='1900-01-02' is before the exchange calendar"),
        ("ROBO_SEED", str(2**70), "ROBO_SEED=1180591620717411303424 must be at most"),
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
        # Numbers must be numbers: true is not one share, "5" is not five.
        (
            {
                **BASE,
                "trades": [
                    {"date": "2026-01-05", "symbol": "AAPL", "side": "BUY", "quantity": True}
                ],
            },
            r"trades\.0\.quantity\n  Input should be a valid number",
        ),
        ({**BASE, "opening_cash": "1000"}, "opening_cash"),
        # Non-finite numbers are refused everywhere in the file.
        (
            '{"account_id": "T-1", "opening_cash": 1e999, "opened_on": "2026-01-02"}',
            "finite number",
        ),
        ({**BASE, "limits": {"var_95_limit_pct": float("nan")}}, "finite number"),
        # Free text is bounded: no 10 MB account id in the UI.
        ({**BASE, "account_id": "A" * 10_000_000}, "account_id"),
        ({**BASE, "currency": "dollars"}, "currency"),
        ({**BASE, "opened_on": "2026-11-30"}, "opened_on 2026-11-30 is after the market's session"),
        (
            {
                **BASE,
                "trades": [{"date": "2025-12-31", "symbol": "AAPL", "side": "BUY", "quantity": 1}],
            },
            "trades before the account opened on 2026-01-02: AAPL on 2025-12-31",
        ),
        ({**BASE, "limits": {"max_positon_weight": 0.2}}, "max_positon_weight"),
        ({**BASE, "nickname": "x"}, "nickname"),
        (
            {**BASE, "cash_flows": [{"date": "2026-01-02", "amount": 500.0}]},
            "cash flows on or before the account opened on 2026-01-02 .put them in opening_cash",
        ),
        ({**BASE, "cash_flows": [{"date": "2026-02-02", "amount": 0.0}]}, "moves no money"),
        ({**BASE, "cash_flows": [{"date": "2026-02-02", "amount": "5"}]}, "cash_flows.0.amount"),
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


def test_deposits_and_withdrawals_are_in_the_cash_and_the_capital(tmp_path: Path) -> None:
    book = {
        **BASE,
        "cash_flows": [
            {"date": "2026-03-02", "amount": 2500.0, "note": "top-up"},
            {"date": "2026-06-01", "amount": -400.0},
            {"date": "2026-12-01", "amount": 9999.0},  # after the market's session: not yet
        ],
    }
    broker = broker_for(tmp_path, book)
    assert broker.opening_capital() == pytest.approx(1000.0 + 2500.0 - 400.0)
    assert broker.account()["cash"] == pytest.approx(3100.0)
    assert broker.blotter().cash_flows["amount"].tolist() == [2500.0, -400.0]


@pytest.mark.parametrize(
    ("name", "value", "reader", "message"),
    [
        (
            "ROBO_MARKET_DATA",
            "bloomberg",
            "market_data_source",
            "must be one of sim, alpaca, files",
        ),
        ("ROBO_BROKER", "ibkr", "broker_kind", "must be one of paper, alpaca"),
        ("ROBO_ALPACA_FEED", "opra", "alpaca_feed", "must be one of iex, sip"),
        (
            "ROBO_ALPACA_TRADING_URL",
            "https://api.alpaca.markets",
            "alpaca_trading_url",
            "live trading endpoint",
        ),
        ("ROBO_ALPACA_DATA_URL", "data.alpaca.markets", "alpaca_data_url", "must be an http"),
        ("ROBO_DATA_DIR", "/no/such/folder", "data_dir", "is not a folder"),
        ("ROBO_RISK_LIMITS", '{"max_positon_weight": 0.2}', "risk_limits", "max_positon_weight"),
        (
            "ROBO_RISK_LIMITS",
            '{"max_position_weight": 7}',
            "risk_limits",
            "less than or equal to 1",
        ),
    ],
)
def test_bad_source_settings_are_refused_with_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, reader: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        getattr(settings, reader)()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2004-13-01", "ROBO_HISTORY_START='2004-13-01' is not a date"),
        ("1970-01-02", "at the earliest"),
        ("2999-01-04", "is in the future"),
    ],
)
def test_a_bad_history_start_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    from robo_dagster.domain import calendar

    monkeypatch.setenv("ROBO_HISTORY_START", value)
    with pytest.raises(ValueError, match=message):
        calendar.history_start()


def test_the_files_source_needs_its_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    from robo_dagster.resources import build_market

    monkeypatch.setenv("ROBO_MARKET_DATA", "files")
    monkeypatch.delenv("ROBO_DATA_DIR", raising=False)
    with pytest.raises(ValueError, match="needs ROBO_DATA_DIR"):
        build_market()


def test_the_simulator_refuses_sessions_before_its_epoch() -> None:
    with pytest.raises(ProviderError, match="simulated market starts on 2015-01-01"):
        SimulatedMarketData(as_of=AS_OF).daily_bars(["AAPL"], [dt.date(2012, 3, 1)])


def test_definitions_load_on_alpaca_without_keys_and_a_run_names_the_variable(
    tmp_path: Path,
) -> None:
    """The UI loads without keys (EnvVar resolves when a run starts); the run then fails
    naming the variable to set."""
    import os
    import subprocess
    import sys

    env = {
        k: v for k, v in os.environ.items() if k not in ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY")
    }
    env.update(ROBO_MARKET_DATA="alpaca", ROBO_BROKER="alpaca", DAGSTER_HOME=str(tmp_path))
    script = (
        "from dagster import materialize\n"
        "from robo_dagster.definitions import defs\n"
        "defs.validate_loadable(defs)\n"
        "print('definitions load', flush=True)\n"
        "from robo_dagster.portfolio.assets import account_balances\n"
        "from robo_dagster.resources import build_resources\n"
        f"resources = build_resources({str(tmp_path / 'robo.duckdb')!r})\n"
        "r = materialize([account_balances], resources=resources, raise_on_error=False)\n"
        "print('loaded', r.success)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    output = run.stdout + run.stderr
    assert "definitions load" in run.stdout, output[-2000:]
    assert "loaded True" not in run.stdout
    assert "APCA_API_KEY_ID" in output, output[-2000:]


def test_metadata_previews_are_bounded() -> None:
    import pandas as pd

    from robo_dagster.metadata import MAX_CELL_CHARS, markdown_preview, markdown_record

    huge = "A" * 10_000_000
    preview = markdown_preview(pd.DataFrame({"account_id": [huge], "cash": [1.0]})).value
    record = markdown_record({"account_id": huge, "cash": 1.0}).value
    for text in (preview, record):
        assert len(text) < 1_000
        assert "A" * MAX_CELL_CHARS not in text and "…" in text
    wide = pd.DataFrame({"c": [f"row {i} " + "x" * 100 for i in range(500)]})
    assert len(markdown_preview(wide, rows=500).value) <= 20_100


def test_an_as_of_on_a_holiday_says_what_the_market_date_became() -> None:
    note = SimulatedMarketData(as_of="2026-11-26").as_of_note()
    assert note == (
        "ROBO_AS_OF 2026-11-26: Thursday 2026-11-26: Thanksgiving, the exchange is closed; "
        "the market's date is the session before, 2026-11-25"
    )
    assert SimulatedMarketData(as_of="2026-11-25").as_of_note() is None


def test_the_universe_shows_the_market_date_a_holiday_rolled_back_to(tmp_path: Path) -> None:
    from dagster import materialize

    from robo_dagster.market_data.assets import universe
    from robo_dagster.resources import build_resources

    resources = build_resources(str(tmp_path / "robo.duckdb"), as_of="2026-11-26")
    result = materialize([universe], resources=resources)
    metadata = result.asset_materializations_for_node("market_data__universe")[0].metadata
    assert "Thanksgiving" in metadata["market_date"].value
    assert "2026-11-25" in metadata["market_date"].value
