"""Every page of the dashboard, run by Streamlit's own AppTest on a materialized desk,
on a database with a table missing, and on none at all."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from streamlit import dataframe_util
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Dataframe

import robo_dagster.dashboard
from robo_dagster import settings
from robo_dagster.dashboard import formatting, queries
from tests.dashboard.conftest import Desk

# Not imported: Streamlit runs the app as a script.
APP = Path(robo_dagster.dashboard.__file__).parent / "app.py"
NOTHING = "Nothing materialized yet: run `make pipeline`"
PERCENT_1 = re.compile(r"^[+-]?[\d,]+\.\d %$")
MONEY_0 = re.compile(r"^[+-]?\d{1,3}(,\d{3})*$")


def open_page(page: str) -> AppTest:
    """The app at ``/<page>``, run to the end."""
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    if page != "book":  # the root opens the Book
        at.switch_page(f"views/{page}.py").run()
    return at


def shown(table: Dataframe) -> pd.DataFrame:
    """A table's cells as the user sees them (the formatted display values)."""
    return dataframe_util.convert_arrow_bytes_to_pandas_df(
        table.proto.arrow_data.styler.display_values
    )


def specs(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]


def infos(at: AppTest) -> list[str]:
    return [str(info.value) for info in at.info]


def assert_clean(at: AppTest, title: str) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert [t.value for t in at.title] == [title]
    for metric in at.metric:
        assert "e+" not in metric.value and "e-" not in metric.value, metric


def test_book_shows_the_positions_the_equity_curve_and_the_cash(on_desk: Desk) -> None:
    at = open_page("book")
    assert_clean(at, "Book")
    assert NOTHING not in " ".join(infos(at))
    account = queries.read_account(on_desk.database).iloc[0]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Equity"] == formatting.money(account["equity"])
    assert metrics["Cash"] == formatting.money(account["cash"])
    assert MONEY_0.match(metrics["P&L today"])
    positions = shown(at.dataframe[0])
    assert set(positions["Symbol"]) == set(queries.read_positions(on_desk.database)["symbol"])
    assert positions["Weight"].map(bool).all() and positions["Weight"].str.match(PERCENT_1).all()
    assert positions["Market value"].str.match(MONEY_0).all()
    assert positions["P&L today"].str.match(MONEY_0).all()
    titles = [spec.get("title") for spec in specs(at)]
    assert "Cumulative return: the book against SPY" in titles
    assert "Drawdown from the peak" in titles
    assert "Equity and cash" in titles
    assert "Weights" in titles
    contributions = shown(at.dataframe[1])
    assert contributions["Contribution"].str.match(r"^[+-]?\d+\.\d\d %$").all()


def test_risk_shows_var_against_its_limit_sectors_and_the_stress_scenarios(
    on_desk: Desk,
) -> None:
    at = open_page("risk")
    assert_clean(at, "Risk")
    assert NOTHING not in " ".join(infos(at))
    metrics = {m.label: m for m in at.metric}
    risk = queries.read_risk(on_desk.database).iloc[0]
    limits = queries.desk_limits()
    assert metrics["VaR 95 % 1-day"].value == formatting.money(risk["var_95_1d"])
    assert metrics["VaR of equity"].value == formatting.percent(risk["var_95_1d_pct"])
    used = formatting.percent(risk["var_95_1d_pct"] / limits["var_95_limit_pct"], 0)
    assert metrics["VaR of equity"].delta == (
        f"{used} of the {formatting.percent(limits['var_95_limit_pct'])} limit"
    )
    sector = metrics[f"Largest sector: {risk['largest_sector']}"]
    assert sector.value == formatting.percent(risk["largest_sector_weight"])
    titles = [spec.get("title") for spec in specs(at)]
    assert "VaR against its limit (dashed)" in titles
    assert "Exposure (multiple of equity)" in titles
    sector_limit = queries.desk_limits()["max_sector_weight"]
    assert f"Sector weights against the {sector_limit:.0%} limit" in titles
    assert "Stress scenarios: loss of equity" in titles
    scenarios = shown(at.dataframe[1])
    stored = queries.read_stress_scenarios(on_desk.database)
    assert list(scenarios["Scenario"]) == list(stored["scenario"])
    assert scenarios["Loss"].str.match(MONEY_0).all()


def test_recommendations_show_targets_signals_the_scorecard_and_a_picker(
    on_desk: Desk,
) -> None:
    at = open_page("recommendations")
    assert_clean(at, "Recommendations")
    latest = shown(at.dataframe[0])
    stored = queries.read_recommendations(on_desk.database)
    assert list(latest["Symbol"]) == list(stored["symbol"])
    assert latest["Target"].str.match(PERCENT_1).all()
    assert (latest["Signals for"] + latest["Signals against"]).str.len().gt(0).all()
    titles = [spec.get("title") for spec in specs(at)]
    assert "Current and target weights" in titles
    assert "Hit rate by action" in titles and "Hit rate by confidence" in titles
    summary = shown(at.dataframe[1])
    assert {"action", "confidence"} == set(summary["By"])
    picker = at.selectbox(key="recommendation_symbol")
    history = queries.read_recommendation_history(on_desk.database)
    assert list(picker.options) == sorted(history["symbol"].unique())
    chosen = history["symbol"].value_counts().idxmax()  # the one with the most sessions
    picker.set_value(chosen).run()
    assert not at.exception
    titles = [spec.get("title") for spec in specs(at)]
    assert f"{chosen}: target weights (points), current (dashed)" in titles
    sessions = shown(at.dataframe[2])
    assert len(sessions) == (history["symbol"] == chosen).sum()
    assert sessions["Hit"].isin(["yes", "no", formatting.MISSING]).all()


def test_recommendations_that_store_their_signals_against_apart(
    on_desk: Desk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = str(tmp_path / "split.duckdb")
    shutil.copy(on_desk.database, database)
    with duckdb.connect(database) as conn:  # the table as analysts that split them write it
        conn.execute(
            "alter table ai_analysis.trade_recommendations add column if not exists signals_against varchar"
        )
        conn.execute(
            "update ai_analysis.trade_recommendations set signals_against = '[\"rsi -0.45\"]'"
        )
    monkeypatch.setenv("ROBO_DUCKDB_PATH", database)
    at = open_page("recommendations")
    assert_clean(at, "Recommendations")
    latest = shown(at.dataframe[0])
    assert (latest["Signals against"] == "rsi -0.45").all()
    assert latest["Signals for"].str.len().gt(0).all()


def test_market_shows_candles_with_indicators_news_and_earnings(on_desk: Desk) -> None:
    at = open_page("market")
    assert_clean(at, "Market")
    picker = at.selectbox(key="market_symbol")
    universe = queries.read_universe(on_desk.database)
    assert list(picker.options) == [
        f"{r.symbol} · {r.name}" + (" (held)" if r.is_held else "") for r in universe.itertuples()
    ]
    picker.set_value("AAPL").run()
    assert not at.exception
    by_title = {spec.get("title"): json.dumps(spec) for spec in specs(at)}
    price = by_title["AAPL: price, SMA and Bollinger bands"]
    for field in ("open", "close", "sma_20", "sma_50", "sma_200", "bb_upper", "bb_lower"):
        assert f'"{field}' in price, field
    assert '"rsi_14' in by_title["RSI 14 (30 and 70 dashed)"]
    assert '"macd_hist' in by_title["MACD 12/26/9"] and '"macd_signal' in by_title["MACD 12/26/9"]
    assert "AAPL: news sentiment" in by_title
    news = shown(at.dataframe[0])
    assert set(news["Headline"]) == set(queries.read_news(on_desk.database, "AAPL")["headline"])
    earnings = shown(at.dataframe[1])
    assert (
        earnings["Surprise"]
        .dropna()
        .map(lambda s: s == formatting.MISSING or PERCENT_1.match(s) is not None)
        .all()
    )
    assert any(m.label == "Next earnings" for m in at.metric)
    picker.set_value(next(o for o in picker.options if o.startswith("SPY"))).run()
    assert not at.exception
    assert "No headlines for SPY." in infos(at) or len(at.dataframe) >= 2


def test_alerts_and_pipeline_show_alerts_runs_and_freshness(on_desk: Desk) -> None:
    at = open_page("alerts")
    assert_clean(at, "Alerts and pipeline")
    counts = {m.label: m.value for m in at.metric}
    assert counts == {"CRITICAL": "1", "ERROR": "0", "WARNING": "1", "INFO": "0"}
    open_alerts = shown(at.dataframe[0])
    assert list(open_alerts["Severity"]) == ["CRITICAL", "WARNING"]
    history = shown(at.dataframe[1])
    assert len(history) == 3 and (history["Resolved (UTC)"] != formatting.MISSING).sum() == 1
    assert "Alerts raised per day" in [spec.get("title") for spec in specs(at)]
    runs = at.dataframe[2].value
    assert list(runs["Status"]) == ["SUCCESS"]
    assert runs["Run"].iloc[0].startswith("http://127.0.0.1:3999/runs/")
    freshness = at.dataframe[3].value
    assert settings.dagster_asset_url("portfolio/positions") in set(freshness["Asset"])
    assert freshness["Age"].map(bool).all()


def test_every_page_links_its_assets_into_the_dagster_ui(on_desk: Desk) -> None:
    for page, key in {
        "book": "portfolio/positions",
        "risk": "portfolio/portfolio_risk",
        "recommendations": "ai_analysis/trade_recommendations",
        "market": "market_data/price_bars",
        "alerts": "monitoring/alerts",
    }.items():
        at = open_page(page)
        captions = " ".join(str(c.value) for c in at.caption)
        assert f"[{key}](http://127.0.0.1:3999/assets/{key})" in captions, page


def test_a_missing_table_is_said_in_its_section_alone(
    on_desk: Desk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = str(tmp_path / "partial.duckdb")
    shutil.copy(on_desk.database, database)
    with duckdb.connect(database) as conn:
        conn.execute("drop table portfolio.equity_history")
    monkeypatch.setenv("ROBO_DUCKDB_PATH", database)
    at = open_page("book")
    assert_clean(at, "Book")
    assert infos(at) == [f"{NOTHING} (no table `portfolio.equity_history`)."]
    assert set(shown(at.dataframe[0])["Symbol"]) == set(queries.read_positions(database)["symbol"])


@pytest.mark.parametrize("database_kind", ["missing", "empty"])
def test_without_data_every_page_says_nothing_is_materialized(
    database_kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "robo.duckdb"
    if database_kind == "empty":
        duckdb.connect(str(database)).close()
    monkeypatch.setenv("ROBO_DUCKDB_PATH", str(database))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    for page, title in {
        "book": "Book",
        "risk": "Risk",
        "recommendations": "Recommendations",
        "market": "Market",
        "alerts": "Alerts and pipeline",
    }.items():
        at = open_page(page)
        assert_clean(at, title)
        assert any(NOTHING in text for text in infos(at)), page
        assert not at.dataframe and not at.get("vega_lite_chart"), page
        if page == "alerts":
            assert any("no Dagster instance at DAGSTER_HOME=(unset)" in t for t in infos(at))
    assert database.exists() == (database_kind == "empty"), "a read must not create the file"
