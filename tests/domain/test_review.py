"""Morning brief, risk assessment, P&L attribution, evening review and scorecard on
small books where the answer is obvious."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from robo_dagster.domain import calendar
from robo_dagster.domain.portfolio import mark_to_market, summarize_pnl
from robo_dagster.domain.review import (
    BRIEF_COLUMNS,
    SCENARIO_COLUMNS,
    SCENARIOS,
    SCORECARD_SUMMARY_COLUMNS,
    SEVERITIES,
    assess_risk,
    evening_review,
    morning_brief,
    pnl_attribution,
    recommendation_scorecard,
    reconcile_review,
)

SESSION = pd.Timestamp("2026-03-10")  # a Tuesday; the brief prepares for it
HISTORY = calendar.session_index("2026-01-02", "2026-03-09")  # sessions before it
LIMITS = {
    "max_position_weight": 0.25,
    "max_sector_weight": 0.5,
    "var_95_limit_pct": 0.03,
    "cash_floor_pct": 0.02,
    "max_gross_exposure": 1.5,
}
SECTORS = {
    "AAA": "Information Technology",
    "BBB": "Energy",
    "CCC": "Health Care",
    "DDD": "Financials",
    "EEE": "Utilities",
    "SPY": "Index",
}


def quiet_closes(n: int, start: float = 100.0) -> np.ndarray:
    """Alternating +-0.5 % moves: a daily vol of 0.5 % and no large move."""
    return start * np.cumprod(np.where(np.arange(n) % 2 == 0, 1.005, 1 / 1.005))


def make_bars(closes: dict[str, np.ndarray], dates: pd.DatetimeIndex = HISTORY) -> pd.DataFrame:
    """Bars whose open is the previous close (no overnight gap) unless changed later."""
    frames = []
    for symbol, close in closes.items():
        close = np.asarray(close, dtype=float)
        opens = np.concatenate([[close[0]], close[:-1]])
        frames.append(
            pd.DataFrame(
                {
                    "date": dates[: len(close)],
                    "symbol": symbol,
                    "open": opens,
                    "high": np.maximum(opens, close) * 1.001,
                    "low": np.minimum(opens, close) * 0.999,
                    "close": close,
                    "volume": 1_000_000,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def make_universe(held_or_seed: list[str], watch: tuple[str, ...] = ()) -> pd.DataFrame:
    symbols = [*held_or_seed, *watch, "SPY"]
    return pd.DataFrame(
        {
            "symbol": symbols,
            "name": symbols,
            "sector": [SECTORS[s] for s in symbols],
            "is_seed_symbol": [s in held_or_seed for s in symbols],
            "on_watchlist": [s in watch for s in symbols],
            "is_benchmark": [s == "SPY" for s in symbols],
        }
    )


def make_positions(
    quantities: dict[str, float], bars: pd.DataFrame, cash: float, realized: float = 0.0
) -> pd.DataFrame:
    """Positions marked on each symbol's last bar, through the real ``mark_to_market``."""
    ordered = bars.sort_values(["symbol", "date"])
    ordered = ordered.assign(prev_close=ordered.groupby("symbol")["close"].shift(1))
    quotes = ordered.groupby("symbol").tail(1).rename(columns={"date": "price_date"})
    book = pd.DataFrame(
        {
            "symbol": list(quantities),
            "quantity": list(quantities.values()),
            "average_cost": 90.0,
            "realized_pnl": realized,
            "opened_on": pd.Timestamp("2025-06-02"),
        }
    )
    return mark_to_market(
        book,
        quotes[["symbol", "price_date", "open", "close", "prev_close"]],
        pd.Series(SECTORS),
        cash=cash,
    )


def make_risk(positions: pd.DataFrame, cash: float, var_pct: float) -> pd.DataFrame:
    equity = cash + float(positions["market_value"].sum())
    weights = positions["weight"].abs()
    sectors = positions.groupby("sector")["weight"].sum()
    return pd.DataFrame(
        [
            {
                "equity": equity,
                "gross_exposure": float(positions["market_value"].abs().sum()) / equity,
                "net_exposure": float(positions["market_value"].sum()) / equity,
                "largest_position": positions.loc[weights.idxmax(), "symbol"],
                "largest_position_weight": float(weights.max()),
                "beta": 1.0,
                "var_95_1d": var_pct * equity,
                "var_95_1d_pct": var_pct,
                "volatility_annual": 0.2,
                "max_drawdown": 0.1,
                "largest_sector": sectors.idxmax(),
                "largest_sector_weight": float(sectors.max()),
            }
        ]
    )


def make_news(*rows: tuple[str, str, float, float]) -> pd.DataFrame:
    """(symbol, published_at, impact, sentiment) rows."""
    frame = pd.DataFrame(rows, columns=["symbol", "published_at", "impact", "sentiment"])
    return frame.assign(
        news_id=[f"n{i}" for i in range(len(frame))],
        published_at=pd.to_datetime(frame["published_at"]),
        source="Wire",
        headline="Something happened at " + frame["symbol"],
        tone=np.where(frame["sentiment"] < 0, "negative", "positive"),
        sentiment_label=np.where(frame["sentiment"] <= -0.05, "negative", "positive"),
    )


NO_NEWS = make_news()


def make_earnings(*rows: tuple[str, str, str]) -> pd.DataFrame:
    """(symbol, report_date, timing) rows, all still scheduled."""
    frame = pd.DataFrame(rows, columns=["symbol", "report_date", "timing"])
    return frame.assign(
        fiscal_quarter="2026Q1",
        period_end=pd.Timestamp("2026-03-31"),
        report_date=pd.to_datetime(frame["report_date"]),
        eps_estimate=1.25,
        eps_actual=np.nan,
        status="scheduled",
        surprise_pct=np.nan,
    )


NO_EARNINGS = make_earnings()


@pytest.fixture()
def quiet_market() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A small, calm book: AAA held at 10 % of equity, BBB watched, SPY benchmark."""
    n = len(HISTORY)
    bars = make_bars(
        {"AAA": quiet_closes(n), "BBB": quiet_closes(n, 50.0), "SPY": quiet_closes(n, 400.0)}
    )
    universe = make_universe(["AAA"], ("BBB",))
    mv = 100 * float(bars.loc[bars["symbol"] == "AAA", "close"].iloc[-1])
    positions = make_positions({"AAA": 100}, bars, cash=9 * mv)
    risk = make_risk(positions, cash=9 * mv, var_pct=0.005)
    return bars, universe, positions, risk


# ---------------------------------------------------------------------------- morning brief
def test_quiet_book_needs_no_action(quiet_market) -> None:
    bars, universe, positions, risk = quiet_market
    items, markdown, requires_action = morning_brief(
        bars, NO_NEWS, NO_EARNINGS, universe, positions, risk, LIMITS, SESSION
    )
    assert requires_action is False
    assert list(items.columns) == BRIEF_COLUMNS
    assert set(items["section"]) == {"move", "gap"}  # reported, none flagged
    assert set(items["symbol"]) == {"AAA", "BBB"}  # held + watched; SPY is neither
    assert (items["severity"] == "INFO").all()
    assert "No action required" in markdown and "# Morning brief for 2026-03-10" in markdown


def test_negative_high_impact_news_on_a_held_name_requires_action(quiet_market) -> None:
    bars, universe, positions, risk = quiet_market
    news = make_news(
        ("AAA", "2026-03-09 14:00", 0.9, -0.6),  # last session, held: flagged
        ("BBB", "2026-03-09 15:00", 0.5, -0.8),  # low impact: not news-worthy
        ("AAA", "2026-02-20 14:00", 0.95, -0.9),  # weeks old: not in the brief
    )
    items, markdown, requires_action = morning_brief(
        bars, news, NO_EARNINGS, universe, positions, risk, LIMITS, SESSION
    )
    assert requires_action is True
    flagged = items[items["section"] == "news"]
    assert flagged["symbol"].tolist() == ["AAA"]
    assert flagged["value"].iloc[0] == pytest.approx(-0.6)
    # The seed's rule: impact > 0.8 with negative sentiment on a held name is critical.
    assert flagged["severity"].iloc[0] == "CRITICAL"
    action = items[items["section"] == "action"]
    assert action["symbol"].tolist() == ["AAA"] and action["severity"].iloc[0] == "CRITICAL"
    assert "high-impact news" in action["detail"].iloc[0]
    assert "Action required" in markdown


def test_news_on_a_watched_name_only_informs(quiet_market) -> None:
    bars, universe, positions, risk = quiet_market
    news = make_news(("BBB", "2026-03-09 14:00", 0.9, -0.6))
    items, _, requires_action = morning_brief(
        bars, news, NO_EARNINGS, universe, positions, risk, LIMITS, SESSION
    )
    assert requires_action is False
    assert items.loc[items["section"] == "action", "severity"].tolist() == ["INFO"]


def test_large_move_on_a_held_name_is_flagged(quiet_market) -> None:
    bars, universe, positions, risk = quiet_market
    bars = bars.copy()
    last_aaa = bars.index[(bars["symbol"] == "AAA") & (bars["date"] == HISTORY[-1])]
    bars.loc[last_aaa, "close"] = (
        bars.loc[last_aaa - 1, "close"].to_numpy() * 0.95
    )  # -5 %, 10 sigma
    items, _, requires_action = morning_brief(
        bars, NO_NEWS, NO_EARNINGS, universe, positions, risk, LIMITS, SESSION
    )
    move = items[(items["section"] == "move") & (items["symbol"] == "AAA")].iloc[0]
    assert move["value"] == pytest.approx(-0.05)
    assert move["severity"] == "WARNING" and "LARGE" in move["detail"]
    assert requires_action is True


def test_earnings_tomorrow_for_a_held_name_is_listed(quiet_market) -> None:
    bars, universe, positions, risk = quiet_market
    earnings = make_earnings(
        ("AAA", "2026-03-11", "BMO"),  # the session after the brief's: within 1 session
        ("BBB", "2026-03-13", "AMC"),  # watched, 3 sessions out: listed, no action
        ("AAA", "2026-04-28", "AMC"),  # far off: not listed
    )
    items, markdown, requires_action = morning_brief(
        bars, NO_NEWS, earnings, universe, positions, risk, LIMITS, SESSION
    )
    listed = items[items["section"] == "earnings"].set_index("symbol")
    assert listed.index.tolist() == ["AAA", "BBB"]
    assert listed.loc["AAA", "value"] == 1.0 and listed.loc["BBB", "value"] == 3.0
    assert listed.loc["AAA", "severity"] == "WARNING" and listed.loc["BBB", "severity"] == "INFO"
    assert "next session" in listed.loc["AAA", "detail"]
    assert requires_action is True
    assert "2026Q1" in markdown


def test_last_nights_after_close_report_counts_as_today(quiet_market) -> None:
    bars, universe, positions, risk = quiet_market
    earnings = make_earnings(("AAA", "2026-03-09", "AMC"), ("BBB", "2026-03-09", "BMO"))
    items, _, requires_action = morning_brief(
        bars, NO_NEWS, earnings, universe, positions, risk, LIMITS, SESSION
    )
    listed = items[items["section"] == "earnings"]
    assert listed["symbol"].tolist() == ["AAA"]  # the BMO one already traded on it
    assert listed["value"].iloc[0] == 0.0 and "after the last close" in listed["detail"].iloc[0]
    assert requires_action is True


def test_positions_near_limits_are_listed(quiet_market) -> None:
    bars, universe, _, _ = quiet_market
    mv = 100 * float(bars.loc[bars["symbol"] == "AAA", "close"].iloc[-1])
    positions = make_positions({"AAA": 100}, bars, cash=3 * mv)  # 25 %: at the limit
    risk = make_risk(positions, cash=3 * mv, var_pct=0.025)  # 83 % of the VaR limit
    items, _, requires_action = morning_brief(
        bars, NO_NEWS, NO_EARNINGS, universe, positions, risk, LIMITS, SESSION
    )
    limits = items[items["section"] == "limit"]
    assert set(limits["symbol"]) == {"AAA", ""}
    assert limits["severity"].isin(SEVERITIES[1:]).all()
    assert requires_action is True


def test_a_sector_past_its_limit_reads_the_same_in_the_brief_and_the_assessment() -> None:
    # Three Information Technology names at 16.93 % each: the sector is 50.8 % of
    # equity against a 50 % limit, no position is near its own 25 %.
    n = len(HISTORY)
    bars = make_bars({s: quiet_closes(n) for s in ("AAA", "BBB", "CCC", "SPY")})
    equity = 1_000_000.0
    last = bars.groupby("symbol")["close"].last()
    quantities = {s: 0.16933 * equity / last[s] for s in ("AAA", "BBB", "CCC")}
    cash = equity * (1 - 3 * 0.16933)
    positions = make_positions(quantities, bars, cash=cash).assign(sector="Information Technology")
    risk = make_risk(positions, cash=cash, var_pct=0.005)
    universe = make_universe(["AAA", "BBB", "CCC"], ("DDD",))
    news = make_news(("DDD", "2026-03-09 14:00", 0.9, -0.6))  # a watched name: informs
    items, markdown, requires_action = morning_brief(
        bars, news, NO_EARNINGS, universe, positions, risk, LIMITS, SESSION
    )
    detail = "sector Information Technology at 50.8 % of equity vs its limit of 50.0 % (ERROR)"
    limits = items[items["section"] == "limit"]
    assert limits[["symbol", "detail", "severity"]].values.tolist() == [["", detail, "ERROR"]]
    _, report, summary = assess_risk(positions, bars, risk, LIMITS)
    assert summary["severity"] == "ERROR" and summary["reasons"] == [detail]
    assert "# Risk assessment: ERROR" in report and f"- {detail}" in report

    # The header counts the list under "Actions": the book's refresh, not the watched
    # name's, which is listed apart.
    assert requires_action is True
    actions = items[items["section"] == "action"].set_index("symbol")["severity"].to_dict()
    assert actions == {"": "ERROR", "DDD": "INFO"}
    assert "**Action required**: 1 item(s) need a recommendation refresh." in markdown
    listed = markdown.split("## Actions\n\n")[1].split("\n\n##")[0].splitlines()
    assert listed == [f"- ERROR: the book: refresh the recommendation ({detail})"]
    watched = markdown.split("## Watched names (for information)\n\n")[1].split("\n\n")[0]
    assert watched.startswith("- INFO: DDD: refresh the recommendation (high-impact news")


def test_the_reports_write_percentages_and_money_for_people(quiet_market) -> None:
    bars, universe, positions, risk = quiet_market
    _, brief, _ = morning_brief(
        bars, NO_NEWS, NO_EARNINGS, universe, positions, risk, LIMITS, SESSION
    )
    pnl = summarize_pnl(positions, 1_234_567.891, float(risk["equity"].iloc[0]))
    _, review = evening_review(positions, pnl, bars, universe, None, HISTORY[-1])
    for text in (brief, review):
        assert "e+" not in text and "e-0" not in text
    assert "| +0.50 % |" in brief or "| -0.50 % |" in brief  # the moves table
    assert "realized_pnl   | +1,234,567.89" in review


# ---------------------------------------------------------------------------- risk
def random_bars(symbols: list[str], n: int = 300, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = calendar.session_index("2025-01-02", "2026-12-31")[:n]
    market = rng.normal(0.0, 0.01, n)
    closes = {
        s: 100.0
        * np.exp(np.cumsum(market if s == "SPY" else 0.8 * market + rng.normal(0, 0.01, n)))
        for s in symbols
    }
    bars = make_bars(closes, dates)
    # Give every name some overnight gaps to find.
    bars["open"] = bars["open"] * np.exp(rng.normal(0.0, 0.004, len(bars)))
    return bars


def test_spy_only_book_loses_ten_percent_of_its_value_in_a_ten_percent_fall() -> None:
    bars = random_bars(["SPY"])
    mv = 100 * float(bars["close"].iloc[-1])
    positions = make_positions({"SPY": 100}, bars, cash=9 * mv)
    risk = make_risk(positions, cash=9 * mv, var_pct=0.002)
    scenarios, markdown, summary = assess_risk(positions, bars, risk, LIMITS)
    assert list(scenarios.columns) == SCENARIO_COLUMNS
    assert tuple(scenarios["scenario"]) == SCENARIOS
    losses = scenarios.set_index("scenario")
    assert abs(losses.loc["market -10%", "loss"] - 0.10 * mv) <= 1e-9 * mv
    assert abs(losses.loc["market -5%", "loss"] - 0.05 * mv) <= 1e-9 * mv
    assert losses.loc["market -10%", "loss_pct"] == pytest.approx(0.01)
    assert losses.loc["volatility spike", "loss"] == pytest.approx(2 * 0.002 * 10 * mv)
    # The worst gap is the most negative open / previous close in SPY's history.
    ordered = bars.sort_values("date")
    worst_gap = (ordered["open"] / ordered["close"].shift(1) - 1).min()
    assert losses.loc["largest single-name gap", "loss"] == pytest.approx(-worst_gap * mv)
    assert summary["severity"] == "INFO" and summary["reasons"] == []
    assert "# Risk assessment: INFO" in markdown


def test_var_above_its_limit_is_critical() -> None:
    bars = random_bars(["SPY"])
    mv = 100 * float(bars["close"].iloc[-1])
    positions = make_positions({"SPY": 100}, bars, cash=9 * mv)
    risk = make_risk(positions, cash=9 * mv, var_pct=0.04)
    _, _, summary = assess_risk(positions, bars, risk, LIMITS)
    assert summary["severity"] == "CRITICAL"
    assert summary["var_95_1d_pct"] == 0.04 and summary["var_limit"] == 0.03
    assert any("VaR" in reason for reason in summary["reasons"])


def test_a_position_over_its_limit_is_an_error_and_far_over_is_critical() -> None:
    bars = random_bars(["SPY", "AAA"])
    mv = 100 * float(bars.loc[bars["symbol"] == "AAA", "close"].iloc[-1])
    spy = 10 * float(bars.loc[bars["symbol"] == "SPY", "close"].iloc[-1])
    # AAA at 27 % (over 25 %, under 30 %): ERROR.
    cash = mv / 0.27 - mv - spy
    positions = make_positions({"AAA": 100, "SPY": 10}, bars, cash=cash)
    _, _, summary = assess_risk(positions, bars, make_risk(positions, cash, 0.001), LIMITS)
    assert summary["severity"] == "ERROR"
    assert summary["largest_position"] == "AAA"
    # AAA at 35 %, more than 20 % over its limit: CRITICAL.
    cash = mv / 0.35 - mv - spy
    positions = make_positions({"AAA": 100, "SPY": 10}, bars, cash=cash)
    _, _, summary = assess_risk(positions, bars, make_risk(positions, cash, 0.001), LIMITS)
    assert summary["severity"] == "CRITICAL"


def test_tiny_diversified_book_is_info() -> None:
    symbols = ["AAA", "BBB", "CCC", "DDD", "EEE"]
    bars = random_bars([*symbols, "SPY"])
    last = bars.groupby("symbol")["close"].last()
    quantities = {s: 2_000.0 / last[s] for s in symbols}  # 2 000 each
    positions = make_positions(quantities, bars, cash=90_000.0)  # 2 % weights
    risk = make_risk(positions, cash=90_000.0, var_pct=0.002)
    scenarios, _, summary = assess_risk(positions, bars, risk, LIMITS)
    assert summary["severity"] == "INFO", summary["reasons"]
    assert summary["largest_position_weight"] == pytest.approx(0.02)
    # The names load 0.8 on the market factor: the betas come out near it.
    crash = scenarios.set_index("scenario").loc["market -10%", "loss_pct"]
    assert 0.05 * 0.10 < crash < 0.15 * 0.10
    assert summary["worst_scenario"] in SCENARIOS


def test_big_market_exposure_is_critical_even_with_a_small_var() -> None:
    # Fully invested in SPY: a -10 % market costs 10 % of equity, over 4 x a 2 % VaR limit
    # that the book's 1 % VaR itself respects.
    bars = random_bars(["SPY"])
    limits = {
        **LIMITS,
        "max_position_weight": 1.0,
        "max_sector_weight": 1.0,
        "var_95_limit_pct": 0.02,
    }
    positions = make_positions({"SPY": 100}, bars, cash=0.0)
    _, _, summary = assess_risk(positions, bars, make_risk(positions, 0.0, 0.01), limits)
    assert summary["severity"] == "CRITICAL"
    assert summary["worst_scenario"] == "market -10%"
    assert summary["worst_scenario_loss_pct"] == pytest.approx(0.10)


# ---------------------------------------------------------------------------- P&L
def two_day_book() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """AAA 100 -> 110, BBB 50 -> 45, SPY 400 -> 404 on the review's session."""
    dates = calendar.session_index("2026-03-05", "2026-03-10")
    bars = make_bars(
        {
            "AAA": np.array([100.0, 100.0, 100.0, 110.0]),
            "BBB": np.array([50.0, 50.0, 50.0, 45.0]),
            "SPY": np.array([400.0, 400.0, 400.0, 404.0]),
        },
        dates,
    )
    universe = make_universe(["AAA", "BBB"])
    positions = make_positions({"AAA": 100, "BBB": 200}, bars, cash=5_000.0, realized=0.0)
    equity = 5_000.0 + float(positions["market_value"].sum())
    pnl = summarize_pnl(positions, realized_pnl=1_234.5, equity=equity)
    return bars, universe, positions, pnl


def test_pnl_attribution_sums_to_the_book() -> None:
    _, universe, positions, pnl = two_day_book()
    by_position, by_sector = pnl_attribution(positions, universe)
    assert by_position["daily_pnl"].sum() == pytest.approx(pnl["daily_pnl"])  # 1000 - 1000
    assert by_sector["daily_pnl"].sum() == pytest.approx(pnl["daily_pnl"])
    assert by_position.set_index("symbol")["sector"].to_dict() == {
        "AAA": "Information Technology",
        "BBB": "Energy",
    }


def test_contributions_are_shares_of_the_daily_pnl() -> None:
    bars, universe, positions, _ = two_day_book()
    positions = make_positions({"AAA": 300, "BBB": 200}, bars, cash=5_000.0)  # +3000 - 1000
    by_position, by_sector = pnl_attribution(positions, universe)
    shares = by_position.set_index("symbol")["contribution_pct"]
    assert shares["AAA"] == pytest.approx(150.0) and shares["BBB"] == pytest.approx(-50.0)
    assert by_sector["contribution_pct"].sum() == pytest.approx(100.0)


def test_evening_review_reconciles_and_measures_excess_return() -> None:
    bars, universe, positions, pnl = two_day_book()
    positions = make_positions({"AAA": 300, "BBB": 200}, bars, cash=5_000.0)
    equity = 5_000.0 + float(positions["market_value"].sum())
    pnl = summarize_pnl(positions, realized_pnl=1_234.5, equity=equity)
    morning = pd.DataFrame(
        {
            "section": ["action", "action", "move"],
            "symbol": ["AAA", "", "AAA"],
            "detail": ["AAA: refresh (high-impact news)", "the book: refresh (VaR)", "moved"],
            "value": [1.0, 1.0, 0.0],
            "severity": ["CRITICAL", "WARNING", "INFO"],
        }
    )
    rows, markdown = evening_review(
        positions, pd.DataFrame([pnl]), bars, universe, morning, "2026-03-10"
    )
    ok, diff = reconcile_review(rows, pd.DataFrame([pnl]))
    assert ok and diff < 1e-9
    returns = rows[rows["section"] == "return"].set_index("item")["value"]
    book = 2_000.0 / (equity - 2_000.0)
    assert returns["book_return"] == pytest.approx(book)
    assert returns["book_return"] == pytest.approx(pnl["daily_return_pct"] / 100)
    assert returns["benchmark_return"] == pytest.approx(0.01)
    assert returns["excess_return"] == pytest.approx(book - 0.01)
    assert rows.loc[rows["section"] == "contributor", "symbol"].tolist() == ["AAA"]
    assert rows.loc[rows["section"] == "detractor", "symbol"].tolist() == ["BBB"]
    since = rows[rows["section"] == "since_morning"].set_index("symbol")
    assert since.loc["AAA", "value"] == pytest.approx(0.10)
    assert "high-impact news" in since.loc["AAA", "detail"]
    assert np.isnan(since.loc["", "value"])
    assert "# Evening review for 2026-03-10" in markdown and "excess" in markdown


def test_reconcile_review_catches_a_mismatch() -> None:
    bars, universe, positions, pnl = two_day_book()
    rows, _ = evening_review(positions, pnl, bars, universe, None, "2026-03-10")
    ok, _ = reconcile_review(rows, pnl)
    assert ok
    ok, diff = reconcile_review(rows, {**pnl, "unrealized_pnl": pnl["unrealized_pnl"] + 5.0})
    assert not ok and diff == pytest.approx(5.0)
    ok, diff = reconcile_review(rows[rows["item"] != "daily_pnl"], pnl)
    assert not ok and diff == float("inf")


# ---------------------------------------------------------------------------- scorecard
SCORE_DATES = calendar.session_index("2026-03-02", "2026-03-31")


def scorecard_bars() -> pd.DataFrame:
    """AAA climbs 1.0 a session from 100 (105 five sessions later), BBB climbs, CCC is flat."""
    n = len(SCORE_DATES)
    return make_bars(
        {
            "AAA": 100.0 + np.arange(n),  # +5 over 5 sessions from 100
            "BBB": 50.0 + 0.5 * np.arange(n),  # rises
            "CCC": np.full(n, 20.0),  # flat
        },
        SCORE_DATES,
    )


def recs(*rows: tuple[str, str, float, int, str]) -> pd.DataFrame:
    """(symbol, action, confidence, horizon_days, session) rows."""
    frame = pd.DataFrame(
        rows, columns=["symbol", "action", "confidence", "horizon_days", "session"]
    )
    return frame.assign(
        target_weight=0.05,
        current_weight=0.0,
        score=0.5,
        source="rules",
        session=pd.to_datetime(frame["session"]),
    )


def test_scorecard_scores_hits_and_misses() -> None:
    first = str(SCORE_DATES[0].date())
    history = recs(
        ("AAA", "BUY", 0.8, 5, first),  # 100 -> 105: a hit, +5 %
        ("BBB", "SELL", 0.6, 5, first),  # it rose: a miss
        ("CCC", "HOLD", 0.3, 5, first),  # flat: a hit
        ("AAA", "BUY", 0.5, 5, str(SCORE_DATES[-3].date())),  # 3 sessions left: unmatured
    )
    detail, summary = recommendation_scorecard(history, scorecard_bars(), SCORE_DATES[-1])
    assert detail["realized_return"].iloc[0] == pytest.approx(0.05)
    assert detail["exit_date"].iloc[0] == SCORE_DATES[5]
    assert detail["hit"].tolist()[:3] == [True, False, True]
    assert detail["realized_return"].iloc[1] > 0
    assert not detail["matured"].iloc[3] and pd.isna(detail["hit"].iloc[3])
    assert np.isnan(detail["realized_return"].iloc[3])

    assert list(summary.columns) == SCORECARD_SUMMARY_COLUMNS
    by = summary.set_index(["group_type", "group"])
    assert by.loc[("action", "BUY"), "count"] == 2 and by.loc[("action", "BUY"), "matured"] == 1
    assert by.loc[("action", "BUY"), "hit_rate"] == 1.0  # the unmatured BUY is left out
    assert by.loc[("action", "BUY"), "avg_return"] == pytest.approx(0.05)
    assert by.loc[("action", "SELL"), "hit_rate"] == 0.0
    assert by.loc[("action", "HOLD"), "hit_rate"] == 1.0
    # 0.8 -> '>=0.7', 0.6 and 0.5 -> '0.5-0.7', 0.3 -> '<0.5'.
    assert by.loc[("confidence", ">=0.7"), "count"] == 1
    assert by.loc[("confidence", "0.5-0.7"), "count"] == 2
    assert by.loc[("confidence", "0.5-0.7"), "matured"] == 1
    assert by.loc[("confidence", "<0.5"), "count"] == 1
    assert summary["group"].tolist() == ["BUY", "SELL", "HOLD", "<0.5", "0.5-0.7", ">=0.7"]


def test_scorecard_never_uses_bars_after_as_of() -> None:
    history = recs(("AAA", "BUY", 0.8, 5, str(SCORE_DATES[0].date())))
    detail, summary = recommendation_scorecard(history, scorecard_bars(), SCORE_DATES[4])
    assert not detail["matured"].iloc[0]
    assert np.isnan(summary.set_index("group")["hit_rate"]["BUY"])
    detail, _ = recommendation_scorecard(history, scorecard_bars(), SCORE_DATES[5])
    assert detail["matured"].iloc[0] and bool(detail["hit"].iloc[0])


def test_scorecard_confidence_bucket_edges() -> None:
    first = str(SCORE_DATES[0].date())
    history = recs(*[("AAA", "BUY", c, 5, first) for c in (0.0, 0.4999, 0.5, 0.6999, 0.7, 1.0)])
    _, summary = recommendation_scorecard(history, scorecard_bars(), SCORE_DATES[-1])
    counts = summary[summary["group_type"] == "confidence"].set_index("group")["count"]
    assert counts.to_dict() == {"<0.5": 2, "0.5-0.7": 2, ">=0.7": 2}


def test_scorecard_of_nothing_is_empty() -> None:
    empty = recs().iloc[0:0]
    detail, summary = recommendation_scorecard(empty, scorecard_bars(), SCORE_DATES[-1])
    assert detail.empty and summary.empty
    assert list(summary.columns) == SCORECARD_SUMMARY_COLUMNS
    assert {"realized_return", "matured", "hit", "symbol", "action"} <= set(detail.columns)
    detail, summary = recommendation_scorecard(pd.DataFrame(), scorecard_bars(), SCORE_DATES[-1])
    assert "realized_return" in detail.columns and summary.empty
