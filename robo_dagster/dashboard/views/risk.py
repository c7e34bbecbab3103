"""Risk: VaR against its limit over time, the exposures, sector weights against their
limit, and the risk assessment's stress scenarios."""

from typing import Any

import streamlit as st

from robo_dagster.dashboard import charts, formatting, queries, ui


def limits() -> dict[str, float] | None:
    """The desk's limits, or None (and why) when they cannot be read."""
    try:
        return queries.desk_limits()
    except ValueError as exc:
        st.warning(f"The desk's limits could not be read: {exc}")
        return None


def limit_metric(column: Any, label: str, value: float, limit: float) -> None:
    """``value`` against ``limit`` (both fractions of equity): the value, then how much
    of the limit it uses, red (with an arrow) once over it."""
    used = float(value) / limit
    column.metric(
        label,
        ui.pct(value),
        delta=f"{formatting.percent(used, 0)} of the {ui.pct(limit)} limit",
        delta_color="inverse" if used > 1 else "off",
        delta_arrow="up" if used > 1 else "off",
    )


def today(database: str, desk: dict[str, float] | None) -> None:
    """Today's VaR, ES, exposures and concentration, as metrics."""
    st.subheader("Today")
    ui.asset_links("portfolio/portfolio_risk")
    risk = ui.load("read_risk", database)
    if risk is None:
        return
    row = risk.iloc[0]
    first, second = st.columns(4), st.columns(4)
    first[0].metric(
        "VaR 95 % 1-day",
        ui.money(row["var_95_1d"]),
        delta=f"{ui.pct(row['var_95_1d_pct'])} of equity",
        delta_color="off",
        delta_arrow="off",
    )
    if desk is not None:
        limit_metric(first[1], "VaR of equity", row["var_95_1d_pct"], desk["var_95_limit_pct"])
    first[2].metric(
        "ES 97.5 % 1-day",
        ui.money(row["es_97_5_1d"]),
        delta=f"{ui.pct(row['es_97_5_1d_pct'])} of equity",
        delta_color="off",
        delta_arrow="off",
    )
    first[3].metric("Beta to SPY", formatting.number(row["beta"]))
    second[0].metric("Gross exposure", formatting.multiple(row["gross_exposure"]))
    second[1].metric("Net exposure", formatting.multiple(row["net_exposure"]))
    if desk is not None:
        limit_metric(
            second[2],
            f"Largest position: {row['largest_position']}",
            row["largest_position_weight"],
            desk["max_position_weight"],
        )
        limit_metric(
            second[3],
            f"Largest sector: {row['largest_sector']}",
            row["largest_sector_weight"],
            desk["max_sector_weight"],
        )
    st.caption(f"As of {formatting.timestamp(row['as_of'])}. VaR method: {row['var_method']}")


def over_time(database: str) -> None:
    """VaR against its limit, and the exposures, session by session."""
    st.subheader("VaR and exposure over time")
    ui.asset_links("portfolio/risk_history")
    history = ui.load("read_risk_history", database)
    if history is None:
        return
    breaches = int(history["var_breach"].fillna(False).astype(bool).sum())
    st.caption(
        f"{len(history)} sessions; the VaR limit was breached on {breaches} of them."
        if breaches
        else f"{len(history)} sessions; the VaR limit was never breached."
    )
    left, right = st.columns(2)
    with left:
        ui.chart(charts.var_against_limit(history))
    with right:
        ui.chart(charts.exposures(history))


def sectors(database: str, desk: dict[str, float] | None) -> None:
    """Each sector's weight against the sector limit."""
    st.subheader("Sector weights")
    ui.asset_links("portfolio/sector_exposure")
    exposure = ui.load("read_sector_exposure", database)
    if exposure is None:
        return
    left, right = st.columns(2)
    with left:
        if desk is not None:
            ui.chart(charts.sector_weights(exposure, desk["max_sector_weight"]))
    with right:
        ui.table(
            exposure,
            {
                "sector": ("Sector", None),
                "positions": ("Positions", lambda v: formatting.number(v, 0)),
                "market_value": ("Market value", ui.money),
                "weight": ("Weight", ui.pct),
            },
        )


def stress(database: str) -> None:
    """The risk assessment's stress scenarios, as stored in ai_analysis.risk_assessment."""
    st.subheader("Stress scenarios")
    ui.asset_links("ai_analysis/risk_assessment")
    scenarios = ui.load("read_stress_scenarios", database)
    if scenarios is None:
        return
    severity = scenarios["severity"].iloc[0]
    st.caption(f"The risk assessment's severity: **{severity}**")
    left, right = st.columns(2)
    with left:
        ui.chart(charts.stress_losses(scenarios))
    with right:
        ui.table(
            scenarios,
            {
                "scenario": ("Scenario", None),
                "loss": ("Loss", ui.money),
                "loss_pct": ("Of equity", lambda v: formatting.percent(v, 2)),
                "detail": ("How", None),
            },
        )


def render() -> None:
    st.title("Risk")
    database = ui.database()
    desk = limits()
    today(database, desk)
    over_time(database)
    sectors(database, desk)
    stress(database)


render()
