"""Book: the positions with their weight and P&L, the equity curve against SPY, the
drawdown and the cash."""

import streamlit as st

from robo_dagster.dashboard import charts, formatting, ui
from robo_dagster.dashboard.queries import latest_contributions


def headline(database: str) -> None:
    """Equity, cash, today's P&L and the P&L since entry, as metrics."""
    account = ui.load("read_account", database)
    pnl = ui.load("read_pnl", database)
    if account is None or pnl is None:
        return
    balance, today = account.iloc[0], pnl.iloc[0]
    equity = float(balance["equity"])
    cash = balance["cash"]
    st.caption(f"As of {formatting.timestamp(balance['as_of'])}, account {balance['account_id']}")
    cols = st.columns(5)
    cols[0].metric("Equity", ui.money(equity))
    cols[1].metric(
        "Cash",
        ui.money(cash),
        delta=f"{ui.pct(float(cash) / equity)} of equity" if equity else None,
        delta_color="off",
        delta_arrow="off",
    )
    cols[2].metric(
        "P&L today",
        ui.signed_money(today["daily_pnl"]),
        delta=formatting.percent(float(today["daily_return_pct"]) / 100, 2, signed=True),
    )
    cols[3].metric("Unrealized P&L", ui.signed_money(today["unrealized_pnl"]))
    cols[4].metric("Realized P&L", ui.signed_money(today["realized_pnl"]))


def equity(database: str) -> None:
    """The equity curve against SPY, the drawdown, equity and cash over the sessions."""
    st.subheader("Equity curve")
    ui.asset_links("portfolio/equity_history")
    history = ui.load("read_equity_history", database)
    if history is None:
        return
    latest = history.iloc[-1]
    cols = st.columns(4)
    cols[0].metric("Cumulative return", ui.signed_pct(latest["cumulative_return"]))
    cols[1].metric("SPY", ui.signed_pct(latest["benchmark_cumulative_return"]))
    cols[2].metric("Drawdown", ui.pct(latest["drawdown"]))
    cols[3].metric("Worst drawdown", ui.pct(history["drawdown"].min()))
    left, right = st.columns(2)
    with left:
        ui.chart(charts.equity_curve(history))
    with right:
        ui.chart(charts.drawdown(history))
    if history["cash"].isna().all():
        st.caption("The broker reports equity only: no cash history.")
    ui.chart(charts.equity_value(history))


def positions(database: str) -> None:
    """Each position: weight, P&L today and since entry."""
    st.subheader("Positions")
    ui.asset_links("portfolio/positions")
    book = ui.load("read_positions", database)
    if book is None:
        return
    ui.table(
        book,
        {
            "symbol": ("Symbol", None),
            "sector": ("Sector", None),
            "quantity": ("Quantity", lambda v: formatting.number(v, 0)),
            "average_cost": ("Average cost", ui.price),
            "last_price": ("Last price", ui.price),
            "market_value": ("Market value", ui.money),
            "weight": ("Weight", ui.pct),
            "daily_pnl": ("P&L today", ui.signed_money),
            "unrealized_pnl": ("P&L since entry", ui.signed_money),
            "unrealized_pnl_pct": ("Since entry", ui.signed_pct),
            "realized_pnl": ("Realized", ui.signed_money),
            "opened_on": ("Opened", ui.day),
        },
    )
    ui.chart(charts.weights(book))


def contributions(database: str) -> None:
    """The latest session's P&L by position, with its contribution to the return."""
    st.subheader("Today's contributions")
    ui.asset_links("portfolio/pnl_history")
    history = ui.load("read_pnl_history", database)
    if history is None:
        return
    latest = latest_contributions(history)
    st.caption(f"Session {formatting.timestamp(latest['date'].iloc[0])}")
    ui.table(
        latest,
        {
            "symbol": ("Symbol", None),
            "sector": ("Sector", None),
            "market_value": ("Market value", ui.money),
            "day_pnl": ("P&L today", ui.signed_money),
            "contribution": ("Contribution", lambda v: formatting.percent(v, 2, signed=True)),
            "total_pnl": ("Total P&L", ui.signed_money),
        },
    )


def render() -> None:
    st.title("Book")
    database = ui.database()
    headline(database)
    equity(database)
    positions(database)
    contributions(database)


render()
