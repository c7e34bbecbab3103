"""What every page of the dashboard shares: cached reads, the "nothing materialized yet"
message, tables with people's formats, and links into the Dagster UI."""

import os
from collections.abc import Callable, Mapping
from typing import Any, Literal

import pandas as pd
import streamlit as st

from robo_dagster import settings
from robo_dagster.dashboard import charts, formatting, pipeline, queries
from robo_dagster.warehouse.locking import WarehouseBusy

# Reads are cached this long: a page that reruns on every click stays cheap, and a run's
# results show within half a minute (or at once, with the Refresh button).
CACHE_TTL_S = 30


def database() -> str:
    """The DuckDB file the dashboard reads (``ROBO_DUCKDB_PATH``); a bad setting stops the
    page with its message."""
    try:
        return settings.duckdb_path()
    except ValueError as exc:
        st.error(str(exc))
        st.stop()
        raise  # st.stop raises; this line only tells type checkers so


@st.cache_data(ttl=CACHE_TTL_S, show_spinner="Reading the warehouse…")
def _cached(name: str, *args: Any) -> pd.DataFrame:
    return getattr(queries, name)(*args)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner="Reading the Dagster instance…")
def _cached_instance(name: str, dagster_home: str | None) -> pd.DataFrame:
    # ``dagster_home`` is the cache key: pipeline reads DAGSTER_HOME itself.
    return getattr(pipeline, name)()


def clear_cache() -> None:
    """Forget every cached read, so the next ones go to the warehouse and the instance."""
    _cached.clear()
    _cached_instance.clear()


EMPTY = "No rows yet: the asset stored an empty table (its metadata in the Dagster UI says why)."


def load(name: str, *args: Any, empty: str = EMPTY) -> pd.DataFrame | None:
    """``queries.<name>(*args)``, cached for ``CACHE_TTL_S``; None (and a message in
    place of the section) when its table has not been materialized or the warehouse
    stays busy. No rows show ``empty`` and return None too."""
    try:
        frame = _cached(name, *args)
    except queries.NotMaterialized as exc:
        nothing_materialized(exc)
        return None
    except WarehouseBusy as exc:
        st.warning(f"The warehouse is busy (a run is writing); refresh in a moment. {exc}")
        return None
    if frame.empty:
        st.info(empty)
        return None
    return frame


def load_instance(name: str) -> pd.DataFrame | None:
    """``pipeline.<name>()``, cached; None (and why) without a Dagster instance."""
    try:
        return _cached_instance(name, os.environ.get("DAGSTER_HOME"))
    except pipeline.InstanceUnavailable as exc:
        st.info(str(exc))
    except Exception as exc:  # the instance's storage is optional to this page: say why
        st.warning(f"The Dagster instance could not be read: {type(exc).__name__}: {exc}")
    return None


def nothing_materialized(exc: queries.NotMaterialized) -> None:
    """The one message for a section whose table does not exist yet."""
    where = "no database file" if exc.missing_database else f"no table `{exc.table}`"
    st.info(f"{queries.NOTHING_MATERIALIZED.capitalize()} ({where}).")


def asset_links(*keys: str) -> None:
    """A caption linking each asset to its page in the Dagster UI."""
    links = " · ".join(f"[{key}]({settings.dagster_asset_url(key)})" for key in keys)
    st.caption(f"In the Dagster UI: {links}")


def table(
    frame: pd.DataFrame,
    columns: Mapping[str, tuple[str, Callable[[Any], str] | None]],
    height: int | Literal["auto"] = "auto",
) -> None:
    """``frame`` as an interactive table: ``columns`` maps each column to show to its
    label and formatter (None: as it is). Sorting works on the numbers underneath."""
    shown = frame[list(columns)].rename(columns={c: label for c, (label, _) in columns.items()})
    formats = {label: fmt for label, fmt in columns.values() if fmt is not None}
    styler = shown.style.format(formats, na_rep=formatting.MISSING)
    st.dataframe(styler, hide_index=True, height=height, placeholder=formatting.MISSING)


def chart(spec: charts.AnyChart) -> None:
    """An Altair chart across the page's width."""
    st.altair_chart(spec, width="stretch")


def pct(value: Any) -> str:
    return formatting.percent(value, 1)


def signed_pct(value: Any) -> str:
    return formatting.percent(value, 1, signed=True)


def money(value: Any) -> str:
    return formatting.money(value)


def signed_money(value: Any) -> str:
    return formatting.money(value, signed=True)


def price(value: Any) -> str:
    return formatting.money(value, decimals=2)


def day(value: Any) -> str:
    return formatting.timestamp(value)
