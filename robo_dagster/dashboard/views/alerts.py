"""Alerts and pipeline: the open alerts and their history (monitoring.alerts), the
latest run of each job, and how fresh each asset is (from the Dagster instance)."""

import pandas as pd
import streamlit as st

from robo_dagster import settings
from robo_dagster.dashboard import charts, formatting, queries, ui
from robo_dagster.monitoring.alerts import Severity

ALERT_TABLE = {
    "severity": ("Severity", None),
    "fingerprint": ("Condition", None),
    "message": ("Message", None),
    "first_seen": ("First seen (UTC)", formatting.timestamp),
    "last_seen": ("Last seen (UTC)", formatting.timestamp),
}


def open_alerts(database: str) -> None:
    """The open alerts, worst first, with a count per severity."""
    st.subheader("Open alerts")
    ui.asset_links("monitoring/alerts")
    alerts = ui.load("read_open_alerts", database, empty="No open alerts.")
    if alerts is None:
        return
    counts = alerts["severity"].value_counts()
    cols = st.columns(len(Severity))
    for col, severity in zip(cols, sorted(Severity, reverse=True), strict=True):
        col.metric(severity.name, formatting.number(int(counts.get(severity.name, 0)), 0))
    ui.table(alerts, ALERT_TABLE)


def alert_history(database: str) -> None:
    """Every alert episode, newest first, and how many began each day."""
    st.subheader("Alert history")
    history = ui.load("read_alert_history", database)
    if history is None:
        return
    ui.chart(charts.alerts_per_day(queries.alerts_per_day(history)))
    ui.table(
        history,
        {**ALERT_TABLE, "resolved_at": ("Resolved (UTC)", formatting.timestamp)},
    )


def runs() -> None:
    """The latest run of each job, with its status and a link to it in the Dagster UI."""
    st.subheader("Latest run of each job")
    latest = ui.load_instance("latest_runs")
    if latest is None:
        return
    if latest.empty:
        st.info("The Dagster instance has no runs yet: run `make pipeline`.")
        return
    shown = pd.DataFrame(
        {
            "Job": latest["job"],
            "Status": latest["status"],
            "Started (UTC)": latest["started"].map(formatting.timestamp),
            "Duration": latest["duration_s"].map(formatting.age),
            "Run": latest["run_id"].map(settings.dagster_run_url),
        }
    )
    st.dataframe(
        shown,
        hide_index=True,
        placeholder=formatting.MISSING,
        column_config={
            "Run": st.column_config.LinkColumn("Run", display_text=r"runs/(\w{8})"),
        },
    )


def freshness() -> None:
    """When each asset was last materialized, stalest first, each linked to the UI."""
    st.subheader("Asset freshness")
    fresh = ui.load_instance("asset_freshness")
    if fresh is None:
        return
    if fresh.empty:
        st.info("No asset has been materialized in this Dagster instance yet: run `make pipeline`.")
        return
    shown = pd.DataFrame(
        {
            "Asset": fresh["asset"].map(settings.dagster_asset_url),
            "Last materialized (UTC)": fresh["last_materialized"].map(formatting.timestamp),
            "Age": fresh["age_s"].map(formatting.age),
            "Partition": fresh["partition"],
        }
    )
    st.dataframe(
        shown,
        hide_index=True,
        placeholder=formatting.MISSING,
        column_config={
            "Asset": st.column_config.LinkColumn("Asset", display_text=r"/assets/(.*)$"),
        },
    )


def render() -> None:
    st.title("Alerts and pipeline")
    database = ui.database()
    open_alerts(database)
    alert_history(database)
    st.link_button("Runs in the Dagster UI", f"{settings.dagster_ui_url()}/runs")
    runs()
    freshness()


render()
