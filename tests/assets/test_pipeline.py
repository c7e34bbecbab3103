"""The whole graph materialized on a temporary DuckDB, and what must never happen to it."""

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
from dagster import (
    AssetCheckSeverity,
    AssetSelection,
    DagsterInstance,
    build_reconstructable_job,
    execute_job,
    materialize,
)

from robo_dagster.definitions import defs
from robo_dagster.domain import calendar
from robo_dagster.market_data.assets import price_bars, universe
from robo_dagster.portfolio.history_checks import (
    equity_history_ties_to_broker,
    pnl_history_ties_to_equity,
)
from robo_dagster.providers import (
    PaperBroker,
    ProviderError,
    SimulatedMarketData,
    UnknownSymbolError,
)
from robo_dagster.resources import build_resources
from robo_dagster.tasks.submission import parallel_execution_config
from tests.conftest import AS_OF, WATCHLIST, materialize_all, range_tags, session_range

SESSIONS = 260
SYMBOLS = 5 + 1 + len(WATCHLIST)  # seed symbols, SPY, watchlist


def read(path: str, sql: str) -> pd.DataFrame:
    with duckdb.connect(path) as conn:
        return conn.execute(sql).fetchdf()


def checks_by_name(result: Any) -> dict[str, Any]:
    return {ev.check_name: ev for ev in result.get_asset_check_evaluations()}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any]:
    path = str(tmp_path_factory.mktemp("pipeline") / "robo.duckdb")
    resources = build_resources(path, as_of=AS_OF, watchlist=WATCHLIST, universe_size=0, seed=7)
    result = materialize_all(resources, sessions=SESSIONS)
    return path, result


def test_every_asset_lands_in_its_schema(built: tuple[str, Any]) -> None:
    path, result = built
    assert result.success
    tables = read(
        path,
        "select schema_name || '.' || table_name as t, estimated_size as n from duckdb_tables()",
    )
    graph = defs.resolve_asset_graph()
    # The inbox and the monitoring tables are written by other systems and by sensors;
    # the execution group runs only in execution_job (tests/execution).
    expected = {
        key.to_user_string().replace("/", ".")
        for key in graph.get_all_asset_keys()
        if graph.get(key).is_executable and key.path[0] != "execution"
    }
    assert expected <= set(tables["t"])
    assert (tables.set_index("t").loc[sorted(expected), "n"] > 0).all()
    for event in result.get_asset_materialization_events():
        metadata = event.materialization.metadata
        assert {"dagster/row_count", "dagster/column_schema"} <= set(metadata)
        assert {"preview", "report", "summary"} & set(metadata)  # something a person reads
        assert metadata["dagster/row_count"].value > 0


def test_tables_have_the_right_shape(built: tuple[str, Any]) -> None:
    path, _ = built
    bars = read(path, "select * from market_data.price_bars")
    assert len(bars) == SYMBOLS * SESSIONS
    assert bars["date"].max() == pd.Timestamp(AS_OF)
    ind = read(path, "select * from market_data.technical_indicators")
    assert len(ind) == len(bars)
    latest = ind[ind["date"] == ind["date"].max()]
    assert latest["rsi_14"].between(0, 100).all() and latest["sma_200"].notna().all()
    positions = read(path, "select * from portfolio.positions")
    assert set(positions["symbol"]) == {
        "AAPL",
        "AMZN",
        "GOOGL",
        "JPM",
        "MSFT",
        "NVDA",
        "TSLA",
        "UNH",
        "XOM",
    }
    assert (positions["price_date"] == pd.Timestamp(AS_OF)).all()
    account = read(path, "select * from portfolio.account_balances")
    assert len(account) == 1 and account["equity"].iloc[0] == pytest.approx(
        account["cash"].iloc[0] + positions["market_value"].sum()
    )
    risk = read(path, "select * from portfolio.portfolio_risk").iloc[0]
    assert risk["history_days"] == 252
    assert 0 < risk["var_95_1d_pct"] < 0.2 and 0.5 < risk["beta"] < 2.0
    assert risk["gross_exposure"] == pytest.approx(positions["weight"].sum())
    pnl = read(path, "select * from portfolio.portfolio_pnl").iloc[0]
    assert pnl["daily_pnl"] == pytest.approx(positions["daily_pnl"].sum())
    news = read(path, "select * from market_data.news")
    assert news["sentiment"].between(-1, 1).all() and news["news_id"].is_unique
    options = read(path, "select * from market_data.options_summary")
    assert len(options) == SYMBOLS and options["atm_iv"].between(0.05, 1.5).all()
    chains = read(path, "select * from market_data.option_chains")
    assert chains["implied_vol"].notna().mean() > 0.95


def test_checks_pass_on_a_clean_market(built: tuple[str, Any]) -> None:
    checks = checks_by_name(built[1])
    for name in [
        "price_bars_valid",
        "price_bars_complete",
        "price_bars_fresh",
        "positions_reconcile",
        "var_within_limit",
        "equity_history_ties_to_broker",
        "pnl_history_ties_to_equity",
    ]:
        assert checks[name].passed, (name, checks[name].description)


def test_the_book_has_a_history_as_far_back_as_the_bars(built: tuple[str, Any]) -> None:
    path, result = built
    equity = read(path, "select * from portfolio.equity_history order by date")
    bars = read(path, "select date, close from market_data.price_bars where symbol = 'SPY'")
    spy = bars.set_index("date")["close"].sort_index()
    # The account opened before the backfill's first session: the history starts there,
    # as the account stood, with that day's P&L unknown.
    assert equity["date"].tolist() == spy.index.tolist()
    first = equity.iloc[0]
    assert first[["day_pnl", "realized_pnl", "daily_return"]].isna().all()
    assert first["deposits"] == 0 and first["cumulative_return"] == 0
    assert equity["day_pnl"].iloc[1:].notna().all()
    assert equity["equity"].iloc[0] + equity["day_pnl"].sum() == pytest.approx(
        equity["equity"].iloc[-1]
    )
    account = read(path, "select * from portfolio.account_balances").iloc[0]
    assert equity["equity"].iloc[-1] == pytest.approx(account["equity"], abs=0.005)
    assert equity["cash"].iloc[-1] == pytest.approx(account["cash"], abs=0.005)
    assert equity["benchmark_cumulative_return"].iloc[-1] == pytest.approx(
        spy.iloc[-1] / spy.iloc[0] - 1
    )
    assert (equity["drawdown"] <= 0).all() and equity["drawdown"].min() < 0

    pnl = read(path, "select * from portfolio.pnl_history")
    today = pnl.loc[pnl["date"] == pnl["date"].max()].set_index("symbol").sort_index()
    positions = read(path, "select * from portfolio.positions").set_index("symbol").sort_index()
    assert today.index.tolist() == positions.index.tolist()
    assert today["day_pnl"].to_numpy() == pytest.approx(positions["daily_pnl"].to_numpy())
    assert today["total_pnl"].to_numpy() == pytest.approx(
        (positions["unrealized_pnl"] + positions["realized_pnl"]).to_numpy()
    )
    assert (today["sector"] == positions["sector"]).all()

    risk_today = read(path, "select * from portfolio.portfolio_risk").iloc[0]
    risk = read(path, "select * from portfolio.risk_history order by date")
    assert len(risk) == len(equity)
    for column in ("var_95_1d", "gross_exposure", "largest_position_weight", "beta"):
        assert risk[column].iloc[-1] == pytest.approx(risk_today[column], rel=1e-9), column
    assert risk["largest_sector"].iloc[-1] == risk_today["largest_sector"]

    plotted = {
        event.asset_key.path[-1]: event.materialization.metadata
        for event in result.get_asset_materialization_events()
    }
    for asset, numbers in {
        "equity_history": ["equity", "day_pnl", "drawdown"],
        "risk_history": ["var_95_1d_pct", "gross_exposure"],
    }.items():
        for name in numbers:
            assert isinstance(plotted[asset][name].value, float), (asset, name)
    assert plotted["equity_history"]["equity"].value == equity["equity"].iloc[-1]


def test_an_account_opened_within_the_bars_has_its_whole_history(
    tmp_path: Path, resources: dict[str, Any]
) -> None:
    sessions = calendar.session_index("2026-01-01", AS_OF)
    bought, sold, deposited, withdrawn = (sessions[i].date().isoformat() for i in (12, 40, 50, 60))
    # Opened on a holiday (Martin Luther King Jr. Day): the history starts on the next
    # session, sessions[11], with the opening deposit.
    opened = "2026-01-19"
    assert not calendar.is_session(opened) and sessions[11] == pd.Timestamp("2026-01-20")
    book = {
        "account_id": "NEW-1",
        "opening_cash": 100_000.0,
        "opened_on": opened,
        "trades": [
            {"date": bought, "symbol": "XOM", "side": "BUY", "quantity": 300, "commission": 1.5},
            {"date": bought, "symbol": "JPM", "side": "BUY", "quantity": 100, "commission": 1.5},
            {"date": sold, "symbol": "XOM", "side": "SELL", "quantity": 100, "commission": 1.5},
        ],
        "cash_flows": [
            {"date": deposited, "amount": 25_000.0},
            {"date": withdrawn, "amount": -5_000.0},
        ],
    }
    (tmp_path / "new.json").write_text(json.dumps(book))
    resources["broker"] = PaperBroker(
        portfolio_file=str(tmp_path / "new.json"), market=resources["market"]
    )
    result = materialize_all(
        resources,
        sessions=len(sessions),
        selection=AssetSelection.groups("portfolio") | AssetSelection.assets(universe, price_bars),
    )
    assert result.success
    path = resources["warehouse"].database
    equity = read(path, "select * from portfolio.equity_history order by date")
    assert equity["date"].iloc[0] == sessions[11] and len(equity) == len(sessions) - 11
    moved = equity.set_index("date")[["deposits", "withdrawals"]]
    assert moved.loc[sessions[11], "deposits"] == 100_000.0
    assert moved.loc[sessions[50], "deposits"] == 25_000.0
    assert moved.loc[sessions[60], "withdrawals"] == 5_000.0
    assert moved.to_numpy().sum() == 130_000.0  # nothing else moved
    assert equity["fees"].sum() == pytest.approx(4.5)
    assert 120_000.0 + equity["day_pnl"].sum() == pytest.approx(equity["equity"].iloc[-1])
    assert (equity.loc[equity["date"] < sessions[12], "market_value"] == 0).all()
    # The sale realises against the average cost, its buy fee included.
    xom = read(path, "select date, close from market_data.price_bars where symbol = 'XOM'")
    closes = xom.set_index("date")["close"]
    average = closes[sessions[12]] + 1.5 / 300
    realized = (closes[sessions[40]] - average) * 100 - 1.5
    assert equity.set_index("date").loc[sessions[40], "realized_pnl"] == pytest.approx(realized)
    pnl = read(path, "select * from portfolio.pnl_history")
    assert set(pnl["symbol"]) == {"XOM", "JPM"}
    assert pnl.loc[pnl["date"] == pnl["date"].max(), "quantity"].sort_values().tolist() == [
        100.0,
        200.0,
    ]
    checks = checks_by_name(result)
    assert checks["equity_history_ties_to_broker"].passed
    assert checks["pnl_history_ties_to_equity"].passed
    assert checks["pnl_ties_to_equity"].passed  # total P&L = equity - the capital put in


def test_a_history_that_does_not_tie_fails_its_checks(built: tuple[str, Any]) -> None:
    path, _ = built
    equity = read(path, "select * from portfolio.equity_history order by date")
    pnl = read(path, "select * from portfolio.pnl_history")
    account = read(path, "select * from portfolio.account_balances")
    wrong = equity.copy()
    wrong.loc[wrong.index[100], "day_pnl"] += 12.34
    tied = pnl_history_ties_to_equity(pnl_history=pnl, equity_history=wrong)
    assert not tied.passed and tied.severity == AssetCheckSeverity.ERROR
    assert "1 of" in str(tied.description) and "by 12.34" in str(tied.description)
    account.loc[0, "equity"] += 1.0
    broker = equity_history_ties_to_broker(equity_history=equity, account_balances=account)
    assert not broker.passed and "by -1.00" in str(broker.description)


def _partition_snapshot(path: str, day: str) -> pd.DataFrame:
    return read(path, f"select * from market_data.price_bars where date = '{day}' order by symbol")


def _materialize_partition(resources: dict[str, Any], day: str, **kwargs: Any) -> Any:
    return materialize(
        [universe, price_bars],
        resources=resources,
        partition_key=day,
        selection=AssetSelection.assets(price_bars),
        **kwargs,
    )


@pytest.fixture()
def small_db(tmp_path: Path) -> tuple[str, dict[str, Any]]:
    path = str(tmp_path / "robo.duckdb")
    resources = build_resources(path, as_of=AS_OF, watchlist=WATCHLIST, universe_size=0, seed=7)
    first, last = session_range(5)
    result = materialize([universe, price_bars], resources=resources, tags=range_tags(first, last))
    assert result.success
    return path, resources


def test_rematerializing_a_partition_is_idempotent(small_db: tuple[str, dict[str, Any]]) -> None:
    path, resources = small_db
    before = read(path, "select count(*) as n from market_data.price_bars")["n"].iloc[0]
    snapshot = _partition_snapshot(path, "2026-11-24")
    for _ in range(2):
        assert _materialize_partition(resources, "2026-11-24").success
    assert read(path, "select count(*) as n from market_data.price_bars")["n"].iloc[0] == before
    pd.testing.assert_frame_equal(_partition_snapshot(path, "2026-11-24"), snapshot)


class SilentVendor(SimulatedMarketData):
    """A vendor that answers a bar request with nothing at all."""

    def daily_bars(self, symbols: Sequence[str], sessions: Sequence[dt.date]) -> pd.DataFrame:
        return pd.DataFrame(columns=["date", "symbol", "open", "high", "low", "close", "volume"])


class NaNVendor(SimulatedMarketData):
    """A vendor whose AAPL close comes back as NaN."""

    def daily_bars(self, symbols: Sequence[str], sessions: Sequence[dt.date]) -> pd.DataFrame:
        bars = super().daily_bars(symbols, sessions)
        bars.loc[bars["symbol"] == "AAPL", "close"] = np.nan
        return bars


def _vendor_resources(
    resources: dict[str, Any], vendor: type[SimulatedMarketData]
) -> dict[str, Any]:
    market = vendor(as_of=AS_OF, watchlist=WATCHLIST, seed=7)
    return {**resources, "market": market}


def assert_refused_without_loss(path: str, resources: dict[str, Any], message: str) -> None:
    """Re-materializing 2026-11-24 with ``resources`` fails with ``message`` and leaves
    the stored partition exactly as it was."""
    snapshot = _partition_snapshot(path, "2026-11-24")
    result = _materialize_partition(resources, "2026-11-24", raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert message in failure.event_specific_data.error.to_string()
    pd.testing.assert_frame_equal(_partition_snapshot(path, "2026-11-24"), snapshot)


def test_an_empty_fetch_fails_and_never_wipes_the_partition(
    small_db: tuple[str, dict[str, Any]],
) -> None:
    path, resources = small_db
    assert_refused_without_loss(path, _vendor_resources(resources, SilentVendor), "no rows")


def test_a_failed_fetch_never_wipes_the_partition(small_db: tuple[str, dict[str, Any]]) -> None:
    path, resources = small_db
    early = SimulatedMarketData(as_of="2026-11-20", watchlist=WATCHLIST, seed=7)
    assert_refused_without_loss(path, {**resources, "market": early}, "has not closed yet")


def test_nan_prices_are_quarantined_and_fail_the_blocking_check(
    small_db: tuple[str, dict[str, Any]],
) -> None:
    path, resources = small_db
    from robo_dagster.market_data.checks import price_bars_valid

    result = materialize(
        [universe, price_bars, price_bars_valid],
        resources=_vendor_resources(resources, NaNVendor),
        partition_key="2026-11-24",
        selection=AssetSelection.assets(price_bars) | AssetSelection.checks(price_bars_valid),
        raise_on_error=False,
    )
    check = checks_by_name(result)["price_bars_valid"]
    assert not check.passed and "quarantined without a valid bar: 1" in check.description
    stored = _partition_snapshot(path, "2026-11-24")
    assert "AAPL" not in set(stored["symbol"]) and len(stored) == SYMBOLS - 1
    quarantine = read(path, "select * from market_data.price_bars_quarantine")
    assert quarantine[["symbol", "reason"]].values.tolist() == [["AAPL", "non-finite price"]]
    # A clean re-fetch replaces the bar and the check passes again.
    clean = materialize(
        [universe, price_bars, price_bars_valid],
        resources=resources,
        partition_key="2026-11-24",
        selection=AssetSelection.assets(price_bars) | AssetSelection.checks(price_bars_valid),
    )
    assert checks_by_name(clean)["price_bars_valid"].passed


def test_stale_prices_fail_freshness_and_reconciliation(tmp_path: Path) -> None:
    path = str(tmp_path / "robo.duckdb")
    resources = build_resources(
        path, as_of="2026-11-24", watchlist=WATCHLIST, universe_size=0, seed=7
    )
    assert materialize_all(resources, sessions=40, last="2026-11-24").success
    later = build_resources(path, as_of="2026-11-27", watchlist=WATCHLIST, universe_size=0, seed=7)
    from robo_dagster.market_data.assets import fundamentals
    from robo_dagster.market_data.checks import price_bars_fresh
    from robo_dagster.portfolio.assets import account_balances, positions
    from robo_dagster.portfolio.checks import positions_reconcile

    result = materialize(
        [
            account_balances,
            positions,
            fundamentals,
            universe,
            price_bars,
            positions_reconcile,
            price_bars_fresh,
        ],
        resources=later,
        selection=AssetSelection.assets(account_balances, positions)
        | AssetSelection.checks(positions_reconcile, price_bars_fresh),
    )
    checks = checks_by_name(result)
    assert not checks["price_bars_fresh"].passed
    assert "2 session(s) behind 2026-11-27" in checks["price_bars_fresh"].description
    assert not checks["positions_reconcile"].passed


def test_unknown_and_malformed_symbols_are_refused() -> None:
    market = SimulatedMarketData(as_of=AS_OF, watchlist=WATCHLIST)
    with pytest.raises(UnknownSymbolError, match="ZZZZ"):
        market.daily_bars(["AAPL", "ZZZZ"], [dt.date(2026, 11, 24)])
    with pytest.raises(ValueError, match="malformed"):
        market.daily_bars(["AAPL", "not a ticker"], [dt.date(2026, 11, 24)])
    with pytest.raises(ProviderError, match="has not closed"):
        market.daily_bars(["AAPL"], [dt.date(2026, 11, 27)])


def test_parallel_pipeline_completes_without_a_lock_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "robo.duckdb")
    monkeypatch.setenv("ROBO_DUCKDB_PATH", path)
    monkeypatch.setenv("ROBO_AS_OF", AS_OF)
    monkeypatch.setenv("ROBO_WATCHLIST", ",".join(WATCHLIST))
    first, last = session_range(60)
    (tmp_path / "home").mkdir()
    with DagsterInstance.local_temp(tempdir=str(tmp_path / "home")) as instance:
        result = execute_job(
            build_reconstructable_job(
                "robo_dagster.cli.quickstart", "pipeline_job", ("parallel_pipeline",)
            ),
            instance=instance,
            tags=range_tags(first, last),
            # The production executor config: step processes forked from a forkserver.
            run_config={"execution": {"config": parallel_execution_config(4)}},
        )
        assert result.success
        step_starts = [e for e in result.all_events if e.event_type_value == "STEP_START"]
        pids = {e.pid for e in step_starts}
        assert len(step_starts) >= 19 and len(pids) > 1  # really one process per step
        failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        assert not failures
    assert (
        read(path, "select count(*) as n from market_data.price_bars")["n"].iloc[0] == SYMBOLS * 60
    )
    assert read(path, "select count(*) as n from portfolio.positions")["n"].iloc[0] == 9


class WiderVendor(SimulatedMarketData):
    """A vendor that starts sending a column the table does not have."""

    def daily_bars(self, symbols: Sequence[str], sessions: Sequence[dt.date]) -> pd.DataFrame:
        bars = super().daily_bars(symbols, sessions)
        return bars.assign(vwap=(bars["high"] + bars["low"] + bars["close"]) / 3)


def test_a_changed_column_set_fails_loudly_and_rolls_back(
    small_db: tuple[str, dict[str, Any]],
) -> None:
    path, resources = small_db
    # The delete runs inside the failed transaction, so the old partition stays whole.
    assert_refused_without_loss(path, _vendor_resources(resources, WiderVendor), "vwap")


def test_the_universe_flags_the_book_and_refuses_a_held_symbol_it_cannot_price(
    tmp_path: Path,
) -> None:
    from robo_dagster.providers import PaperBroker

    resources = build_resources(
        str(tmp_path / "robo.duckdb"), as_of=AS_OF, watchlist=WATCHLIST, universe_size=0
    )
    held = set(resources["broker"].ledger().positions["symbol"])
    result = materialize([universe], resources=resources)
    frame = result.output_for_node("market_data__universe")
    assert set(frame.loc[frame["is_held"], "symbol"]) == held
    # A book holding a name the provider does not list fails the sync with its name.
    portfolio = json.loads(Path(resources["broker"].portfolio_file).read_text())
    portfolio["trades"].append(
        {"date": "2025-06-02", "symbol": "ZZZZ", "side": "BUY", "quantity": 10, "price": 50.0}
    )
    odd_book = tmp_path / "odd_book.json"
    odd_book.write_text(json.dumps(portfolio))
    resources["broker"] = PaperBroker(portfolio_file=str(odd_book), market=resources["market"])
    with pytest.raises(UnknownSymbolError, match="holds ZZZZ"):
        materialize([universe], resources=resources)
