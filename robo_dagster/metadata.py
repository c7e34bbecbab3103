"""Metadata a person wants to see in the UI: a markdown preview of a frame.

Previews are bounded: a cell shows at most ``MAX_CELL_CHARS`` characters and a preview
at most ``MAX_PREVIEW_CHARS``, so a 10 MB field in a source never becomes 40 MB of event
log (every materialization stores its metadata).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from dagster import MetadataValue

MAX_CELL_CHARS = 120
MAX_PREVIEW_CHARS = 20_000


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "…"


def _bounded(markdown: str) -> MetadataValue:
    if len(markdown) > MAX_PREVIEW_CHARS:
        markdown = markdown[:MAX_PREVIEW_CHARS] + "\n\n_… preview cut at 20,000 characters_"
    return MetadataValue.md(markdown)


def markdown_preview(frame: pd.DataFrame, rows: int = 10, floatfmt: str = ",.4g") -> MetadataValue:
    """The first ``rows`` rows of ``frame`` as a markdown table, each cell bounded."""
    if frame.empty:
        return MetadataValue.md("_no rows_")
    head = frame.head(rows)
    text_columns = head.select_dtypes(exclude="number").columns
    head = head.assign(**{c: head[c].map(_short) for c in text_columns})
    return _bounded(head.to_markdown(index=False, floatfmt=floatfmt))


def markdown_record(record: Mapping[str, object]) -> MetadataValue:
    """One record (a one-row table) as a two-column markdown table of field and value."""
    lines = ["| field | value |", "|---|---|"]
    for key, value in record.items():
        shown = f"{value:,.4g}" if isinstance(value, float) else _short(value)
        lines.append(f"| {_short(key)} | {shown} |")
    return _bounded("\n".join(lines))


def require_rows(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    """Raise when a fetch came back empty: an empty frame would wipe the table."""
    if frame is None or frame.empty:
        raise ValueError(f"{what}: the provider returned no rows; refusing to overwrite the table")
    return frame
