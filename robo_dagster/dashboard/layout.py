"""The dashboard's pages: their titles and icons, by URL path (``settings.DASHBOARD_PAGES``).
Plain constants, so that scripts and tests can name the pages without running the app."""

from __future__ import annotations

from robo_dagster import settings

TITLES = {
    "book": "Book",
    "risk": "Risk",
    "recommendations": "Recommendations",
    "market": "Market",
    "alerts": "Alerts and pipeline",
}
ICONS = {
    "book": ":material/account_balance:",
    "risk": ":material/shield:",
    "recommendations": ":material/lightbulb:",
    "market": ":material/candlestick_chart:",
    "alerts": ":material/notifications:",
}
if set(TITLES) != set(settings.DASHBOARD_PAGES) or set(ICONS) != set(TITLES):
    raise RuntimeError("layout.TITLES and ICONS must name every page of settings.DASHBOARD_PAGES")
