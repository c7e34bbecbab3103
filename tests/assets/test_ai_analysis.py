"""The AI-analysis group on a temporary DuckDB: rules by default, an LLM over real HTTP,
the fallback when it fails, and the checks that guard what comes out."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from dagster import (
    AssetCheckSeverity,
    AssetKey,
    AssetSelection,
    DagsterInstance,
    DagsterInvalidConfigError,
    materialize,
)

from robo_dagster.ai_analysis.analysts import LLMBackedAnalyst, RuleBasedAnalyst
from robo_dagster.automation.event_runs import EventTrigger, coalesced_runs
from robo_dagster.definitions import defs
from robo_dagster.providers import PaperBroker
from robo_dagster.providers.llm import LLMAnalyst
from robo_dagster.resources import build_resources
from tests.conftest import AS_OF, WATCHLIST, materialize_all
from tests.monitoring.support import tick

SECRET = "sk-test-secret-value-123"
AI = [
    "analysis_features",
    "morning_prep",
    "trade_recommendations",
    "strategy_analysis",
    "risk_assessment",
    "recommendation_scorecard",
    "evening_review",
]


def read(path: str, sql: str) -> pd.DataFrame:
    with duckdb.connect(path) as conn:
        return conn.execute(sql).fetchdf()


def checks_by_name(result: Any) -> dict[str, Any]:
    return {ev.check_name: ev for ev in result.get_asset_check_evaluations()}


def ai_selection() -> AssetSelection:
    return AssetSelection.assets(
        *[["ai_analysis", name] for name in AI]
    ) | AssetSelection.checks_for_assets(*[["ai_analysis", name] for name in AI])


def materialize_ai(resources: dict[str, Any], **kwargs: Any) -> Any:
    return materialize(
        [*defs.assets, *defs.asset_checks],  # type: ignore[misc]
        resources=resources,
        selection=ai_selection(),
        raise_on_error=False,
        **kwargs,
    )


@pytest.fixture(scope="module")
def market_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Portfolio and market data for 260 sessions, built once for this module."""
    path = str(tmp_path_factory.mktemp("ai") / "robo.duckdb")
    resources = build_resources(path, as_of=AS_OF, watchlist=WATCHLIST, seed=7)
    selection = AssetSelection.groups("market_data", "portfolio")
    result = materialize_all(resources, sessions=260, selection=selection)
    assert result.success
    return path


@pytest.fixture()
def db(market_db: str, tmp_path: Path) -> str:
    copy = tmp_path / "robo.duckdb"
    copy.write_bytes(Path(market_db).read_bytes())
    return str(copy)


def test_rule_based_analysis_end_to_end(db: str) -> None:
    # A history kept before signals_against (and answers_events) existed.
    with duckdb.connect(db) as conn:
        conn.execute("create schema ai_analysis")
        conn.execute(
            "create table ai_analysis.recommendation_history (symbol varchar, action varchar, "
            "target_weight double, current_weight double, confidence double, horizon_days "
            "bigint, score double, rationale varchar, signals varchar, source varchar, model "
            "varchar, session timestamp, run_id varchar, recorded_at timestamp)"
        )
    result = materialize_ai(build_resources(db, as_of=AS_OF, watchlist=WATCHLIST, seed=7))
    assert result.success
    checks = checks_by_name(result)
    for name in [
        "analyst_answered",
        "recommendations_valid",
        "recommendations_within_risk_limits",
        "evening_review_reconciles",
    ]:
        assert checks[name].passed, (name, checks[name].description)
    recs = read(db, "select * from ai_analysis.trade_recommendations")
    assert 1 <= len(recs) <= 5 and set(recs["source"]) == {"rules"}
    assert recs["confidence"].between(0, 1).all() and "SPY" not in set(recs["symbol"])
    assert all(json.loads(s) for s in recs["signals"])
    # The signals for a call and those against it, apart (the rationale names both).
    for row in recs.itertuples():
        pro, con = json.loads(row.signals), json.loads(row.signals_against)
        assert set(pro).isdisjoint(con)
        assert (f"; against: {con[0]}" in row.rationale) if con else "against:" not in row.rationale
    assert recs["signals_against"].map(json.loads).map(len).sum() > 0
    history = read(db, "select * from ai_analysis.recommendation_history")
    assert len(history) == len(recs)
    assert history.set_index("symbol")["signals_against"].to_dict() == (
        recs.set_index("symbol")["signals_against"].to_dict()
    )
    morning = read(db, "select * from ai_analysis.morning_prep")
    assert morning["requires_action"].dtype == bool and len(morning) > 0
    risk = read(db, "select * from ai_analysis.risk_assessment")
    assert list(risk["scenario"]) == [
        "market -5%",
        "market -10%",
        "volatility spike",
        "largest single-name gap",
    ]
    assert risk["severity"].iloc[0] in {"INFO", "WARNING", "ERROR", "CRITICAL"}
    strategies = read(db, "select * from ai_analysis.strategy_analysis")
    assert set(strategies["strategy"]) == {"momentum", "mean_reversion", "value", "event_driven"}
    materializations = {
        e.asset_key: e.materialization.metadata for e in result.get_asset_materialization_events()
    }
    preview = str(
        materializations[AssetKey(["ai_analysis", "trade_recommendations"])]["preview"].value
    )
    header = preview.splitlines()[0]
    assert "| for " in header and "| against " in header and "e+" not in preview
    assert "report" in materializations[AssetKey(["ai_analysis", "morning_prep"])]
    assert "report" in materializations[AssetKey(["ai_analysis", "evening_review"])]
    # A second run of the same session replaces its history rows instead of adding to them.
    assert materialize_ai(build_resources(db, as_of=AS_OF, watchlist=WATCHLIST, seed=7)).success
    assert len(read(db, "select * from ai_analysis.recommendation_history")) == len(recs)


@pytest.mark.parametrize("count", [1, 20])
def test_max_recommendations_is_honoured(db: str, count: int) -> None:
    config = {
        "ops": {
            "ai_analysis__trade_recommendations": {
                "config": {"max_recommendations": count, "risk_tolerance": "aggressive"}
            }
        }
    }
    result = materialize_ai(
        build_resources(db, as_of=AS_OF, watchlist=WATCHLIST, seed=7), run_config=config
    )
    assert result.success
    recs = read(db, "select * from ai_analysis.trade_recommendations")
    assert 1 <= len(recs) <= count


def test_an_event_run_marks_the_recommendations_that_answer_its_events(db: str) -> None:
    """A coalesced event run (``automation.event_runs``) passes its events in the run
    config; each recommendation names the events about its symbol. The history kept
    before the column existed gains it."""
    resources = build_resources(db, as_of=AS_OF, watchlist=WATCHLIST, seed=7)
    assert materialize_ai(resources).success
    with duckdb.connect(db) as conn:  # a history from before answers_events
        conn.execute("alter table ai_analysis.recommendation_history drop column answers_events")
    tradable = read(db, "select symbol from market_data.universe where not is_benchmark")
    symbols = [str(s) for s in tradable["symbol"]]
    [request] = coalesced_runs(
        [EventTrigger(f"market-event-{i}", s, 9, "news") for i, s in enumerate(symbols * 2)],
        source="market-events",
    )
    result = materialize_ai(resources, run_config=request.run_config, tags=request.tags)
    assert result.success
    recs = read(db, "select symbol, action, answers_events from ai_analysis.trade_recommendations")
    assert len(recs) >= 1
    for symbol, answers in zip(recs["symbol"], recs["answers_events"], strict=True):
        position = symbols.index(symbol)
        assert answers == f"market-event-{position},market-event-{position + len(symbols)}"
    history = read(db, "select answers_events from ai_analysis.recommendation_history")
    assert sorted(history["answers_events"]) == sorted(recs["answers_events"])
    # Every event's answer is kept apart, so a later event run cannot overwrite it: the
    # symbols without a recommendation are answered with none.
    answers = read(db, "select * from ai_analysis.event_answers order by event_id")
    assert len(answers) == 2 * len(symbols) and set(answers["run_id"]) == {result.run_id}
    recommended = dict(zip(recs["symbol"], recs["action"], strict=True))
    for event_id, symbol, action in zip(
        answers["event_id"], answers["symbol"], answers["action"], strict=True
    ):
        assert symbols[int(event_id.removeprefix("market-event-")) % len(symbols)] == symbol
        assert (None if pd.isna(action) else action) == recommended.get(symbol), event_id
    # Another event run adds its events' answers beside them; a retry replaces its own.
    [other] = coalesced_runs([EventTrigger("news-x", symbols[0], 10, "news")], source="news")
    for _ in range(2):
        assert materialize_ai(resources, run_config=other.run_config, tags=other.tags).success
    answers = read(db, "select event_id, run_id from ai_analysis.event_answers")
    assert len(answers) == 2 * len(symbols) + 1
    assert (answers["event_id"] == "news-x").sum() == 1
    [materialization] = [
        e.materialization
        for e in result.get_asset_materialization_events()
        if e.asset_key == AssetKey(["ai_analysis", "trade_recommendations"])
    ]
    assert materialization.metadata["events_answered"].value == 2 * len(symbols)


def test_an_unknown_risk_tolerance_is_refused_before_the_run(db: str) -> None:
    run_config = {
        "ops": {"ai_analysis__trade_recommendations": {"config": {"risk_tolerance": "reckless"}}}
    }
    with pytest.raises(DagsterInvalidConfigError, match="reckless"):
        materialize_ai(
            build_resources(db, as_of=AS_OF, watchlist=WATCHLIST, seed=7), run_config=run_config
        )


@pytest.mark.parametrize("count", [0, 21])
def test_max_recommendations_outside_1_to_20_fails_with_the_reason(db: str, count: int) -> None:
    run_config = {
        "ops": {"ai_analysis__trade_recommendations": {"config": {"max_recommendations": count}}}
    }
    result = materialize_ai(
        build_resources(db, as_of=AS_OF, watchlist=WATCHLIST, seed=7), run_config=run_config
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "max_recommendations" in failure.event_specific_data.error.to_string()
    assert "trade_recommendations" not in {
        e.asset_key.path[-1] for e in result.get_asset_materialization_events()
    }


def test_a_breached_var_limit_is_a_critical_risk_breach(db: str, tmp_path: Path) -> None:
    sample = json.loads(Path("robo_dagster/portfolio/sample_portfolio.json").read_text())
    sample["limits"]["var_95_limit_pct"] = 0.001
    tight = tmp_path / "tight.json"
    tight.write_text(json.dumps(sample))
    resources = build_resources(db, as_of=AS_OF, watchlist=WATCHLIST, seed=7)
    resources["broker"] = PaperBroker(portfolio_file=str(tight), market=resources["market"])
    result = materialize_ai(resources)
    check = checks_by_name(result)["risk_breach"]
    assert not check.passed and "CRITICAL" in check.description
    assert read(db, "select distinct severity from ai_analysis.risk_assessment")[
        "severity"
    ].tolist() == ["CRITICAL"]


SECTOR_CHECK = "check:portfolio/portfolio_risk:concentration_within_limit"


@pytest.mark.parametrize(
    ("ratio", "level", "check_severity"),
    [
        (0.9, "WARNING", AssetCheckSeverity.WARN),  # near the limit
        (1.05, "ERROR", AssetCheckSeverity.ERROR),  # past it: the 50.8 % of a 50 % limit
        (1.3, "CRITICAL", AssetCheckSeverity.ERROR),  # more than 1.2 x the limit
    ],
)
def test_a_sector_breach_has_one_severity_in_brief_assessment_check_and_alert(
    db: str,
    tmp_path: Path,
    instance: DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
    ratio: float,
    level: str,
    check_severity: AssetCheckSeverity,
) -> None:
    risk = read(db, "select largest_sector, largest_sector_weight from portfolio.portfolio_risk")
    sector, weight = (
        str(risk["largest_sector"].iloc[0]),
        float(risk["largest_sector_weight"].iloc[0]),
    )
    sample = json.loads(Path("robo_dagster/portfolio/sample_portfolio.json").read_text())
    # The largest sector at ``ratio`` x its limit; positions far from theirs, so the sector
    # is the only limit finding.
    sample["limits"]["max_sector_weight"] = weight / ratio
    sample["limits"]["max_position_weight"] = 0.9
    book = tmp_path / "book.json"
    book.write_text(json.dumps(sample))
    resources = build_resources(db, as_of=AS_OF, watchlist=WATCHLIST, seed=7)
    resources["broker"] = PaperBroker(portfolio_file=str(book), market=resources["market"])
    keys = [["portfolio", "portfolio_risk"], ["ai_analysis", "morning_prep"]]
    keys.append(["ai_analysis", "risk_assessment"])
    result = materialize(
        [*defs.assets, *defs.asset_checks],  # type: ignore[misc]
        resources=resources,
        selection=AssetSelection.assets(*keys) | AssetSelection.checks_for_assets(*keys),
        instance=instance,
        raise_on_error=False,
    )
    assert result.success

    brief = read(db, "select * from ai_analysis.morning_prep")
    limit_rows = brief[brief["section"] == "limit"]
    assert len(limit_rows) == 1 and sector in limit_rows["detail"].iloc[0]
    assert limit_rows["severity"].iloc[0] == level
    detail = str(limit_rows["detail"].iloc[0])
    book_action = brief[(brief["section"] == "action") & (brief["symbol"] == "")]
    assert book_action["severity"].tolist() == [level]

    assessment = read(db, "select distinct severity from ai_analysis.risk_assessment")
    assert assessment["severity"].tolist() == [level]
    reports = {
        e.asset_key.path[-1]: e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert f"# Risk assessment: {level}" in str(reports["risk_assessment"]["report"].value)
    assert detail in str(reports["risk_assessment"]["report"].value)

    check = checks_by_name(result)["concentration_within_limit"]
    assert not check.passed and check.severity == check_severity
    assert check.metadata["severity"].value == level
    assert detail in str(check.description)

    monkeypatch.setenv("ROBO_DUCKDB_PATH", db)
    monkeypatch.delenv("ROBO_ALERT_WEBHOOK_URL", raising=False)
    tick(instance)
    alerts = read(db, "select fingerprint, severity, message from monitoring.alerts")
    alert = alerts.set_index("fingerprint").loc[SECTOR_CHECK]
    assert alert["severity"] == level and detail in alert["message"]

    # The brief counts exactly the actions it lists under "Actions".
    markdown = str(reports["morning_prep"]["report"].value)
    listed = markdown.split("## Actions")[1].split("##")[0].strip().splitlines()
    assert f"**Action required**: {len(listed)} item(s)" in markdown
    assert all(line.startswith("- ") for line in listed)


# --------------------------------------------------------------------------- a real LLM endpoint


class AnthropicStub(BaseHTTPRequestHandler):
    """Answers POST /v1/messages like the Anthropic Messages API, from a script."""

    script: list[tuple[int, dict[str, Any]]] = []
    seen: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        type(self).seen.append(
            {"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
        )
        status, payload = (
            type(self).script.pop(0)
            if type(self).script
            else (
                500,
                {"type": "error", "error": {"type": "api_error", "message": "script exhausted"}},
            )
        )
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def anthropic_server() -> Iterator[str]:
    AnthropicStub.script, AnthropicStub.seen = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), AnthropicStub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def message(text: str) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 1200, "output_tokens": 300},
    }


def llm_resources(db: str, base_url: str) -> dict[str, Any]:
    resources = build_resources(db, as_of=AS_OF, watchlist=WATCHLIST, seed=7)
    llm = LLMAnalyst(
        provider="anthropic",
        model="claude-test",
        api_key=SECRET,
        base_url=base_url,
        max_retries=1,
        backoff_base_s=0.01,
        backoff_max_s=0.02,
        timeout_s=5,
    )
    resources["analyst"] = LLMBackedAnalyst(llm=llm)
    return resources


def test_claude_recommendations_are_stored_with_usage(db: str, anthropic_server: str) -> None:
    reply = {
        "recommendations": [
            {
                "symbol": "MSFT",
                "action": "HOLD",
                "target_weight": 0.18,
                "confidence": 0.7,
                "horizon_days": 20,
                "rationale": "Trend intact, valuation full.",
                "signals": ["trend +0.4"],
            },
            {
                "symbol": "GOOGL",
                "action": "SELL",
                "target_weight": 0.05,
                "confidence": 0.6,
                "horizon_days": 10,
                "rationale": "Bad news, weak trend, a beat not enough.",
                "signals": ["news -0.6", "earnings +0.3", "trend -0.5"],
            },
        ]
    }
    AnthropicStub.script = [(200, message(json.dumps(reply)))]
    result = materialize_ai(llm_resources(db, anthropic_server))
    assert result.success
    recs = read(db, "select * from ai_analysis.trade_recommendations")
    assert recs[["symbol", "action", "source", "model"]].values.tolist() == [
        ["MSFT", "HOLD", "llm", "claude-test"],
        ["GOOGL", "SELL", "llm", "claude-test"],
    ]
    # The model lists its drivers in one list: the one that argues against its SELL is
    # moved apart; its HOLD (no score, so no direction) keeps its list.
    split = recs.set_index("symbol")[["signals", "signals_against"]].map(json.loads)
    assert split.loc["GOOGL"].tolist() == [["news -0.6", "trend -0.5"], ["earnings +0.3"]]
    assert split.loc["MSFT"].tolist() == [["trend +0.4"], []]
    assert checks_by_name(result)["analyst_answered"].passed
    metadata = next(
        e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key == AssetKey(["ai_analysis", "trade_recommendations"])
    )
    assert metadata["input_tokens"].value == 1200 and metadata["model"].value == "claude-test"
    assert "prompt_version" in metadata
    assert AnthropicStub.seen[0]["headers"]["authorization"] == f"Bearer {SECRET}"
    assert "MSFT" in json.dumps(AnthropicStub.seen[0]["body"])  # the features went out
    assert SECRET not in json.dumps({k: str(v) for k, v in metadata.items()})
    assert SECRET not in read(db, "select * from ai_analysis.trade_recommendations").to_csv()


def test_a_failing_llm_falls_back_to_rules_and_fails_a_warn_check(
    db: str, anthropic_server: str
) -> None:
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    AnthropicStub.script = [(529, overloaded)] * 5
    result = materialize_ai(llm_resources(db, anthropic_server))
    assert result.success  # the run goes on with the rules
    recs = read(db, "select * from ai_analysis.trade_recommendations")
    assert len(recs) > 0 and set(recs["source"]) == {"fallback"}
    check = checks_by_name(result)["analyst_answered"]
    assert not check.passed and check.severity.value == "WARN"
    assert "529" in check.description or "overloaded" in check.description.lower()
    assert SECRET not in check.description


class RecklessAnalyst(RuleBasedAnalyst):
    """An analyst that ignores the desk's position limit."""

    def recommend(
        self,
        features: pd.DataFrame,
        request: Any,
        *,
        max_position_weight: float,
        cash_floor_pct: float,
    ) -> Any:
        output = super().recommend(
            features,
            request,
            max_position_weight=max_position_weight,
            cash_floor_pct=cash_floor_pct,
        )
        output.frame.loc[output.frame.index[0], ["action", "target_weight"]] = ["BUY", 0.9]
        return output


def test_an_unsafe_recommendation_blocks_everything_downstream(db: str) -> None:
    resources = build_resources(db, as_of=AS_OF, watchlist=WATCHLIST, seed=7)
    resources["analyst"] = RecklessAnalyst()
    result = materialize_ai(resources)
    check = checks_by_name(result)["recommendations_within_risk_limits"]
    assert not check.passed and "target 90.0%" in check.description
    materialized = {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}
    assert "trade_recommendations" in materialized
    assert "recommendation_scorecard" not in materialized and "evening_review" not in materialized
    # The unsafe set never reaches the history that the scorecard grades.
    with duckdb.connect(db) as conn:
        tables = {t for (t,) in conn.execute("select table_name from duckdb_tables()").fetchall()}
    assert "recommendation_history" not in tables
