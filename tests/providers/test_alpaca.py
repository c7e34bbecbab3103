"""The Alpaca provider and broker against a loopback Alpaca written from its docs."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
from dagster import AssetSelection, DagsterInstance, materialize

from robo_dagster.domain import calendar
from robo_dagster.providers import (
    DatasetNotProvided,
    ProviderAuthError,
    ProviderError,
    ProviderUnavailable,
    UnknownSymbolError,
)
from robo_dagster.providers.alpaca import AlpacaBroker, AlpacaConnection, AlpacaMarketData
from robo_dagster.providers.alpaca.market_data import parse_occ_symbol
from robo_dagster.resources import build_resources
from tests.automation.events import event_ids
from tests.conftest import AS_OF, materialize_all
from tests.providers.alpaca_server import (
    KEY_ID,
    SECRET_KEY,
    FakeAlpaca,
    Fault,
    Holding,
    serve,
)

SESSION = dt.date.fromisoformat(AS_OF)
WATCHLIST = ["AMZN", "JPM"]
SYMBOLS = ["AAPL", "GOOGL", "MSFT", "TSLA", "NVDA", "SPY", *WATCHLIST]
HOLDINGS = [Holding("AAPL", 100, 150.0), Holding("MSFT", 40, 310.0), Holding("JPM", 60, 180.0)]


def fill(n: int, day: str, symbol: str, side: str, qty: str, price: str) -> dict[str, Any]:
    """A FILL activity as Alpaca sends it (ids: New York time, then a uuid)."""
    return {
        "id": f"{day.replace('-', '')}100000{n:03d}::{n:08d}-aaaa-bbbb-cccc-000000000000",
        "activity_type": "FILL",
        "transaction_time": f"{day}T15:00:00.{n:06d}Z",
        "type": "fill",
        "price": price,
        "qty": qty,
        "side": side,
        "symbol": symbol,
        "leaves_qty": "0",
        "order_id": f"order-{n}",
        "cum_qty": qty,
        "order_status": "filled",
    }


FILLS = [
    fill(1, "2026-01-05", "AAPL", "buy", "150", "150.00"),
    fill(2, "2026-02-02", "MSFT", "buy", "40", "310.00"),
    fill(3, "2026-03-02", "AAPL", "sell", "50", "170.00"),  # +1,000 realized
    fill(4, "2026-04-01", "JPM", "buy", "60", "180.00"),
    fill(5, "2026-05-01", "TSLA", "buy", "10", "200.00"),
    fill(6, "2026-05-04", "TSLA", "sell", "10", "190.00"),  # -100
    fill(7, "2026-06-01", "NVDA", "sell_short", "5", "100.00"),
    fill(8, "2026-06-02", "NVDA", "buy", "5", "90.00"),  # +50 on the short
]
REALIZED = 1000.0 - 100.0 + 50.0


def new_state() -> FakeAlpaca:
    holdings = [Holding(h.symbol, h.qty, h.avg_entry_price) for h in HOLDINGS]  # fills move them
    return FakeAlpaca(SESSION, SYMBOLS, holdings, [dict(f) for f in FILLS], cash=60_000.0)


@pytest.fixture()
def alpaca() -> Iterator[tuple[FakeAlpaca, str]]:
    state = new_state()
    with serve(state) as url:
        yield state, url


def connect(url: str, **overrides: Any) -> AlpacaConnection:
    values = {"key_id": KEY_ID, "secret_key": SECRET_KEY, "trading_url": url, "data_url": url}
    return AlpacaConnection(**{**values, **overrides})


def market(url: str, **overrides: Any) -> AlpacaMarketData:
    return AlpacaMarketData(connection=connect(url, **overrides), watchlist=WATCHLIST, as_of=AS_OF)


# ---------------------------------------------------------------------------- the wire
def test_bars_follow_every_page_and_each_bar_is_its_new_york_session(
    alpaca: tuple[FakeAlpaca, str],
) -> None:
    state, url = alpaca
    sessions = calendar.sessions_between("2026-03-02", AS_OF)  # across the DST change
    bars = market(url).daily_bars(SYMBOLS, sessions)
    pages = [r for r in state.requests if r[0] == "/v2/stocks/bars"]
    assert len(pages) >= 3  # 8 symbols x 188 sessions over 700-point pages
    assert pages[0][1]["adjustment"] == ["all"] and pages[0][1]["feed"] == ["iex"]
    assert len(bars) == len(SYMBOLS) * len(sessions) == len(state.served_bars)
    assert not bars.duplicated(["symbol", "date"]).any()
    assert set(bars["date"].dt.date) == set(sessions)
    truth = state.sim.daily_bars(SYMBOLS, sessions)
    merged = bars.merge(truth, on=["date", "symbol"], suffixes=("", "_sim"))
    assert len(merged) == len(bars)
    pd.testing.assert_series_equal(merged["close"], merged["close_sim"], check_names=False)


def test_a_page_that_fails_mid_pagination_fails_the_whole_fetch(
    alpaca: tuple[FakeAlpaca, str],
) -> None:
    state, url = alpaca
    state.faults["/v2/stocks/bars"].append(Fault(503, {"message": "upstream"}, page=1))
    with pytest.raises(ProviderUnavailable, match="HTTP 503"):
        market(url).daily_bars(SYMBOLS, calendar.sessions_between("2026-03-02", AS_OF))
    assert len([r for r in state.requests if r[0] == "/v2/stocks/bars"]) == 2


def test_a_429_waits_as_retry_after_or_the_rate_limit_reset_says(
    alpaca: tuple[FakeAlpaca, str],
) -> None:
    state, url = alpaca
    state.faults["/v2/stocks/bars"].append(
        Fault(429, {"code": 42910000, "message": "rate limit exceeded"}, {"Retry-After": "7"})
    )
    with pytest.raises(ProviderUnavailable, match="rate limited") as first:
        market(url).daily_bars(["AAPL"], [SESSION])
    assert first.value.retry_after == 7.0
    reset = int(time.time()) + 20
    state.faults["/v2/stocks/bars"].append(
        Fault(429, {"message": "too many requests"}, {"X-RateLimit-Reset": str(reset)})
    )
    with pytest.raises(ProviderUnavailable) as second:
        market(url).daily_bars(["AAPL"], [SESSION])
    assert second.value.retry_after is not None and 15 <= second.value.retry_after <= 20
    # The next call is served.
    assert len(market(url).daily_bars(["AAPL"], [SESSION])) == 1


def test_refused_keys_name_the_variables_to_set(alpaca: tuple[FakeAlpaca, str]) -> None:
    _, url = alpaca
    wrong = market(url, secret_key="sk-not-the-right-secret-at-all-0000")
    with pytest.raises(ProviderAuthError, match="HTTP 403") as data:
        wrong.daily_bars(["AAPL"], [SESSION])  # the data API answers 403 "forbidden."
    with pytest.raises(ProviderAuthError, match="HTTP 401") as trading:
        AlpacaBroker(connection=connect(url, key_id="PKWRONG")).account()
    for error in (data.value, trading.value):
        assert "APCA_API_KEY_ID" in str(error) and "APCA_API_SECRET_KEY" in str(error)
        assert len(str(error).splitlines()) == 1
        assert not isinstance(error, ProviderUnavailable)  # never retried


def test_a_server_error_is_transient_and_the_next_call_succeeds(
    alpaca: tuple[FakeAlpaca, str],
) -> None:
    state, url = alpaca
    state.faults["/v2/account"].append(Fault(500, {"code": 50010000, "message": "internal"}))
    broker = AlpacaBroker(connection=connect(url))
    with pytest.raises(ProviderUnavailable, match="HTTP 500"):
        broker.account()
    assert broker.account()["equity"] == pytest.approx(state.equity(SESSION), abs=0.01)


def test_a_malformed_body_quotes_the_offending_field(alpaca: tuple[FakeAlpaca, str]) -> None:
    state, url = alpaca
    bad = {
        "bars": {
            "AAPL": [{"t": "2026-11-25T05:00:00Z", "o": 1, "h": 2, "l": 1, "c": "abc", "v": 9}]
        },
        "next_page_token": None,
    }
    state.faults["/v2/stocks/bars"].append(Fault(200, bad))
    with pytest.raises(ProviderError, match=r"field bars\.AAPL\.0\.c: .*'abc'"):
        market(url).daily_bars(["AAPL"], [SESSION])
    state.faults["/v2/account"].append(Fault(200, raw="<html>maintenance</html>"))
    with pytest.raises(ProviderError, match="not JSON"):
        AlpacaBroker(connection=connect(url)).account()
    state.faults["/v2/positions"].append(Fault(200, {"positions": []}))
    with pytest.raises(ProviderError, match="expected a JSON array"):
        AlpacaBroker(connection=connect(url)).ledger()


def test_a_hang_past_the_timeout_is_transient(alpaca: tuple[FakeAlpaca, str]) -> None:
    state, url = alpaca
    state.faults["/v2/stocks/bars"].append(Fault(hang_s=3.0))
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable, match=r"no answer within 0\.5 s"):
        market(url, timeout_s=0.5).daily_bars(["AAPL"], [SESSION])
    assert time.monotonic() - started < 2.5


def test_an_echoed_key_never_reaches_the_error(alpaca: tuple[FakeAlpaca, str]) -> None:
    state, url = alpaca
    echo = f"{SECRET_KEY} is not valid for this endpoint; key id {KEY_ID}"
    state.faults["/v2/stocks/bars"].append(Fault(500, raw=echo))
    with pytest.raises(ProviderUnavailable) as caught:
        market(url).daily_bars(["AAPL"], [SESSION])
    text = str(caught.value)
    assert "[redacted]" in text
    for secret in (SECRET_KEY, KEY_ID):
        assert all(secret[i : i + 8] not in text for i in range(len(secret) - 7))


def test_the_universe_is_checked_against_the_asset_list(alpaca: tuple[FakeAlpaca, str]) -> None:
    _, url = alpaca
    frame = market(url).universe(held=["JPM"])
    assert frame["symbol"].tolist() == SYMBOLS
    assert frame.loc[frame["symbol"] == "SPY", "is_benchmark"].item()
    assert frame["sector"].iloc[:5].isna().all()  # Alpaca gives no sector
    with pytest.raises(UnknownSymbolError, match="OLDCO"):
        market(url).universe(held=["OLDCO"])  # listed, but inactive
    with pytest.raises(UnknownSymbolError, match="ZZZZ"):
        AlpacaMarketData(connection=connect(url), watchlist=["ZZZZ"]).universe()


def test_news_is_paged_and_one_article_on_two_symbols_is_two_rows(
    alpaca: tuple[FakeAlpaca, str],
) -> None:
    state, url = alpaca
    news = market(url).news(["AAPL", "MSFT", "NVDA"], dt.date(2026, 11, 18), SESSION)
    assert len([r for r in state.requests if r[0] == "/v1beta1/news"]) >= 2
    assert news["news_id"].is_unique and news["impact"].isna().all()
    assert news["published_at"].is_monotonic_increasing
    shared = news["news_id"].str.split("-").str[0].value_counts()
    assert shared.max() == 2


def test_option_chains_are_parsed_from_occ_symbols_and_point_in_time(
    alpaca: tuple[FakeAlpaca, str],
) -> None:
    _, url = alpaca
    assert parse_occ_symbol("AAPL261218C00162500") == ("AAPL", dt.date(2026, 12, 18), "call", 162.5)
    assert parse_occ_symbol("not an option") is None
    chains = market(url).option_chains(["AAPL", "MSFT"])
    assert set(chains["symbol"]) == {"AAPL", "MSFT"}
    assert chains["days_to_expiry"].between(7, 120).all()
    spot = chains["underlying_price"]
    assert chains["strike"].between(0.8 * spot - 0.01, 1.2 * spot + 0.01).all()
    assert (chains["ask"] >= chains["bid"]).all()
    # A replay pinned to an earlier session must not read today's live quotes.
    earlier = AlpacaMarketData(connection=connect(url), as_of="2026-11-20")
    with pytest.raises(DatasetNotProvided, match="snapshots are live"):
        earlier.option_chains(["AAPL"])


def test_broker_books_the_server_holds_with_realized_pnl_from_fills(
    alpaca: tuple[FakeAlpaca, str],
) -> None:
    state, url = alpaca
    broker = AlpacaBroker(connection=connect(url), as_of=AS_OF)
    ledger = broker.ledger()
    assert ledger.positions["symbol"].tolist() == ["AAPL", "JPM", "MSFT"]
    assert ledger.positions["quantity"].tolist() == [100.0, 60.0, 40.0]
    assert ledger.positions["average_cost"].tolist() == [150.0, 180.0, 310.0]
    assert ledger.realized_pnl == pytest.approx(REALIZED)
    assert ledger.cash == 60_000.0
    # 8 fills over 4-item pages: the listing walked page_token = last id to the empty page.
    pages = [r for r in state.requests if r[0] == "/v2/account/activities/FILL"]
    assert len(pages) == 3 and pages[1][1]["page_token"] == [FILLS[3]["id"]]
    account = broker.account()
    assert account["equity"] == pytest.approx(state.equity(SESSION), abs=0.01)
    previous = calendar.previous_session(SESSION)
    assert account["broker_day_pnl"] == pytest.approx(
        state.equity(SESSION) - state.equity(previous), abs=0.02
    )
    history = broker.equity_history()
    assert history["date"].iloc[-1] == SESSION
    assert history["equity"].iloc[-1] == pytest.approx(state.equity(SESSION), abs=0.01)


def test_calendar_disagreements_are_reported_not_raised(alpaca: tuple[FakeAlpaca, str]) -> None:
    state, url = alpaca
    broker = AlpacaBroker(connection=connect(url))
    start, end = dt.date(2026, 11, 1), SESSION
    assert broker.calendar_disagreements(start, end) == []
    state.calendar_overrides["2026-11-24"] = {"close": "13:00"}
    state.calendar_overrides["2026-11-23"] = None
    problems = broker.calendar_disagreements(start, end)
    assert problems == [
        "2026-11-24: Alpaca trades 09:30-13:00, the exchange calendar 09:30-16:00",
        "2026-11-23: a session of the exchange calendar that Alpaca does not list",
    ]


# ---------------------------------------------------------------------------- the graph
def alpaca_env(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    for name, value in {
        "ROBO_MARKET_DATA": "alpaca",
        "ROBO_BROKER": "alpaca",
        "APCA_API_KEY_ID": KEY_ID,
        "APCA_API_SECRET_KEY": SECRET_KEY,
        "ROBO_ALPACA_TRADING_URL": url,
        "ROBO_ALPACA_DATA_URL": url,
        "ROBO_WATCHLIST": ",".join(WATCHLIST),
        "ROBO_RETRY_BASE_DELAY_S": "0",
    }.items():
        monkeypatch.setenv(name, value)


def read_all_tables(path: str) -> str:
    with duckdb.connect(path, read_only=True) as conn:
        names = conn.execute(
            "select schema_name || '.' || table_name from duckdb_tables()"
        ).fetchall()
        return "\n".join(
            conn.execute(f"select * from {name}").fetchdf().to_csv() for (name,) in names
        )


def assert_no_secret(text: str) -> None:
    for secret in (SECRET_KEY, KEY_ID):
        leaked = [secret[i : i + 8] for i in range(len(secret) - 7) if secret[i : i + 8] in text]
        assert not leaked, f"a part of a key leaked: {leaked[:3]}"


@pytest.fixture(scope="module")
def alpaca_graph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The whole graph on the loopback Alpaca (market data and broker), with an options
    outage, and a server error that echoes the secret key on the first bars request."""
    monkeypatch = pytest.MonkeyPatch()
    state = new_state()
    state.faults["/v1beta1/options/snapshots/*"].append(
        Fault(502, {"message": "bad gateway"}, times=-1)
    )
    state.faults["/v2/stocks/bars"].append(Fault(500, raw=f"upstream rejected {SECRET_KEY}"))
    root = tmp_path_factory.mktemp("alpaca_graph")
    path = str(root / "robo.duckdb")
    try:
        with serve(state) as url, DagsterInstance.ephemeral(tempdir=str(root / "home")) as instance:
            alpaca_env(monkeypatch, url)
            resources = build_resources(path, as_of=AS_OF)
            result = materialize_all(resources, sessions=260, instance=instance)
            logs = [str(record) for record in instance.all_logs(result.run_id)]
            yield {"state": state, "path": path, "result": result, "logs": logs}
    finally:
        monkeypatch.undo()


def _read(path: str, sql: str) -> pd.DataFrame:
    with duckdb.connect(path, read_only=True) as conn:
        return conn.execute(sql).fetchdf()


def test_the_graph_runs_on_alpaca_and_books_what_the_server_holds(
    alpaca_graph: dict[str, Any],
) -> None:
    result, path, state = alpaca_graph["result"], alpaca_graph["path"], alpaca_graph["state"]
    assert result.success
    positions = _read(path, "select * from portfolio.positions order by symbol")
    assert positions["symbol"].tolist() == sorted(h.symbol for h in HOLDINGS)
    assert positions["quantity"].tolist() == [100.0, 60.0, 40.0]
    assert positions["average_cost"].tolist() == [150.0, 180.0, 310.0]
    account = _read(path, "select * from portfolio.account_balances").iloc[0]
    assert account["equity"] == pytest.approx(state.equity(SESSION), abs=0.01)
    assert account["realized_pnl"] == pytest.approx(REALIZED)
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["positions_reconcile"].passed  # our marks are the server's closes
    assert checks["broker_calendar_agrees"].passed


def test_the_equity_curve_is_alpacas_own_history(alpaca_graph: dict[str, Any]) -> None:
    result, path, state = alpaca_graph["result"], alpaca_graph["path"], alpaca_graph["state"]
    history = state.portfolio_history()
    equity = _read(path, "select * from portfolio.equity_history order by date")
    assert (equity["source"] == "broker portfolio history").all()
    assert equity["date"].dt.date.tolist() == calendar.sessions_between(
        SESSION - dt.timedelta(days=20), SESSION
    )
    assert equity["equity"].tolist() == pytest.approx(history["equity"])
    assert equity["day_pnl"].iloc[1:].tolist() == pytest.approx(
        np.diff(history["profit_loss"]).tolist()
    )
    assert equity[["cash", "market_value", "fees"]].isna().all().all()
    assert (equity["deposits"] == 0).all() and (equity["withdrawals"] == 0).all()
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["equity_history_ties_to_broker"].passed
    pnl = _read(path, "select * from portfolio.pnl_history")
    latest = pnl.loc[pnl["date"] == pnl["date"].max()].sort_values("symbol")
    assert latest["symbol"].tolist() == sorted(h.symbol for h in HOLDINGS)
    assert checks["pnl_history_ties_to_equity"].passed, checks["pnl_history_ties_to_equity"]


def test_every_bar_served_is_stored_once(alpaca_graph: dict[str, Any]) -> None:
    path, state = alpaca_graph["path"], alpaca_graph["state"]
    stored = _read(path, "select symbol, date from market_data.price_bars")
    assert not stored.duplicated().any()
    assert len(stored) == len(SYMBOLS) * 260
    served = {
        (s, dt.datetime.fromisoformat(t.replace("Z", "+00:00"))) for s, t in state.served_bars
    }
    served_sessions = {
        (s, pd.Timestamp(t).tz_convert(calendar.EXCHANGE_TIMEZONE).date()) for s, t in served
    }
    assert served_sessions == set(zip(stored["symbol"], stored["date"].dt.date, strict=True))


def test_an_options_outage_degrades_that_signal_only(alpaca_graph: dict[str, Any]) -> None:
    path, result = alpaca_graph["path"], alpaca_graph["result"]
    assert _read(path, "select count(*) as n from market_data.option_chains")["n"].item() == 0
    assert _read(path, "select count(*) as n from market_data.options_summary")["n"].item() == 0
    assert _read(path, "select count(*) as n from market_data.news")["n"].item() > 0
    materialized = {
        e.asset_key.to_user_string(): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    reason = materialized["market_data/option_chains"]["not_provided"].value
    assert "unavailable after 5 retries" in reason and "HTTP 502" in reason
    features = _read(
        path, "select distinct signals_not_provided from ai_analysis.analysis_features"
    )
    # Alpaca has no earnings or fundamentals without ROBO_DATA_DIR.
    assert features["signals_not_provided"].tolist() == ["earnings,valuation,options"]
    recs = _read(path, "select rationale from ai_analysis.trade_recommendations")
    assert (
        len(recs)
        and recs["rationale"]
        .str.contains("not provided by the source: earnings, valuation, options")
        .all()
    )
    risk = _read(path, "select beta, beta_note from portfolio.portfolio_risk").iloc[0]
    assert pd.notna(risk["beta"]) and risk["beta_note"] == ""  # SPY is served


def test_no_key_appears_in_logs_metadata_or_duckdb(alpaca_graph: dict[str, Any]) -> None:
    logs = "\n".join(alpaca_graph["logs"])
    assert "upstream rejected [redacted]" in logs  # the echo was there, and was redacted
    assert_no_secret(logs)
    assert_no_secret(read_all_tables(alpaca_graph["path"]))


def test_a_step_retries_a_server_error_with_the_data_queue_backoff(
    alpaca: tuple[FakeAlpaca, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    state, url = alpaca
    alpaca_env(monkeypatch, url)
    state.faults["/v2/stocks/bars"].append(Fault(500, {"message": "internal"}, times=2))
    from robo_dagster.definitions import defs

    resources = build_resources(str(tmp_path / "robo.duckdb"), as_of=AS_OF)
    result = materialize(
        [*defs.assets, *defs.asset_checks],  # type: ignore[misc]
        resources=resources,
        partition_key=AS_OF,
        selection=AssetSelection.assets(["market_data", "universe"], ["market_data", "price_bars"]),
    )
    assert result.success
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retries) == 2


def test_refused_keys_fail_the_step_at_once(
    alpaca: tuple[FakeAlpaca, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _, url = alpaca
    alpaca_env(monkeypatch, url)
    monkeypatch.setenv("APCA_API_SECRET_KEY", "sk-wrong-wrong-wrong-wrong")
    from robo_dagster.definitions import defs

    resources = build_resources(str(tmp_path / "robo.duckdb"), as_of=AS_OF)
    result = materialize(
        [*defs.assets, *defs.asset_checks],  # type: ignore[misc]
        resources=resources,
        selection=AssetSelection.assets(["portfolio", "account_balances"]),
        raise_on_error=False,
    )
    assert not result.success
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "APCA_API_SECRET_KEY" in failure.event_specific_data.error.to_string()


def test_the_price_move_sensor_reads_alpaca_snapshots(alpaca: tuple[FakeAlpaca, str]) -> None:
    from robo_dagster.automation.price_move_sensor import price_move_result

    state, url = alpaca
    now = pd.Timestamp("2026-11-25 18:00")  # 13:00 in New York, the market open
    quotes = market(url).quotes(["AAPL", "MSFT", "ZZZZ"], now)
    assert quotes["symbol"].tolist() == ["AAPL", "MSFT"]  # Alpaca maps ZZZZ to null
    previous = calendar.previous_session(SESSION)
    aapl = quotes.set_index("symbol").loc["AAPL"]
    assert aapl["previous_close"] == pytest.approx(state.close("AAPL", previous))
    expected = (state.close("AAPL", SESSION) / state.close("AAPL", previous) - 1) * 100
    assert aapl["change_pct"] == pytest.approx(expected)
    result = price_move_result(market(url), None, now, threshold_pct=abs(expected) * 0.9)
    assert f"price-move-{SESSION}-AAPL-{'up' if expected > 0 else 'down'}1" in event_ids(
        result.run_requests
    )


def test_unscored_alpaca_headlines_trigger_nothing(alpaca: tuple[FakeAlpaca, str]) -> None:
    from robo_dagster.automation.news_sensor import news_tick

    _, url = alpaca
    now = pd.Timestamp("2026-11-25 20:00")
    since = '{"published_at": "2026-11-23T00:00:00", "news_id": ""}'
    requests, cursor, read = news_tick(market(url), since, now)
    assert read > 0 and requests == []  # no impact score: the seed's rules cannot apply
    assert "published_at" in cursor


def test_a_news_outage_leaves_news_not_provided_and_says_why(
    alpaca: tuple[FakeAlpaca, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    state, url = alpaca
    alpaca_env(monkeypatch, url)
    state.faults["/v1beta1/news"].append(Fault(hang_s=2.0, times=-1))
    monkeypatch.setenv("ROBO_RETRY_BASE_DELAY_S", "0")
    from robo_dagster.definitions import defs
    from robo_dagster.market_data.assets import news

    resources = build_resources(str(tmp_path / "robo.duckdb"), as_of=AS_OF)
    resources["market"] = AlpacaMarketData(
        connection=connect(url, timeout_s=0.3), watchlist=WATCHLIST, as_of=AS_OF
    )
    result = materialize(
        [*defs.assets, *defs.asset_checks],  # type: ignore[misc]
        resources=resources,
        selection=AssetSelection.assets(["market_data", "universe"], news),
    )
    assert result.success
    metadata = next(
        e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key == news.key
    )
    assert metadata["provided"].value is False
    assert "no answer within 0.3 s" in metadata["not_provided"].value
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retries) == 5  # the data queue's retries, then "not provided"


def test_earnings_and_fundamentals_come_from_files_beside_alpaca(
    alpaca: tuple[FakeAlpaca, str], tmp_path: Path
) -> None:
    from tests.providers.market_files import write_reports

    _, url = alpaca
    write_reports(tmp_path, SESSION, symbols=["AAPL", "MSFT", "JPM", "SPY"])
    plain = market(url)
    with pytest.raises(DatasetNotProvided, match="set ROBO_DATA_DIR"):
        plain.earnings(["AAPL"], SESSION - dt.timedelta(days=90), SESSION)
    with pytest.raises(DatasetNotProvided, match="set ROBO_DATA_DIR"):
        plain.fundamentals(["AAPL"])
    supplied = AlpacaMarketData(
        connection=connect(url), watchlist=WATCHLIST, as_of=AS_OF, supplement_dir=str(tmp_path)
    )
    earnings = supplied.earnings(["AAPL", "MSFT"], SESSION - dt.timedelta(days=90), SESSION)
    assert set(earnings["symbol"]) == {"AAPL", "MSFT"} and (earnings["status"] == "reported").all()
    fundamentals = supplied.fundamentals(["AAPL", "MSFT"]).set_index("symbol")
    close = supplied.daily_bars(["AAPL"], [SESSION])["close"].item()
    assert fundamentals.loc["AAPL", "pe_ratio"] == pytest.approx(close / 6.1)
    universe = supplied.universe().set_index("symbol")
    assert universe.loc["JPM", "sector"] == "Financials"
    assert pd.isna(universe.loc["NVDA", "sector"])  # not in sectors.csv: unknown, not guessed
