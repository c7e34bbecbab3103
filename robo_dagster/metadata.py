"""Metadata a person wants to see in the UI: a markdown preview of a frame.

Every number is formatted by its column's name (``domain.formatting``): weights and
other fractions as "50.8 %", money as "1,198,345.67", never in scientific notation.
Previews are bounded: a cell shows at most ``MAX_CELL_CHARS`` characters and a preview
at most ``MAX_PREVIEW_CHARS``, so a 10 MB field in a source never becomes 40 MB of event
log (every materialization stores its metadata).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from dagster import MetadataValue

from robo_dagster.domain.formatting import column_alignment, format_frame, format_value

MAX_CELL_CHARS = 120
MAX_PREVIEW_CHARS = 20_000


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "…"


def _bounded(markdown: str) -> MetadataValue:
    if len(markdown) > MAX_PREVIEW_CHARS:
        markdown = markdown[:MAX_PREVIEW_CHARS] + "\n\n_… preview cut at 20,000 characters_"
    return MetadataValue.md(markdown)


def markdown_preview(
    frame: pd.DataFrame, rows: int = 10, floatfmt: str | None = None
) -> MetadataValue:
    """The first ``rows`` rows of ``frame`` as a markdown table of formatted cells, each
    cell bounded. ``floatfmt`` (fixed point, e.g. ",.3f") formats the plain numbers;
    weights, percentages and money follow their column names whatever it says."""
    if frame.empty:
        return MetadataValue.md("_no rows_")
    head = frame.head(rows)
    cells = format_frame(head, floatfmt).map(_short)
    # The cells are strings already; tabulate would re-parse "1,234.50" as a number.
    return _bounded(
        cells.to_markdown(index=False, disable_numparse=True, colalign=column_alignment(head))
    )


def markdown_record(record: Mapping[str, object]) -> MetadataValue:
    """One record (a one-row table) as a two-column markdown table of field and value,
    each value formatted by its field's name."""
    lines = ["| field | value |", "|---|---|"]
    for key, value in record.items():
        lines.append(f"| {_short(key)} | {_short(format_value(str(key), value))} |")
    return _bounded("\n".join(lines))


def require_rows(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    """Raise when a fetch came back empty: an empty frame would wipe the table."""
    if frame is None or frame.empty:
        raise ValueError(f"{what}: the provider returned no rows; refusing to overwrite the table")
    return frame


def dashboard_page(page: str) -> dict[str, MetadataValue]:
    """Definition metadata that links an asset to the desk dashboard's page showing it
    (``settings.dashboard_page_url``): the UI shows it on the asset's page."""
    from robo_dagster import settings

    return {"dashboard": MetadataValue.url(settings.dashboard_page_url(page))}
