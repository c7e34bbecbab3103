"""Metadata a person wants to see in the UI: a markdown preview of a frame."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from dagster import MetadataValue


def markdown_preview(frame: pd.DataFrame, rows: int = 10, floatfmt: str = ",.4g") -> MetadataValue:
    """The first ``rows`` rows of ``frame`` as a markdown table."""
    if frame.empty:
        return MetadataValue.md("_no rows_")
    return MetadataValue.md(frame.head(rows).to_markdown(index=False, floatfmt=floatfmt))


def markdown_record(record: Mapping[str, object]) -> MetadataValue:
    """One record (a one-row table) as a two-column markdown table of field and value."""
    lines = ["| field | value |", "|---|---|"]
    for key, value in record.items():
        shown = f"{value:,.4g}" if isinstance(value, float) else str(value)
        lines.append(f"| {key} | {shown} |")
    return MetadataValue.md("\n".join(lines))


def require_rows(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    """Raise when a fetch came back empty: an empty frame would wipe the table."""
    if frame is None or frame.empty:
        raise ValueError(f"{what}: the provider returned no rows; refusing to overwrite the table")
    return frame
