"""The dashboard's reads on a real materialized desk, and their plain transforms."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from dagster import DagsterInstance, RunsFilter

from robo_dagster.dashboard import pipeline, queries
from robo_dagster.domain.review.scorecard import summarize_scorecard
from tests.dashboard.conftest import Desk


def test_positions_weights_add_up_to_the_long_market_value(desk: Desk) -> None:
    positions = queries.read_positions(desk.database)
    account = queries.read_account(desk.database).iloc[0]
    assert len(positions) > 0
    assert positions["weight"].abs().is_monotonic_decreasing
    assert positions["weight"].sum() == pytest.approx(
        account["long_market_value"] / account["equity"], rel=1e-9
    )
    assert positions["market_value"].sum() == pytest.approx(account["long_market_value"])


def test_price_history_joins_the_indicators_of_the_same_day(desk: Desk) -> None:
    bars = queries.read_price_history(desk.database, "AAPL", sessions=30)
    assert len(bars) == 30
    assert bars["date"].is_monotonic_increasing
    with duckdb.connect(desk.database, read_only=True) as conn:
        expected = conn.execute(
            "select date, sma_20, rsi_14 from market_data.technical_indicators "
            "where symbol = 'AAPL' order by date desc limit 30"
        ).fetchdf()
    merged = bars.merge(expected, on="date", suffixes=("", "_expected"))
    assert len(merged) == 30
    np.testing.assert_allclose(merged["sma_20"], merged["sma_20_expected"])
    np.testing.assert_allclose(merged["rsi_14"], merged["rsi_14_expected"])
    assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
    with pytest.raises(ValueError, match="sessions=0"):
        queries.read_price_history(desk.database, "AAPL", sessions=0)


def test_news_and_earnings_are_the_symbols_own(desk: Desk) -> None:
    news = queries.read_news(desk.database, "AAPL")
    assert news["published_at"].is_monotonic_decreasing
    assert news["sentiment"].between(-1, 1).all()
    earnings = queries.read_earnings(desk.database, "AAPL")
    assert len(earnings) > 0
    upcoming = queries.next_earnings(earnings)
    assert upcoming is not None and upcoming["status"] != "reported"
    assert (
        upcoming["report_date"]
        == earnings.loc[earnings["status"] != "reported", "report_date"].min()
    )


def test_a_missing_database_is_not_materialized_and_is_not_created(tmp_path: Path) -> None:
    database = str(tmp_path / "absent" / "robo.duckdb")
    with pytest.raises(queries.NotMaterialized, match="nothing materialized yet") as raised:
        queries.read_positions(database)
    assert raised.value.missing_database
    assert not Path(database).exists() and not Path(database).parent.exists()


def test_a_missing_table_names_itself_and_other_errors_surface(desk: Desk, tmp_path: Path) -> None:
    database = str(tmp_path / "partial.duckdb")
    shutil.copy(desk.database, database)
    with duckdb.connect(database) as conn:
        conn.execute("drop table portfolio.equity_history")
        conn.execute("drop schema monitoring cascade")
    with pytest.raises(queries.NotMaterialized, match=r"portfolio\.equity_history") as raised:
        queries.read_equity_history(database)
    assert not raised.value.missing_database
    with pytest.raises(queries.NotMaterialized, match=r"monitoring\.alerts"):
        queries.read_open_alerts(database)
    assert len(queries.read_positions(database)) > 0
    with pytest.raises(duckdb.CatalogException, match="nosuchfn"):
        queries.read_table("portfolio.positions", database, "select nosuchfn(1)")
    with pytest.raises(duckdb.BinderException):
        queries.read_table(
            "portfolio.positions", database, "select no_column from portfolio.positions"
        )


def test_signals_for_and_against_follow_the_action() -> None:
    recs = pd.DataFrame(
        {
            "symbol": ["UNH", "NVDA", "AAPL", "MSFT"],
            "action": ["BUY", "SELL", "HOLD", "HOLD"],
            "score": [0.28, -0.20, 0.15, -0.05],
            "signals": [
                json.dumps(["news +0.87", "rsi -0.45", "macd +0.73"]),
                json.dumps(["momentum -0.43", "earnings +0.27"]),
                json.dumps(["earnings +0.96", "options -0.32"]),
                json.dumps(["trend -0.40", "news +0.10"]),
            ],
        }
    )
    signals = queries.signals_for_and_against(recs)
    sides = {(r.symbol, r.signal): r.side for r in signals.itertuples()}
    assert sides == {
        ("UNH", "news"): "for",
        ("UNH", "macd"): "for",
        ("UNH", "rsi"): "against",
        ("NVDA", "momentum"): "for",
        ("NVDA", "earnings"): "against",
        ("AAPL", "earnings"): "for",
        ("AAPL", "options"): "against",
        ("MSFT", "trend"): "for",
        ("MSFT", "news"): "against",
    }
    zero = queries.signals_for_and_against(
        pd.DataFrame(
            {"symbol": ["X"], "action": ["HOLD"], "score": [0.0], "signals": ['["rsi -0.30"]']}
        )
    )
    assert list(zero["side"]) == ["for"]  # a HOLD that points nowhere has nothing against it
    unh = signals[signals["symbol"] == "UNH"]
    assert list(unh["signal"]) == ["news", "macd", "rsi"]  # strongest first
    summary = queries.signal_summary(signals).set_index("symbol")
    assert summary.loc["UNH", "signals_for"] == "news +0.87, macd +0.73"
    assert summary.loc["UNH", "signals_against"] == "rsi -0.45"


def test_a_stored_split_of_the_signals_is_kept() -> None:
    recs = pd.DataFrame(
        {
            "symbol": ["UNH"],
            "action": ["BUY"],
            "score": [0.28],
            "signals": ['["news +0.87", "macd +0.73"]'],
            "signals_against": ['["rsi -0.45"]'],
        }
    )
    signals = queries.signals_for_and_against(recs)
    assert list(zip(signals["signal"], signals["side"], strict=True)) == [
        ("news", "for"),
        ("macd", "for"),
        ("rsi", "against"),
    ]
    with pytest.raises(ValueError, match="not a JSON list"):
        queries.signals_for_and_against(recs.assign(signals_against='"rsi -0.45"'))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('["momentum"]', "not of the form"),
        ('["momentum high"]', "not of the form"),
        ('["momentum nan"]', "not of the form"),
        ('{"momentum": 0.6}', "not a JSON list"),
    ],
)
def test_malformed_signals_are_refused(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        queries.parse_signals(raw)


def test_the_stored_signals_parse(desk: Desk) -> None:
    recs = queries.read_recommendations(desk.database)
    signals = queries.signals_for_and_against(recs)
    assert set(signals["symbol"]) == set(recs["symbol"])
    assert set(signals["side"]) <= {"for", "against"}


def test_scorecard_over_time_is_the_domain_summary_per_session(desk: Desk) -> None:
    card = queries.read_scorecard(desk.database)
    assert card["session"].nunique() > 1, "the replays should leave several sessions"
    assert card["matured"].any(), "some replayed recommendations should have matured"
    over_time = queries.scorecard_over_time(card)
    for session, group in card.groupby("session"):
        expected = summarize_scorecard(group.reset_index(drop=True))
        got = over_time[over_time["session"] == session].drop(columns="session")
        pd.testing.assert_frame_equal(got.reset_index(drop=True), expected)
    assert queries.scorecard_over_time(card.iloc[0:0]).empty


def test_alerts_open_first_by_severity_and_history_counts_per_day(desk: Desk) -> None:
    open_ = queries.read_open_alerts(desk.database)
    assert list(open_["severity"]) == ["CRITICAL", "WARNING"]
    history = queries.read_alert_history(desk.database)
    assert len(history) == 3 and history["resolved_at"].notna().sum() == 1
    per_day = queries.alerts_per_day(history)
    assert per_day["alerts"].sum() == 3
    assert set(per_day["severity"]) == {"CRITICAL", "WARNING", "ERROR"}


def test_desk_limits_come_from_the_portfolio_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ROBO_PORTFOLIO_FILE", raising=False)
    monkeypatch.setenv("ROBO_BROKER", "paper")
    limits = queries.desk_limits()
    assert 0 < limits["max_sector_weight"] <= 1 and 0 < limits["var_95_limit_pct"] <= 1
    broken = tmp_path / "book.json"
    broken.write_text('{"limits": {"max_sector_weight": "half"}}')
    monkeypatch.setenv("ROBO_PORTFOLIO_FILE", str(broken))
    with pytest.raises(ValueError, match=r"book\.json is malformed"):
        queries.desk_limits()
    monkeypatch.setenv("ROBO_PORTFOLIO_FILE", str(tmp_path / "none.json"))
    with pytest.raises(ValueError, match="does not exist"):
        queries.desk_limits()
    monkeypatch.setenv("ROBO_BROKER", "alpaca")
    monkeypatch.setenv("ROBO_RISK_LIMITS", '{"max_sector_weight": 0.4}')
    assert queries.desk_limits()["max_sector_weight"] == 0.4


def test_the_instance_gives_the_latest_runs_and_freshness(on_desk: Desk) -> None:
    runs = pipeline.latest_runs()
    assert len(runs) == 1 and runs.loc[0, "status"] == "SUCCESS"
    # materialize_all's run is an anonymous asset job: named by its assets, not __ASSET_JOB.
    assert not runs.loc[0, "job"].startswith("__") and "/" in runs.loc[0, "job"]
    # The duration is the run record's own end less its start, not a figure of ours.
    with DagsterInstance.from_config(on_desk.dagster_home) as instance:
        [record] = instance.get_run_records(RunsFilter(run_ids=[runs.loc[0, "run_id"]]))
    assert record.start_time is not None and record.end_time is not None
    assert runs.loc[0, "duration_s"] == round(record.end_time - record.start_time, 1)
    fresh = pipeline.asset_freshness()
    assert {
        "portfolio/positions",
        "market_data/price_bars",
        "ai_analysis/trade_recommendations",
    } <= set(fresh["asset"])
    assert (fresh["age_s"] >= 0).all()
    assert fresh["age_s"].is_monotonic_decreasing
    assert (fresh["run_id"] == runs.loc[0, "run_id"]).all()


def test_without_an_instance_the_reason_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    with pytest.raises(pipeline.InstanceUnavailable, match=r"DAGSTER_HOME=\(unset\)"):
        pipeline.latest_runs()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "nowhere"))
    with pytest.raises(pipeline.InstanceUnavailable, match="nowhere"):
        pipeline.asset_freshness()
