"""Checks of the book's history: it ties to the broker and to itself."""

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, AssetIn, MetadataValue, asset_check

from robo_dagster.asset_defaults import with_its_asset
from robo_dagster.domain.history import CENT
from robo_dagster.portfolio.checks import RECONCILE_TOLERANCE
from robo_dagster.portfolio.history import equity_history, pnl_history

REPLAYED = "replayed blotter"
# A broker rounds each day's equity to the cent: a day's change in it may be off by one.
BROKER_ROUNDING = 0.015


@asset_check(
    automation_condition=with_its_asset(),
    asset=equity_history,
    additional_ins={"account_balances": AssetIn(key=["portfolio", "account_balances"])},
    description=(
        "The equity curve's last session equals the equity the broker reports now: to the "
        "cent for a replayed blotter (anything else is an accounting error), within 5 bp "
        "for a broker's own history (it may be marked at another time of day)."
    ),
)
def equity_history_ties_to_broker(
    equity_history: pd.DataFrame, account_balances: pd.DataFrame
) -> AssetCheckResult:
    ours = float(equity_history["equity"].iloc[-1])
    broker = float(account_balances["equity"].iloc[0])
    replayed = equity_history["source"].iloc[-1] == REPLAYED
    diff = ours - broker
    passed = abs(diff) <= CENT if replayed else abs(diff) <= RECONCILE_TOLERANCE * abs(broker)
    return AssetCheckResult(
        passed=bool(passed),
        severity=AssetCheckSeverity.ERROR if replayed else AssetCheckSeverity.WARN,
        description=(
            f"the last session's equity {ours:,.2f} ties to the broker's"
            if passed
            else f"the last session's equity {ours:,.2f} differs from the broker's "
            f"{broker:,.2f} by {diff:,.2f}"
        ),
        metadata={
            "history_equity": MetadataValue.float(ours),
            "broker_equity": MetadataValue.float(broker),
            "difference": MetadataValue.float(diff),
        },
    )


@asset_check(
    automation_condition=with_its_asset(),
    asset=pnl_history,
    additional_ins={"equity_history": AssetIn(key=["portfolio", "equity_history"])},
    description=(
        "Every session's position P&L adds up to the equity curve's day P&L, to the cent "
        "(a broker's own history: to its rounding). A broker's history that the fills do "
        "not explain (fills older than its listing) warns."
    ),
)
def pnl_history_ties_to_equity(
    pnl_history: pd.DataFrame, equity_history: pd.DataFrame
) -> AssetCheckResult:
    by_session = pnl_history.groupby("date")["day_pnl"].sum()
    book = equity_history.set_index("date")["day_pnl"]
    gaps = (by_session.reindex(book.index).fillna(0.0) - book).abs()
    replayed = equity_history["source"].iloc[-1] == REPLAYED
    off = gaps[gaps > (CENT if replayed else BROKER_ROUNDING)]
    worst = f"{off.idxmax().date()} by {off.max():,.2f}" if len(off) else ""
    return AssetCheckResult(
        passed=off.empty,
        severity=AssetCheckSeverity.ERROR if replayed else AssetCheckSeverity.WARN,
        description=(
            f"all {len(book)} sessions tie"
            if off.empty
            else f"{len(off)} of {len(book)} sessions do not tie; the worst is {worst}"
        ),
        metadata={
            "sessions_off": len(off),
            "largest_gap": MetadataValue.float(float(gaps.max()) if len(gaps) else 0.0),
        },
    )
