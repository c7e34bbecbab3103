"""From checked recommendations to orders on the loopback Alpaca: dry run by default,
each order once, refusals recorded, the kill switch and the limits stop submission."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from dagster import DagsterInstance, build_sensor_context, materialize

from robo_dagster.automation.order_sensor import open_orders_sensor
from robo_dagster.domain import calendar
from robo_dagster.resources import build_resources
from robo_dagster.warehouse import DuckDBWarehouse
from tests.conftest import AS_OF, materialize_all
from tests.execution.support import QUIET, TARGETS, ScriptedAnalyst, copied_instance, run_job
from tests.providers.alpaca_server import FakeAlpaca, serve
from tests.providers.test_alpaca import alpaca_env, new_state

SESSION = pd.Timestamp(AS_OF).date()
CASH = 400_000.0


def fresh_state() -> FakeAlpaca:
    state = new_state()
    state.cash = CASH  # the book within its limits, so only the orders are judged
    return state


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole graph once, on the loopback Alpaca, with scripted recommendations: a
    DuckDB file and an instance (with the recommendations' check evaluations) to copy."""
    root = tmp_path_factory.mktemp("execution_template")
    (root / "home").mkdir()
    monkeypatch = pytest.MonkeyPatch()
    try:
        with (
            serve(fresh_state()) as url,
            DagsterInstance.local_temp(str(root / "home"), overrides=QUIET) as inst,
        ):
            alpaca_env(monkeypatch, url)
            resources = build_resources(str(root / "robo.duckdb"), as_of=AS_OF)
            resources["analyst"] = ScriptedAnalyst(targets=TARGETS)
            assert materialize_all(resources, sessions=60, instance=inst).success
    finally:
        monkeypatch.undo()
    return root


class Desk:
    """A copy of the template, the loopback Alpaca it talks to, and its resources."""

    def __init__(self, root: Path, state: FakeAlpaca, url: str, instance: DagsterInstance) -> None:
        self.root, self.state, self.url, self.instance = root, state, url, instance
        self.path = str(root / "robo.duckdb")

    def resources(self, **analyst: Any) -> dict[str, Any]:
        resources = build_resources(self.path, as_of=AS_OF)
        resources["analyst"] = ScriptedAnalyst(targets=analyst.get("targets", TARGETS))
        return resources

    def run(self, job: str = "execution_job") -> Any:
        return run_job(job, self.resources(), self.instance)

    def read(self, sql: str) -> pd.DataFrame:
        with duckdb.connect(self.path, read_only=True) as conn:
            return conn.execute(sql).fetchdf()


@pytest.fixture()
def desk(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    shutil.copy(template / "robo.duckdb", tmp_path / "robo.duckdb")
    state = fresh_state()
    with serve(state) as url, copied_instance(template / "home", tmp_path / "home") as inst:
        alpaca_env(monkeypatch, url)
        yield Desk(tmp_path, state, url, inst)


def outcomes(desk: Desk) -> dict[str, str]:
    frame = desk.read("select symbol, outcome from execution.order_submissions")
    return dict(zip(frame["symbol"], frame["outcome"], strict=True))


def started_steps(result: Any) -> set[str]:
    return {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}


# ---------------------------------------------------------------------------- intents
def test_the_obvious_orders_come_out_of_the_recommendations(desk: Desk) -> None:
    result = desk.run()
    assert result.success
    intents = desk.read("select * from execution.order_intents").set_index("symbol")
    account = desk.read("select * from portfolio.account_balances").iloc[0]
    equity = float(account["equity"])
    closes = {s: desk.state.close(s, SESSION) for s in TARGETS}
    # JPM to 0: sell all 60; AAPL to 2 %: sell down to floor(2 % of equity / price) + rounding.
    assert intents.loc["JPM", ["side", "quantity"]].tolist() == ["sell", 60.0]
    aapl_keep = 0.02 * equity / closes["AAPL"]
    assert intents.loc["AAPL", "quantity"] == 100 - int(aapl_keep)
    for symbol in ("NVDA", "GOOGL", "TSLA"):
        assert intents.loc[symbol, "side"] == "buy"
        assert intents.loc[symbol, "quantity"] == int(TARGETS[symbol] * equity / closes[symbol])
    assert set(intents["status"]) == {"ready"}
    assert intents["trade_date"].dt.date.unique().tolist() == [
        calendar.session_on_or_after(pd.Timestamp("2026-11-26").date())
    ]
    assert intents.reset_index()["side"].tolist()[:2] == ["sell", "sell"]  # sells first
    assert intents["client_order_id"].str.len().max() <= 48
    ticket = next(
        e.materialization.metadata["ticket"].value
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "execution/order_intents"
    )
    assert "Order ticket: 5 order(s) for 2026-11-27" in ticket and "Mode **dry-run**" in ticket


def test_dry_run_is_the_default_and_sends_nothing(desk: Desk) -> None:
    assert desk.run().success
    assert set(outcomes(desk).values()) == {"dry_run"}
    assert desk.state.order_posts == []


def test_paper_orders_are_placed_once_even_when_the_run_is_repeated(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROBO_EXECUTION", "paper")
    assert desk.run().success
    assert set(outcomes(desk).values()) == {"submitted"}
    placed = dict(desk.state.orders)
    assert len(placed) == len(desk.state.order_posts) == 5
    bodies = {b["symbol"]: b for b in desk.state.order_posts}
    assert bodies["NVDA"]["type"] == "market" and bodies["NVDA"]["time_in_force"] == "day"
    assert [b["side"] for b in desk.state.order_posts][:2] == ["sell", "sell"]
    # Re-executed (from the UI, a retry, a replay): nothing is sent twice.
    assert desk.run().success
    assert len(desk.state.order_posts) == 5 and desk.state.orders == placed
    assert set(outcomes(desk).values()) == {"already_placed"}
    log = desk.read("select outcome, count(*) as n from execution.submission_log group by 1")
    assert dict(zip(log["outcome"], log["n"], strict=True)) == {"submitted": 5, "already_placed": 5}


def test_open_orders_are_followed_until_filled_and_reach_the_book(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROBO_EXECUTION", "paper")
    assert desk.run().success
    fills = desk.read("select * from execution.order_fills")
    assert set(fills["status"]) == {"accepted"}
    warehouse = DuckDBWarehouse(database=desk.path)
    ask = open_orders_sensor(build_sensor_context(resources={"warehouse": warehouse}))
    assert ask.run_key.startswith("order-status-")  # type: ignore[union-attr]
    desk.state.fill_open_orders()
    assert desk.run("order_status_job").success
    fills = desk.read("select * from execution.order_fills").set_index("symbol")
    assert set(fills["status"]) == {"filled"}
    assert fills.loc["NVDA", "filled_average_price"] == pytest.approx(
        desk.state.close("NVDA", SESSION)
    )
    quiet = open_orders_sensor(build_sensor_context(resources={"warehouse": warehouse}))
    assert "no open order" in str(quiet)
    # The next broker sync holds the fills: JPM is gone, NVDA is there.
    assert desk.run().success
    positions = desk.read("select symbol, quantity from portfolio.positions").set_index("symbol")
    assert "JPM" not in positions.index and positions.loc["NVDA", "quantity"] > 0


def test_a_run_killed_halfway_then_rerun_places_each_order_once(
    desk: Desk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The submission dies (SIGKILL) after the broker took its third order but before the
    answer came back: it never learnt the order was placed. The re-run finds the three
    by their client_order_id and sends only the two that were never sent."""
    taken = threading.Event()
    release = threading.Event()

    def on_taken(order: dict[str, Any]) -> None:
        if len(desk.state.orders) == 3:
            taken.set()
            release.wait(30)  # the reply is held until the client is dead

    desk.state.order_taken = on_taken
    env = {**os.environ, "ROBO_EXECUTION": "paper", "DAGSTER_HOME": str(tmp_path / "home")}
    root = str(Path(__file__).parents[2])
    script = (
        f"import sys; sys.path.insert(0, {root!r})\n"
        "from dagster import DagsterInstance\n"
        "from tests.execution.support import TARGETS, ScriptedAnalyst, run_job\n"
        "from robo_dagster.resources import build_resources\n"
        f"r = build_resources({desk.path!r}, as_of={AS_OF!r})\n"
        "r['analyst'] = ScriptedAnalyst(targets=TARGETS)\n"
        "with DagsterInstance.get() as i:\n"
        "    run_job('execution_job', r, i)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], env=env)
    try:
        assert taken.wait(240), "the child never reached its third order"
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        release.set()
        if child.poll() is None:
            child.kill()
    desk.state.order_taken = None
    first_three = list(desk.state.orders)
    assert len(first_three) == 3 and len(desk.state.order_posts) == 3
    monkeypatch.setenv("ROBO_EXECUTION", "paper")
    assert desk.run().success
    ids = [b["client_order_id"] for b in desk.state.order_posts]
    assert len(ids) == 5 and len(set(ids)) == 5  # two more POSTs, none repeated
    assert len(desk.state.orders) == 5 and list(desk.state.orders)[:3] == first_three
    table = desk.read("select client_order_id, outcome from execution.order_submissions")
    placed = dict(zip(table["client_order_id"], table["outcome"], strict=True))
    assert {cid: placed[cid] for cid in first_three} == dict.fromkeys(first_three, "already_placed")
    assert sorted(placed.values()).count("submitted") == 2


def test_a_duplicate_client_order_id_is_already_placed_not_an_error(desk: Desk) -> None:
    from robo_dagster.execution.assets import submit_intent
    from robo_dagster.providers.alpaca import AlpacaBroker
    from tests.providers.alpaca_server import Fault
    from tests.providers.test_alpaca import connect

    broker = AlpacaBroker(connection=connect(desk.url))
    row = pd.Series(
        {
            "client_order_id": "rd-20261125-NVDA-b-0123456789",
            "symbol": "NVDA",
            "side": "buy",
            "quantity": 10.0,
            "order_type": "market",
            "limit_price": float("nan"),
        }
    )
    assert submit_intent(broker, row)[0] == "submitted"
    # The lookup misses (a race, an index lag): the POST's 422 says it is there.
    desk.state.faults["/v2/orders:by_client_order_id"].append(
        Fault(404, {"code": 40410000, "message": "order not found"})
    )
    outcome, state, message = submit_intent(broker, row)
    assert outcome == "already_placed" and "client_order_id must be unique" in message
    assert state is not None and state.symbol == "NVDA"
    assert len(desk.state.orders) == 1


def test_rejected_orders_are_recorded_with_the_broker_reason(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROBO_EXECUTION", "paper")
    desk.state.reject_all = (403, {"code": 40310000, "message": "insufficient buying power"})
    assert desk.run().success
    table = desk.read("select symbol, outcome, message from execution.order_submissions")
    assert set(table["outcome"]) == {"rejected"}
    assert table["message"].str.contains("HTTP 403: insufficient buying power").all()
    desk.state.reject_all = (422, {"code": 42210000, "message": "market is closed"})
    desk.state.orders.clear()
    assert desk.run().success
    table = desk.read("select message from execution.order_submissions")
    assert table["message"].str.contains("market is closed").all()


# ---------------------------------------------------------------------------- safety
def test_the_kill_switch_skips_submission_and_says_why(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROBO_EXECUTION", "paper")
    monkeypatch.setenv("ROBO_TRADING_HALTED", "1")
    result = desk.run()
    assert not result.success
    assert "execution__order_intents" in started_steps(result)
    assert "execution__order_submissions" not in started_steps(result)  # skipped
    check = next(
        e for e in result.get_asset_check_evaluations() if e.check_name == "trading_allowed"
    )
    assert not check.passed and check.description == "trading halted: ROBO_TRADING_HALTED is set"
    assert desk.state.order_posts == []
    # The alert says it: a CRITICAL alert naming the check and the switch.
    from robo_dagster.monitoring import sensor as alerts

    batch = alerts.read_events(desk.instance, after=-1, limit=10_000)
    records, tags = alerts.with_run_context(desk.instance, batch.records)
    raised = {r.alert.fingerprint: r.alert for r in alerts.alerts_from_records(records, tags)[0]}
    alert = raised["check:execution/order_intents:trading_allowed"]
    assert alert.severity.name == "CRITICAL"
    assert "ROBO_TRADING_HALTED is set" in alert.message


def test_a_critical_risk_assessment_halts_trading() -> None:
    from robo_dagster.execution.checks import trading_allowed

    critical = trading_allowed(risk_assessment=pd.DataFrame({"severity": ["CRITICAL"]}))
    assert not critical.passed and "CRITICAL (risk_breach)" in str(critical.description)
    assert trading_allowed(risk_assessment=pd.DataFrame({"severity": ["WARNING"]})).passed


def test_the_pre_trade_limits_block_submission(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROBO_EXECUTION", "paper")
    monkeypatch.setenv("ROBO_MAX_ORDER_PCT", "0.03")
    monkeypatch.setenv("ROBO_MAX_DAILY_TURNOVER_PCT", "0.10")
    result = desk.run()
    check = next(
        e for e in result.get_asset_check_evaluations() if e.check_name == "orders_within_limits"
    )
    assert not check.passed
    assert "the day's turnover would be" in str(check.description)
    assert "of equity (limit 3%)" in str(check.description)
    assert "execution__order_intents" in started_steps(result)
    assert "execution__order_submissions" not in started_steps(result)  # skipped
    assert desk.state.order_posts == []


def test_recommendations_that_failed_their_risk_check_never_become_orders(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    from robo_dagster.definitions import defs

    monkeypatch.setenv("ROBO_EXECUTION", "paper")
    # A 40 % target breaks the 25 % limit: the blocking check fails after the table is written.
    reckless = desk.resources(targets={"NVDA": 0.40})
    materialize(
        [*defs.assets, *defs.asset_checks],  # type: ignore[misc]
        resources=reckless,
        instance=desk.instance,
        selection=["ai_analysis/trade_recommendations"],
        raise_on_error=False,
    )
    assert desk.read("select symbol from ai_analysis.trade_recommendations")["symbol"].tolist() == [
        "NVDA"
    ]
    assert desk.run().success
    intents = desk.read("select * from execution.order_intents")
    assert (intents["quantity"] == 0).all()
    assert intents["reason"].str.contains("failed recommendations_within_risk_limits").all()
    assert desk.state.order_posts == []


def test_paper_submission_only_from_execution_job(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    from robo_dagster.definitions import defs

    monkeypatch.setenv("ROBO_EXECUTION", "paper")
    result = materialize(
        [*defs.assets, *defs.asset_checks],  # type: ignore[misc]
        resources=desk.resources(),
        instance=desk.instance,
        selection=["execution/order_intents", "execution/order_submissions"],
        raise_on_error=False,
    )
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "sends orders only from execution_job" in failure.event_specific_data.error.to_string()
    assert desk.state.order_posts == []


def test_execution_off_runs_no_submission(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROBO_EXECUTION", "off")
    result = desk.run()
    assert result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "execution/order_intents" in materialized
    assert "execution/order_submissions" not in materialized
    assert desk.state.order_posts == []


def test_live_trading_is_refused_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROBO_EXECUTION", "paper")
    monkeypatch.setenv("ROBO_BROKER", "alpaca")
    monkeypatch.setenv("ROBO_ALPACA_TRADING_URL", "https://api.alpaca.markets/")
    with pytest.raises(ValueError, match="live trading endpoint") as refused:
        build_resources(":memory:")
    assert len(str(refused.value).splitlines()) == 1


def test_the_paper_broker_fills_into_its_own_file_never_the_portfolio(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ROBO_BROKER=paper: fills go to a file beside the portfolio file, and the next run
    books them; the user's portfolio file is not touched."""
    from robo_dagster.settings import SAMPLE_PORTFOLIO_FILE

    book = tmp_path / "book.json"
    shutil.copy(SAMPLE_PORTFOLIO_FILE, book)
    before = hashlib.sha256(book.read_bytes()).hexdigest()
    monkeypatch.setenv("ROBO_PORTFOLIO_FILE", str(book))
    monkeypatch.setenv("ROBO_EXECUTION", "paper")
    path = str(tmp_path / "robo.duckdb")
    (tmp_path / "home").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "home"), overrides=QUIET) as instance:
        resources = build_resources(path, as_of=AS_OF, watchlist=["AMZN", "JPM", "XOM", "UNH"])
        resources["analyst"] = ScriptedAnalyst(targets={"JPM": 0.0, "XOM": 0.02, "NVDA": 0.08})
        assert materialize_all(resources, sessions=60, instance=instance).success
        assert run_job("execution_job", resources, instance).success
        orders = json.loads((tmp_path / "book.orders.json").read_text())["orders"]
        assert {o["symbol"]: o["status"] for o in orders} == {
            "JPM": "filled",
            "XOM": "filled",
            "NVDA": "filled",
        }
        assert hashlib.sha256(book.read_bytes()).hexdigest() == before
        # The next run books the fills: nothing is left to trade, nothing is sent again.
        assert run_job("execution_job", resources, instance).success
    assert len(json.loads((tmp_path / "book.orders.json").read_text())["orders"]) == 3
    with duckdb.connect(path, read_only=True) as conn:
        held = conn.execute("select symbol, weight from portfolio.positions").fetchdf()
        intents = conn.execute(
            "select symbol, quantity, reason from execution.order_intents"
        ).fetchdf()
    assert "JPM" not in set(held["symbol"])
    assert held.set_index("symbol").loc["NVDA", "weight"] == pytest.approx(0.08, abs=0.002)
    assert (intents["quantity"] == 0).all()
