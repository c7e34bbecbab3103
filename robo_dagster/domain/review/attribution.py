"""P&L attribution: today's P&L by position and by sector, for the evening review."""

from __future__ import annotations

import pandas as pd

ATTRIBUTION_COLUMNS = ["symbol", "sector", "daily_pnl", "unrealized_pnl", "contribution_pct"]
SECTOR_ATTRIBUTION_COLUMNS = [
    "sector",
    "positions",
    "daily_pnl",
    "unrealized_pnl",
    "contribution_pct",
]


def pnl_attribution(
    positions: pd.DataFrame, universe: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Today's P&L by position and by sector.

    ``contribution_pct`` is each row's share of the book's daily P&L in percent, so it
    sums to 100 (NaN when the book's daily P&L is exactly 0). With gains and losses
    mixed, single shares can exceed 100 %. The sector comes from the universe, falling
    back to the position's own, then "Unknown".
    """
    sector = positions["symbol"].map(
        universe.drop_duplicates("symbol").set_index("symbol")["sector"]
    )
    if "sector" in positions:
        sector = sector.fillna(positions["sector"])
    by_position = pd.DataFrame(
        {
            "symbol": positions["symbol"].astype(str),
            "sector": sector.fillna("Unknown").astype(str),
            "daily_pnl": positions["daily_pnl"].astype(float),
            "unrealized_pnl": positions["unrealized_pnl"].astype(float),
        }
    )
    total = float(by_position["daily_pnl"].sum())
    scale = 100.0 / total if total else float("nan")
    by_position["contribution_pct"] = by_position["daily_pnl"] * scale
    by_position = by_position.sort_values(
        ["daily_pnl", "symbol"], ascending=[False, True], ignore_index=True
    )
    by_sector = by_position.groupby("sector", as_index=False).agg(
        positions=("symbol", "count"),
        daily_pnl=("daily_pnl", "sum"),
        unrealized_pnl=("unrealized_pnl", "sum"),
    )
    by_sector["contribution_pct"] = by_sector["daily_pnl"] * scale
    by_sector = by_sector.sort_values(
        ["daily_pnl", "sector"], ascending=[False, True], ignore_index=True
    )
    return by_position[ATTRIBUTION_COLUMNS], by_sector[SECTOR_ATTRIBUTION_COLUMNS]
