"""Checks of the ``market_data`` group. They query the whole table in DuckDB, so they
see what a consumer sees, not only the partition just written."""

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from robo_dagster.domain import calendar
from robo_dagster.market_data.assets import QUARANTINE_TABLE, price_bars
from robo_dagster.metadata import markdown_preview
from robo_dagster.providers import MarketDataProvider
from robo_dagster.warehouse import DuckDBWarehouse


@asset_check(
    asset=price_bars,
    blocking=True,
    description=(
        "Every stored bar is finite and positive, OHLC-consistent (low <= open, close <= high), "
        "has positive volume and a unique (symbol, date); and no quarantined bar is still "
        "without a valid replacement. Blocking: nothing downstream runs on bad prices."
    ),
)
def price_bars_valid(warehouse: DuckDBWarehouse) -> AssetCheckResult:
    problems = warehouse.query(
        """
        select 'invalid price or volume' as problem, count(*) as rows from market_data.price_bars
        where not (isfinite(open) and isfinite(high) and isfinite(low) and isfinite(close))
           or least(open, high, low, close) <= 0
           or low > least(open, close) or high < greatest(open, close)
           or volume is null or volume <= 0
        union all
        select 'duplicate (symbol, date)', coalesce(sum(n - 1), 0) from (
            select count(*) as n from market_data.price_bars group by symbol, date having count(*) > 1)
        """
    )
    open_quarantine = 0
    if warehouse.table_exists("market_data", "price_bars_quarantine"):
        open_quarantine = int(
            warehouse.query(
                f"""
                select count(distinct (q.symbol, q.date)) as n from {QUARANTINE_TABLE} q
                anti join market_data.price_bars p on p.symbol = q.symbol and p.date = q.date
                """
            )["n"].iloc[0]
        )
    counts = dict(zip(problems["problem"], problems["rows"].astype(int), strict=True))
    counts["quarantined without a valid bar"] = open_quarantine
    failed = {k: v for k, v in counts.items() if v}
    return AssetCheckResult(
        passed=not failed,
        severity=AssetCheckSeverity.ERROR,
        description="all bars valid"
        if not failed
        else "; ".join(f"{k}: {v}" for k, v in failed.items()),
        metadata={k.replace(" ", "_"): v for k, v in counts.items()},
    )


@asset_check(
    asset=price_bars,
    description=(
        "No trading session is missing inside any symbol's history, and every universe symbol "
        "has a bar on the latest stored session."
    ),
)
def price_bars_complete(warehouse: DuckDBWarehouse) -> AssetCheckResult:
    spans = warehouse.query(
        """
        select symbol, min(date) as first, max(date) as last, count(distinct date) as bars
        from market_data.price_bars group by symbol
        """
    )
    sessions = calendar.session_index(spans["first"].min(), spans["last"].max())
    position = pd.Series(range(len(sessions)), index=sessions)
    expected = (
        position.reindex(pd.DatetimeIndex(spans["last"])).to_numpy()
        - position.reindex(pd.DatetimeIndex(spans["first"])).to_numpy()
        + 1
    )
    spans["missing_sessions"] = expected - spans["bars"].to_numpy()
    gaps = spans[spans["missing_sessions"] > 0]
    latest = spans["last"].max()
    stale = spans[spans["last"] < latest]
    universe_missing: list[str] = []
    if warehouse.table_exists("market_data", "universe"):
        universe_missing = warehouse.query(
            "select symbol from market_data.universe except select symbol from market_data.price_bars where date = ?",
            [latest],
        )["symbol"].tolist()
    passed = gaps.empty and stale.empty and not universe_missing
    parts = []
    if not gaps.empty:
        parts.append(
            f"{len(gaps)} symbol(s) miss {int(gaps['missing_sessions'].sum())} session(s) inside their history"
        )
    if not stale.empty or universe_missing:
        parts.append(
            f"{len(set(stale['symbol']) | set(universe_missing))} symbol(s) lack a bar on {latest.date()}"
        )
    return AssetCheckResult(
        passed=passed,
        severity=AssetCheckSeverity.WARN,
        description="complete" if passed else "; ".join(parts),
        metadata={
            "symbols": len(spans),
            "sessions_spanned": len(sessions),
            "symbols_with_gaps": len(gaps),
            "symbols_missing_latest": len(set(stale["symbol"]) | set(universe_missing)),
            "gaps": markdown_preview(gaps, 10),
        },
    )


@asset_check(
    asset=price_bars,
    description=(
        "The latest stored session is the market's latest closed session (calendar-aware: "
        "weekends and holidays never raise it)."
    ),
)
def price_bars_fresh(warehouse: DuckDBWarehouse, market: MarketDataProvider) -> AssetCheckResult:
    latest_stored = warehouse.query("select max(date) as d from market_data.price_bars")["d"].iloc[
        0
    ]
    expected = market.session()
    stored = pd.Timestamp(latest_stored).date() if pd.notna(latest_stored) else None
    behind = len(calendar.sessions_between(stored, expected)) - 1 if stored else None
    passed = stored is not None and stored >= expected
    return AssetCheckResult(
        passed=passed,
        severity=AssetCheckSeverity.WARN,
        description=(
            f"latest session {stored} is current"
            if passed
            else f"latest stored session {stored} is {behind} session(s) behind {expected}"
        ),
        metadata={
            "latest_stored": MetadataValue.text(str(stored)),
            "expected": MetadataValue.text(str(expected)),
            "sessions_behind": behind if behind is not None else -1,
        },
    )
