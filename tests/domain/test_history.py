"""The book over time: replay by session, the equity curve, position P&L and risk."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robo_dagster.domain.history import (
    equity_curve,
    position_pnl,
    replay_by_session,
    reported_equity_curve,
    risk_by_session,
)
from robo_dagster.domain.risk import portfolio_risk
from robo_dagster.domain.severity import limit_severity

SESSIONS = pd.bdate_range("2026-03-02", periods=4)


def blotter(*rows: tuple[pd.Timestamp, str, str, float, float, float]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["date", "symbol", "side", "quantity", "price", "commission"])


def closes(values: dict[str, list[float]], index: pd.DatetimeIndex = SESSIONS) -> pd.DataFrame:
    return pd.DataFrame(values, index=index, dtype=float)


def test_a_round_trip_is_worked_out_to_the_cent() -> None:
    trades = blotter(
        (SESSIONS[1], "AAA", "BUY", 10, 100.0, 1.0),
        (SESSIONS[3], "AAA", "SELL", 10, 102.0, 1.0),
    )
    book = replay_by_session(trades, 10_000.0, SESSIONS)
    curve = equity_curve(book, closes({"AAA": [100.0, 101.0, 99.0, 103.0]}), None)

    assert curve["equity"].tolist() == pytest.approx([10_000.0, 10_009.0, 9_989.0, 10_018.0])
    assert curve["cash"].tolist() == pytest.approx([10_000.0, 8_999.0, 8_999.0, 10_018.0])
    assert curve["day_pnl"].tolist() == pytest.approx([0.0, 9.0, -20.0, 29.0])
    # The sale realises (102 - 100.1) x 10 - 1 and gives back the -11 still unrealized.
    assert curve["realized_pnl"].tolist() == pytest.approx([0.0, 0.0, 0.0, 18.0])
    assert curve["unrealized_pnl"].tolist() == pytest.approx([0.0, 9.0, -20.0, 11.0])
    assert curve["fees"].tolist() == pytest.approx([0.0, 1.0, 0.0, 1.0])
    assert curve["deposits"].tolist() == [10_000.0, 0.0, 0.0, 0.0]
    returns = [0.0, 9 / 10_000, -20 / 10_009, 29 / 9_989]
    assert curve["daily_return"].tolist() == pytest.approx(returns)
    assert curve["cumulative_return"].iloc[-1] == pytest.approx(np.prod(np.add(1, returns)) - 1)
    assert curve["drawdown"].tolist() == pytest.approx([0.0, 0.0, 9_989 / 10_009 - 1, 0.0])
    assert curve["benchmark_cumulative_return"].isna().all()
    assert curve["source"].eq("replayed blotter").all()


def test_deposits_and_withdrawals_move_equity_but_not_the_return() -> None:
    sessions = pd.DatetimeIndex(["2026-03-05", "2026-03-06", "2026-03-09", "2026-03-10"])
    trades = blotter((sessions[0], "AAA", "BUY", 100, 100.0, 0.0))
    # Saturday's deposit counts from Monday; Tuesday's withdrawal from Tuesday.
    flows = pd.DataFrame({"date": ["2026-03-07", "2026-03-10"], "amount": [5_000.0, -2_000.0]})
    book = replay_by_session(trades, 10_000.0, sessions, cash_flows=flows)
    prices = closes({"AAA": [100.0, 110.0, 99.0, 108.0]}, sessions)
    curve = equity_curve(book, prices, None)

    assert curve["deposits"].tolist() == [10_000.0, 0.0, 5_000.0, 0.0]
    assert curve["withdrawals"].tolist() == [0.0, 0.0, 0.0, 2_000.0]
    assert curve["cash"].tolist() == pytest.approx([0.0, 0.0, 5_000.0, 3_000.0])
    assert curve["equity"].tolist() == pytest.approx([10_000.0, 11_000.0, 14_900.0, 13_800.0])
    assert curve["day_pnl"].tolist() == pytest.approx([0.0, 1_000.0, -1_100.0, 900.0])
    # Each day's P&L over the capital at work that morning, the flow included.
    returns = [0.0, 1_000 / 10_000, -1_100 / 16_000, 900 / 12_900]
    assert curve["daily_return"].tolist() == pytest.approx(returns)
    assert curve["cumulative_return"].iloc[-1] == pytest.approx(np.prod(np.add(1, returns)) - 1)


def test_a_history_that_starts_late_keeps_earlier_money_in_its_base() -> None:
    trades = blotter((SESSIONS[0], "AAA", "BUY", 10, 100.0, 0.0))
    flows = pd.DataFrame({"date": [SESSIONS[1], SESSIONS[3]], "amount": [500.0, 250.0]})
    book = replay_by_session(trades, 1_000.0, SESSIONS[2:], from_opening=False, cash_flows=flows)
    curve = equity_curve(book, closes({"AAA": [100.0, 100.0, 100.0, 101.0]}), None)
    assert curve["cash"].tolist() == pytest.approx([500.0, 750.0])  # 1,000 less the buy
    assert curve["deposits"].tolist() == [0.0, 250.0]
    assert np.isnan(curve["day_pnl"].iloc[0]) and curve["day_pnl"].iloc[1] == pytest.approx(10.0)


def test_the_benchmark_is_compounded_from_the_first_session() -> None:
    book = replay_by_session(blotter(), 1_000.0, SESSIONS)
    spy = pd.Series([400.0, 404.0, 396.0, 420.0], index=SESSIONS)
    curve = equity_curve(book, closes({}), spy)
    assert curve["benchmark_cumulative_return"].tolist() == pytest.approx([0, 0.01, -0.01, 0.05])
    assert curve["equity"].eq(1_000.0).all() and curve["day_pnl"].eq(0.0).all()


def test_a_session_without_a_valid_close_is_marked_on_the_last_one_and_counted() -> None:
    trades = blotter((SESSIONS[0], "AAA", "BUY", 5, 50.0, 0.0))
    book = replay_by_session(trades, 1_000.0, SESSIONS)
    curve = equity_curve(book, closes({"AAA": [50.0, np.nan, 52.0, np.nan]}), None)
    assert curve["market_value"].tolist() == pytest.approx([250.0, 250.0, 260.0, 260.0])
    assert curve["stale_marks"].tolist() == [0, 1, 0, 1]


def test_a_held_symbol_without_any_close_cannot_be_marked() -> None:
    trades = blotter((SESSIONS[1], "AAA", "BUY", 5, 50.0, 0.0))
    book = replay_by_session(trades, 1_000.0, SESSIONS)
    with pytest.raises(ValueError, match=r"no valid close for held AAA on or before 2026-03-03"):
        equity_curve(book, closes({"AAA": [np.nan, np.nan, 52.0, 53.0]}), None)


def test_a_broker_history_turns_unexplained_equity_moves_into_flows() -> None:
    # Alpaca counts profit_loss from the history's base value, the first session.
    reported = pd.DataFrame(
        {
            "date": SESSIONS,
            "equity": [100.0, 110.0, 150.0, 120.0],
            "profit_loss": [0.0, 10.0, 5.0, 15.0],
        }
    )
    curve = reported_equity_curve(reported, None)
    assert curve["day_pnl"].tolist()[1:] == pytest.approx([10.0, -5.0, 10.0])
    assert np.isnan(curve["day_pnl"].iloc[0])
    assert curve["deposits"].tolist() == pytest.approx([0.0, 0.0, 45.0, 0.0])
    assert curve["withdrawals"].tolist() == pytest.approx([0.0, 0.0, 0.0, 40.0])
    # Money moves at the start of its session: the 45 deposited on the third was at work
    # that day, the 40 withdrawn on the fourth was not.
    assert curve["daily_return"].tolist()[1:] == pytest.approx([0.1, -5 / 155, 10 / 110])
    assert curve["cumulative_return"].iloc[0] == 0.0
    assert curve[["cash", "market_value", "realized_pnl", "fees"]].isna().all().all()


@st.composite
def accounts(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame, float, pd.DataFrame]:
    """A random long-only blotter over a random price path of three symbols, with up to
    three deposits or withdrawals."""
    sessions = pd.bdate_range("2025-01-02", periods=draw(st.integers(2, 25)))
    symbols = ["AAA", "BBB", "CCC"]
    steps = draw(
        st.lists(
            st.lists(st.floats(-0.08, 0.08), min_size=3, max_size=3),
            min_size=len(sessions),
            max_size=len(sessions),
        )
    )
    moves = 1 + np.array(steps)
    path = closes({s: 100.0 * np.cumprod(moves[:, i]) for i, s in enumerate(symbols)}, sessions)
    held = dict.fromkeys(symbols, 0.0)
    rows = []
    for _ in range(draw(st.integers(0, 12))):
        day = sessions[draw(st.integers(0, len(sessions) - 1))]
        symbol = draw(st.sampled_from(symbols))
        price = float(path.at[day, symbol]) * draw(st.floats(0.98, 1.02))
        fee = draw(st.sampled_from([0.0, 1.0, 2.5]))
        rows.append((day, symbol, price, fee, draw(st.integers(1, 50))))
    trades = []
    for day, symbol, price, fee, qty in sorted(rows, key=lambda r: r[0]):
        side = "SELL" if held[symbol] >= qty and qty % 2 else "BUY"
        held[symbol] += qty if side == "BUY" else -qty
        trades.append((day, symbol, side, float(qty), price, fee))
    flows = pd.DataFrame(
        {
            "date": [sessions[draw(st.integers(0, len(sessions) - 1))] for _ in range(3)],
            "amount": [draw(st.sampled_from([-3_000.0, 2_500.0, 40_000.0])) for _ in range(3)],
        }
    ).iloc[: draw(st.integers(0, 3))]
    return blotter(*trades), path, draw(st.floats(10_000.0, 1_000_000.0)), flows


@settings(max_examples=60, deadline=None)
@given(accounts())
def test_the_history_ties_to_itself(
    account: tuple[pd.DataFrame, pd.DataFrame, float, pd.DataFrame],
) -> None:
    trades, path, opening, flows = account
    sessions = pd.DatetimeIndex(path.index)
    book = replay_by_session(trades, opening, sessions, cash_flows=flows)
    curve = equity_curve(book, path, None)
    # Every dollar of change is P&L or money moved: day P&L adds up to the equity.
    moved = curve["deposits"].sum() - curve["withdrawals"].sum()
    assert moved == pytest.approx(opening + flows["amount"].sum())
    assert moved + curve["day_pnl"].sum() == pytest.approx(curve["equity"].iloc[-1], abs=1e-6)
    assert (curve["realized_pnl"] + curve["unrealized_pnl"]).to_numpy() == pytest.approx(
        curve["day_pnl"].to_numpy(), abs=1e-6
    )
    assert (curve["drawdown"] <= 1e-12).all()
    assert curve["cumulative_return"].iloc[-1] == pytest.approx(
        float(np.prod(1 + curve["daily_return"].fillna(0.0))) - 1, abs=1e-9
    )
    positions = position_pnl(book, path, pd.Series({"AAA": "Tech", "BBB": "Tech"}), curve)
    by_session = positions.groupby("date")[["day_pnl", "contribution"]].sum()
    joined = curve.set_index("date").join(by_session, rsuffix="_positions").fillna(0.0)
    assert joined["day_pnl_positions"].to_numpy() == pytest.approx(
        joined["day_pnl"].to_numpy(), abs=1e-6
    )
    assert joined["contribution"].to_numpy() == pytest.approx(
        joined["daily_return"].to_numpy(), abs=1e-9
    )
    assert set(positions.loc[positions["symbol"] == "CCC", "sector"]) <= {"Unknown"}


def test_the_last_session_of_the_risk_history_is_todays_risk() -> None:
    rng = np.random.default_rng(3)
    index = pd.bdate_range("2024-01-01", periods=320)
    path = closes(
        {s: 100 * np.cumprod(1 + rng.normal(0, 0.01, len(index))) for s in ["AAA", "BBB", "SPY"]},
        index,
    )
    sessions = index[-40:]
    trades = blotter(
        (sessions[0], "AAA", "BUY", 300, float(path.at[sessions[0], "AAA"]), 0.0),
        (sessions[10], "BBB", "BUY", 200, float(path.at[sessions[10], "BBB"]), 0.0),
    )
    book = replay_by_session(trades, 100_000.0, sessions)
    curve = equity_curve(book, path, path["SPY"])
    sectors = pd.Series({"AAA": "Energy", "BBB": "Health Care"})
    positions = position_pnl(book, path, sectors, curve)
    risk = risk_by_session(positions, curve, path, "SPY", 0.01)

    today = positions.loc[positions["date"] == sessions[-1]]
    expected = portfolio_risk(today, path.iloc[-253:], float(curve["equity"].iloc[-1]), "SPY")
    last = risk.iloc[-1]
    for key in ("var_95_1d", "gross_exposure", "largest_position_weight", "beta"):
        assert last[key] == pytest.approx(expected[key], rel=1e-12)
    assert last["history_days"] == 252
    assert last["var_breach"] == (last["var_95_1d_pct"] > 0.01)
    assert last["var_severity"] == limit_severity("var", last["var_95_1d_pct"], 0.01).name
    assert set(risk["var_severity"]) <= {"INFO", "WARNING", "ERROR", "CRITICAL"}
    # Before the second buy the book holds only AAA: its sector is the largest.
    assert risk.loc[risk["date"] == sessions[5], "largest_sector"].item() == "Energy"
    assert risk["gross_exposure"].iloc[0] > 0 and (risk["var_95_limit_pct"] == 0.01).all()


def test_every_session_of_the_risk_history_is_that_days_portfolio_risk() -> None:
    rng = np.random.default_rng(11)
    index = pd.bdate_range("2024-01-01", periods=330)
    path = closes(
        {s: 80 * np.cumprod(1 + rng.normal(0, 0.012, len(index))) for s in ["AAA", "BBB", "SPY"]},
        index,
    )
    path.iloc[200, 1] = np.nan  # a missing close counts as no move, as in portfolio_risk
    sessions = index[5:]  # the first sessions have fewer than 20 returns behind them
    trades = blotter(
        (sessions[0], "AAA", "BUY", 300, 80.0, 0.0),
        (sessions[30], "BBB", "BUY", 500, float(path.at[sessions[30], "BBB"]), 0.0),
        (sessions[150], "AAA", "SELL", 300, float(path.at[sessions[150], "AAA"]), 0.0),
    )
    book = replay_by_session(trades, 100_000.0, sessions)
    curve = equity_curve(book, path, path["SPY"])
    positions = position_pnl(book, path, pd.Series({"AAA": "Energy"}), curve)
    risk = risk_by_session(positions, curve, path, "SPY", 0.02).set_index("date")
    for date in sessions[::7]:
        today = positions.loc[(positions["date"] == date) & (positions["quantity"] > 0)]
        expected = portfolio_risk(
            today, path.loc[:date].iloc[-253:], float(risk.at[date, "equity"]), "SPY"
        )
        for key in ("var_95_1d", "gross_exposure", "largest_position_weight", "beta"):
            assert risk.at[date, key] == pytest.approx(expected[key], rel=1e-9, nan_ok=True), (
                date,
                key,
            )
        assert risk.at[date, "history_days"] == expected["history_days"]
        assert risk.at[date, "largest_position"] == expected["largest_position"]
        assert risk.at[date, "largest_sector"] == ("Energy" if date < sessions[150] else "")
    assert np.isnan(risk["var_95_1d"].iloc[0]) and risk["history_days"].iloc[0] == 5


def test_a_first_session_without_returns_has_no_var_and_no_warning() -> None:
    sessions = pd.bdate_range("2026-03-02", periods=3)
    trades = blotter((sessions[0], "AAA", "BUY", 10, 100.0, 0.0))
    book = replay_by_session(trades, 10_000.0, sessions)
    prices = closes({"AAA": [100.0, 101.0, 99.0], "SPY": [400.0, 401.0, 402.0]}, sessions)
    curve = equity_curve(book, prices, prices["SPY"])
    positions = position_pnl(book, prices, pd.Series(dtype=str), curve)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        risk = risk_by_session(positions, curve, prices, "SPY", 0.03)
    assert risk["var_95_1d"].isna().all() and risk["history_days"].tolist() == [0, 1, 2]


def test_days_without_any_close_are_no_scenarios() -> None:
    """The asset asks for the window before the first stored bar: those empty days must
    not count as days on which nothing moved."""
    rng = np.random.default_rng(5)
    index = pd.bdate_range("2024-01-01", periods=80)
    path = closes(
        {s: 90 * np.cumprod(1 + rng.normal(0, 0.02, len(index))) for s in ["AAA", "SPY"]}, index
    )
    sessions = index[30:]
    trades = blotter((sessions[0], "AAA", "BUY", 100, float(path.at[sessions[0], "AAA"]), 0.0))
    book = replay_by_session(trades, 10_000.0, sessions)
    curve = equity_curve(book, path, path["SPY"])
    positions = position_pnl(book, path, pd.Series(dtype=str), curve)
    padded = pd.concat(
        [
            closes(
                {"AAA": [np.nan] * 40, "SPY": [np.nan] * 40},
                pd.bdate_range(end="2023-12-29", periods=40),
            ),
            path,
        ]
    )
    risk = risk_by_session(positions, curve, path, "SPY", 0.05)
    risk_padded = risk_by_session(positions, curve, padded, "SPY", 0.05)
    pd.testing.assert_frame_equal(risk, risk_padded)
    assert risk["history_days"].iloc[0] == 30
