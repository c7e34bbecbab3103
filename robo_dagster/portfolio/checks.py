"""Checks of the ``portfolio`` group: reconciliation and the desk's risk limits.

The limit checks grade a breach with the one table of ``domain.severity``, through the
same ``limit_checks`` rows as the morning brief and the risk assessment, so the check,
its alert and the reports name the same level and the same sentence."""

import datetime as dt

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, AssetIn, MetadataValue, asset_check

from robo_dagster.asset_defaults import with_its_asset
from robo_dagster.check_severity import graded_check_result
from robo_dagster.domain import calendar
from robo_dagster.domain.formatting import format_percent
from robo_dagster.domain.review import limit_checks
from robo_dagster.domain.severity import Severity
from robo_dagster.portfolio.assets import account_balances, portfolio_pnl, portfolio_risk, positions
from robo_dagster.providers import BrokerProvider, ProviderError

RECONCILE_TOLERANCE = 0.0005  # 5 bp of equity: a rounding difference, not a stale mark
CALENDAR_WINDOW = dt.timedelta(days=30)


@asset_check(
    automation_condition=with_its_asset(),
    asset=positions,
    additional_ins={"account_balances": AssetIn(key=["portfolio", "account_balances"])},
    description=(
        "Cash + market value at our marks equals the equity the broker reports, within 5 bp. "
        "A difference means our prices and the broker's disagree (a stale or missing partition)."
    ),
)
def positions_reconcile(
    positions: pd.DataFrame, account_balances: pd.DataFrame
) -> AssetCheckResult:
    broker_equity = float(account_balances["equity"].iloc[0])
    ours = float(account_balances["cash"].iloc[0]) + float(positions["market_value"].sum())
    diff = ours - broker_equity
    relative = abs(diff) / broker_equity if broker_equity else float("inf")
    passed = relative <= RECONCILE_TOLERANCE
    return AssetCheckResult(
        passed=passed,
        severity=AssetCheckSeverity.ERROR,
        description=(
            f"reconciled within {format_percent(relative, 4)} of equity"
            if passed
            else f"cash + market value {ours:,.2f} differs from broker equity {broker_equity:,.2f} by {diff:,.2f}"
        ),
        metadata={
            "broker_equity": MetadataValue.float(broker_equity),
            "our_equity": MetadataValue.float(ours),
            "difference": MetadataValue.float(diff),
            "relative_difference": MetadataValue.float(relative),
        },
    )


def _limit_findings(
    broker: BrokerProvider, portfolio_risk: pd.DataFrame, positions: pd.DataFrame, kinds: set[str]
) -> pd.DataFrame:
    """The limits of ``kinds`` near or past their threshold: the rows the morning brief
    and the risk assessment show (``limit_checks``), with their severity and sentence."""
    findings = limit_checks(positions, portfolio_risk, broker.limits().model_dump())
    return findings[findings["kind"].isin(kinds)]


@asset_check(
    automation_condition=with_its_asset(),
    asset=portfolio_risk,
    additional_ins={"positions": AssetIn(key=["portfolio", "positions"])},
    description=(
        "Every position's and every sector's weight against the desk's limits, graded as in "
        "the morning brief and risk_assessment: fails as a WARNING from 80 % of a limit, "
        "ERROR past it, CRITICAL past 1.2 x (the level is in the metadata and the alert)."
    ),
)
def concentration_within_limit(
    broker: BrokerProvider, portfolio_risk: pd.DataFrame, positions: pd.DataFrame
) -> AssetCheckResult:
    limits = broker.limits()
    risk = portfolio_risk.iloc[0]
    findings = _limit_findings(broker, portfolio_risk, positions, {"position", "sector"})
    unknown = float(risk.get("unknown_sector_weight", 0.0) or 0.0)
    note = (
        f"; {format_percent(unknown)} of equity has no sector from the source and is not "
        "judged against the sector limit"
        if unknown > 0
        else ""
    )
    return graded_check_result(
        [Severity.parse(level) for level in findings["severity"]],
        ("within limits" if findings.empty else "; ".join(findings["detail"])) + note,
        metadata={
            "largest_position_weight": MetadataValue.float(float(risk["largest_position_weight"])),
            "max_position_weight": MetadataValue.float(limits.max_position_weight),
            "largest_sector_weight": MetadataValue.float(float(risk["largest_sector_weight"])),
            "max_sector_weight": MetadataValue.float(limits.max_sector_weight),
            "unknown_sector_weight": MetadataValue.float(unknown),
        },
    )


@asset_check(
    automation_condition=with_its_asset(),
    asset=portfolio_risk,
    additional_ins={"positions": AssetIn(key=["portfolio", "positions"])},
    description=(
        "1-day historical VaR 95 % (share of equity) against the desk's limit, graded as in "
        "the morning brief and risk_assessment: fails as a WARNING from 80 % of the limit, "
        "ERROR past 90 %, CRITICAL past the limit. A VaR that cannot be computed fails (ERROR)."
    ),
)
def var_within_limit(
    broker: BrokerProvider, portfolio_risk: pd.DataFrame, positions: pd.DataFrame
) -> AssetCheckResult:
    limit = broker.limits().var_95_limit_pct
    var_pct = float(portfolio_risk["var_95_1d_pct"].iloc[0])
    metadata = {
        "var_95_1d_pct": MetadataValue.float(var_pct),
        "limit": MetadataValue.float(limit),
    }
    if var_pct != var_pct:
        return graded_check_result(
            [Severity.ERROR],
            "VaR could not be computed: fewer than 20 sessions of history",
            metadata,
        )
    findings = _limit_findings(broker, portfolio_risk, positions, {"var"})
    return graded_check_result(
        [Severity.parse(level) for level in findings["severity"]],
        str(findings["detail"].iloc[0])
        if len(findings)
        else f"VaR 95 % is {format_percent(var_pct, 2)} of equity (limit {format_percent(limit)})",
        metadata,
    )


@asset_check(
    automation_condition=with_its_asset(),
    asset=account_balances,
    description=(
        "The broker's own market calendar and clock agree with the exchange calendar "
        "(exchange_calendars) over the 30 days either side of today: the same sessions, "
        "opens and closes, and the same open or closed now. A broker without a calendar "
        "of its own (the paper broker) passes."
    ),
)
def broker_calendar_agrees(broker: BrokerProvider) -> AssetCheckResult:
    today = dt.date.today()
    start = today - CALENDAR_WINDOW
    end = min(today + CALENDAR_WINDOW, calendar.exchange_calendar().last_session.date())
    try:
        problems = broker.calendar_disagreements(start, end)
    except ProviderError as exc:
        return AssetCheckResult(
            passed=False,
            severity=AssetCheckSeverity.WARN,
            description=f"could not read the broker's calendar: {exc}",
        )
    return AssetCheckResult(
        passed=not problems,
        severity=AssetCheckSeverity.WARN,
        description=(
            f"the broker's calendar agrees from {start} to {end}"
            if not problems
            else f"{len(problems)} disagreement(s): " + "; ".join(problems[:5])
        ),
        metadata={
            "window": MetadataValue.text(f"{start} to {end}"),
            "disagreements": len(problems),
            "details": MetadataValue.md("\n".join(f"- {p}" for p in problems) or "_none_"),
        },
    )


PNL_TOLERANCE = 0.01  # to the cent


@asset_check(
    automation_condition=with_its_asset(),
    asset=portfolio_pnl,
    description=(
        "Total P&L (realized + unrealized, fees included) equals equity less the opening "
        "capital, to the cent. Skipped (passes) for a broker that does not know its opening "
        "capital, such as an Alpaca account with deposits and withdrawals."
    ),
)
def pnl_ties_to_equity(broker: BrokerProvider, portfolio_pnl: pd.DataFrame) -> AssetCheckResult:
    opening = broker.opening_capital()
    row = portfolio_pnl.iloc[0]
    total, equity = float(row["total_pnl"]), float(row["equity"])
    if opening is None:
        return AssetCheckResult(
            passed=True,
            description="not checked: the broker does not report its opening capital",
        )
    gap = total - (equity - opening)
    return AssetCheckResult(
        passed=abs(gap) <= PNL_TOLERANCE,
        severity=AssetCheckSeverity.ERROR,
        description=(
            f"total P&L {total:,.2f} = equity {equity:,.2f} - opening {opening:,.2f}"
            if abs(gap) <= PNL_TOLERANCE
            else f"total P&L {total:,.2f} differs from equity - opening capital "
            f"({equity - opening:,.2f}) by {gap:,.2f}"
        ),
        metadata={"gap": MetadataValue.float(gap)},
    )
