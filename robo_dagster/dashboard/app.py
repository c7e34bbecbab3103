"""The desk dashboard's entry point: ``streamlit run`` runs this file on every interaction.

It sets up the page, the sidebar (the database, the Refresh button, a link to the
Dagster UI) and the navigation; each page is a module of ``views`` served at its own
URL path (``settings.DASHBOARD_PAGES``). The root path is a hidden page that opens the
Book, so that /book is a real address (Streamlit serves its default page at / only).
"""

from pathlib import Path

import streamlit as st

from robo_dagster import settings
from robo_dagster.dashboard import queries, ui
from robo_dagster.dashboard.layout import ICONS, TITLES

VIEWS = Path(__file__).resolve().parent / "views"
st.set_page_config(page_title="robo-dagster desk", page_icon=":material/monitoring:", layout="wide")

pages = {
    name: st.Page(VIEWS / f"{name}.py", title=TITLES[name], icon=ICONS[name], url_path=name)
    for name in settings.DASHBOARD_PAGES
}


def _home() -> None:
    st.switch_page(pages["book"])


home = st.Page(_home, title="Home", url_path="home", default=True, visibility="hidden")
current = st.navigation([home, *pages.values()])

with st.sidebar:
    database = ui.database()
    st.caption(f"DuckDB: `{database}`")
    if st.button("Refresh", icon=":material/refresh:", help="read everything again now"):
        ui.clear_cache()
        st.rerun()
    st.caption(f"Reads are cached for {ui.CACHE_TTL_S} s.")
    st.link_button("Dagster UI", settings.dagster_ui_url(), icon=":material/open_in_new:")

if not queries.database_exists(database):
    st.info(f"{queries.NOTHING_MATERIALIZED.capitalize()} (no database at `{database}`).")

current.run()
