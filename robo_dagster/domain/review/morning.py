"""The morning brief: what changed since the last session and what needs attention.

It covers the held and watched names: the last session's moves and gaps, high-impact
news, upcoming earnings and limits near their threshold, and from these the names whose
recommendation needs a refresh.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from robo_dagster.domain import calendar
from robo_dagster.domain.review.common import (
    _RANK,
    SEVERITIES,
    SessionLike,
    _dates,
    _day,
    _empty,
    _fmt,
    _md_bullets,
    _md_table,
    _money,
    _pct,
)
from robo_dagster.domain.review.limits import limit_checks
from robo_dagster.domain.sentiment import NEGATIVE_THRESHOLD

HIGH_IMPACT = 0.7
# The seed escalated news "with impact > 0.8 and negative sentiment or high volatility"
# to an immediate (CRITICAL) analysis; 0.7 only queued one.
CRITICAL_IMPACT = 0.8
# A move is "large" beyond 2 daily standard deviations: about 1 session in 20 by chance,
# so the brief flags surprises, not noise.
LARGE_MOVE_SIGMAS = 2.0
VOL_WINDOW = 20
# Fewer returns than this give a standard deviation too noisy to call anything large.
MIN_VOL_OBSERVATIONS = 10
EARNINGS_HORIZON_SESSIONS = 5
EARNINGS_ACTION_SESSIONS = 1

BRIEF_COLUMNS = ["section", "symbol", "detail", "value", "severity"]


def morning_brief(
    bars: pd.DataFrame,
    news: pd.DataFrame,
    earnings: pd.DataFrame,
    universe: pd.DataFrame,
    positions: pd.DataFrame,
    risk: pd.DataFrame | Mapping[str, Any],
    limits: Mapping[str, float],
    session: SessionLike,
) -> tuple[pd.DataFrame, str, bool]:
    """The pre-market brief for ``session`` (the session about to open).

    Today's opening gap is unknown before the bell, so the brief reports the *last*
    session (the latest bar before ``session``): its close-to-close move and its
    overnight gap (open vs prior close), for held and watched symbols. A move beyond
    ``LARGE_MOVE_SIGMAS`` x the realized daily vol of the 20 sessions before it is large.

    Rows (``BRIEF_COLUMNS``: section, symbol, detail, value, severity):

    - ``move`` / ``gap``: value is the return; WARNING for a large move on a held name.
    - ``news``: headlines with impact >= ``HIGH_IMPACT`` on held or watched names,
      published from the last session's date to the end of ``session``'s (naive UTC);
      value is the sentiment. CRITICAL on a held name when impact > 0.8 and the
      sentiment is negative or the name made a large move (the seed's rule), else
      WARNING when held, INFO when only watched.
    - ``earnings``: reports from ``session`` to 5 sessions after it, plus reports after
      the last session's close (AMC), whose reaction is today's open; value is sessions
      until the report (0 for today or last night). WARNING when held and within 1.
    - ``limit``: limits near or past their threshold (``limit_checks``).
    - ``action``: one row per name (or "" for the book) that needs its recommendation
      refreshed; detail lists why, value counts the reasons.

    ``requires_action`` is True when any action is WARNING or worse, which is the case
    exactly for high-impact news, a large move or earnings within 1 session on a held
    name, or any limit near or past its threshold. Triggers on names that are only
    watched still get an (INFO) action row: the analyst may want to buy them.
    """
    day = _day(session)
    focus = _watch_flags(universe, positions)
    moves, last_session = _last_moves(bars, focus, day)
    last_label = "" if last_session is None else str(last_session.date())
    move_rows, gap_rows = _move_rows(moves, last_label), _gap_rows(moves, last_label)
    news_rows = _news_rows(news, focus, moves, day, last_session)
    reports = _upcoming_reports(earnings, focus, day, last_session)
    earnings_rows = _earnings_rows(reports)
    limit_rows = _limit_rows(limit_checks(positions, risk, limits))
    triggers = _refresh_triggers(
        news_rows, move_rows, moves["large"], earnings_rows, reports["when"], limit_rows
    )
    action_rows = _action_rows(triggers, focus)

    sections = [action_rows, move_rows, gap_rows, news_rows, earnings_rows, limit_rows]
    items = pd.concat(
        [s for s in sections if not s.empty] or [_empty(BRIEF_COLUMNS)], ignore_index=True
    )[BRIEF_COLUMNS]
    items["value"] = items["value"].astype(float)
    markdown = _brief_markdown(
        day, last_label, moves, action_rows, news_rows, earnings_rows, limit_rows
    )
    return items, markdown, _forced_actions(action_rows) > 0


def _watch_flags(universe: pd.DataFrame, positions: pd.DataFrame) -> pd.DataFrame:
    """The symbols a brief covers (held or watched; the benchmark only when held) with
    a ``held`` flag and its ``role`` in words. The seed's own symbols count as watched."""
    held = pd.Index(positions["symbol"].astype(str).unique())
    watched_mask = (
        universe["is_seed_symbol"].astype(bool) | universe["on_watchlist"].astype(bool)
    ) & ~universe["is_benchmark"].astype(bool)
    watched = pd.Index(universe.loc[watched_mask, "symbol"].astype(str))
    symbols = held.union(watched)
    focus = pd.DataFrame({"symbol": symbols, "held": symbols.isin(held)})
    return focus.assign(role=np.where(focus["held"], "held", "watched"))


def _last_moves(
    bars: pd.DataFrame, focus: pd.DataFrame, session: pd.Timestamp
) -> tuple[pd.DataFrame, pd.Timestamp | None]:
    """Last session's move and overnight gap per focus symbol, with the realized daily
    vol of the ``VOL_WINDOW`` returns before it and whether the move was ``large``."""
    recent = bars[bars["symbol"].isin(focus["symbol"])].assign(date=lambda f: _dates(f["date"]))
    recent = recent[recent["date"] < session].drop_duplicates(["symbol", "date"], keep="last")
    if recent.empty:
        empty = {c: pd.Series(dtype=float) for c in ("close", "prev_close", "move", "gap", "vol")}
        moves = focus.head(0).assign(**empty, sigmas=pd.Series(dtype=float))
        return moves.assign(large=moves["sigmas"] > LARGE_MOVE_SIGMAS), None
    closes = recent.pivot(index="date", columns="symbol", values="close").sort_index()
    opens = recent.pivot(index="date", columns="symbol", values="open").reindex_like(closes)
    returns = closes / closes.shift(1) - 1.0
    # The vol excludes the move itself: a shock must not widen its own yardstick.
    window = returns.iloc[-(VOL_WINDOW + 1) : -1]
    vol = window.std(ddof=1).where(window.count() >= MIN_VOL_OBSERVATIONS)
    prev_close = closes.shift(1).iloc[-1]
    moves = pd.DataFrame(
        {
            "close": closes.iloc[-1],
            "prev_close": prev_close,
            "move": returns.iloc[-1],
            "gap": opens.iloc[-1] / prev_close - 1.0,
            "vol": vol,
        }
    )
    moves["sigmas"] = moves["move"].abs() / moves["vol"]
    moves = focus.merge(moves, left_on="symbol", right_index=True, how="inner")
    moves = moves.dropna(subset=["move"]).reset_index(drop=True)
    return moves.assign(large=moves["sigmas"] > LARGE_MOVE_SIGMAS), pd.Timestamp(closes.index[-1])


def _move_rows(moves: pd.DataFrame, last_label: str) -> pd.DataFrame:
    """The ``move`` rows: each name's close-to-close move against its daily vol."""
    return pd.DataFrame(
        {
            "section": "move",
            "symbol": moves["symbol"],
            "detail": moves["symbol"]
            + " ("
            + moves["role"]
            + ") moved "
            + _pct(moves["move"], 2, signed=True)
            + " on "
            + last_label
            + " ("
            + _money(moves["prev_close"])
            + " -> "
            + _money(moves["close"])
            + "), "
            + _fmt(moves["sigmas"], ".1f")
            + " x its daily vol of "
            + _pct(moves["vol"], 2)
            + np.where(moves["large"], ": LARGE MOVE", ""),
            "value": moves["move"],
            "severity": np.where(moves["large"] & moves["held"], "WARNING", "INFO"),
        }
    )


def _gap_rows(moves: pd.DataFrame, last_label: str) -> pd.DataFrame:
    """The ``gap`` rows: each name's overnight gap, large beyond the same sigmas as a move."""
    gap_large = (moves["gap"].abs() > LARGE_MOVE_SIGMAS * moves["vol"]).to_numpy()
    return pd.DataFrame(
        {
            "section": "gap",
            "symbol": moves["symbol"],
            "detail": moves["symbol"]
            + " ("
            + moves["role"]
            + ") opened "
            + _pct(moves["gap"], 2, signed=True)
            + " vs its prior close on "
            + last_label
            + np.where(gap_large, ": LARGE GAP", ""),
            "value": moves["gap"],
            "severity": np.where(gap_large & moves["held"].to_numpy(), "WARNING", "INFO"),
        }
    )


def _news_rows(
    news: pd.DataFrame,
    focus: pd.DataFrame,
    moves: pd.DataFrame,
    day: pd.Timestamp,
    last_session: pd.Timestamp | None,
) -> pd.DataFrame:
    """The ``news`` rows: high-impact headlines since the last session, most impactful
    first, with the seed's escalation rule for held names."""
    window_start = last_session if last_session is not None else day - pd.Timedelta(days=1)
    stamps = _utc_naive(news["published_at"]) if len(news) else pd.Series(dtype="datetime64[ns]")
    recent_news = news[
        (stamps >= window_start).to_numpy()
        & (stamps < day + pd.Timedelta(days=1)).to_numpy()
        & (news["impact"].astype(float) >= HIGH_IMPACT).to_numpy()
    ].merge(focus, on="symbol", how="inner")
    recent_news = recent_news.merge(moves[["symbol", "large"]], on="symbol", how="left")
    recent_news["large"] = recent_news["large"].eq(True)
    negative = recent_news["sentiment"].astype(float) <= NEGATIVE_THRESHOLD
    critical = (
        recent_news["held"]
        & (recent_news["impact"].astype(float) > CRITICAL_IMPACT)
        & (negative | recent_news["large"])
    )
    recent_news = recent_news.assign(
        severity=np.select([critical, recent_news["held"]], ["CRITICAL", "WARNING"], default="INFO")
    ).sort_values(["impact", "published_at"], ascending=[False, False], ignore_index=True)
    return pd.DataFrame(
        {
            "section": "news",
            "symbol": recent_news["symbol"],
            "detail": recent_news["symbol"]
            + " ("
            + recent_news["role"]
            + '): "'
            + recent_news["headline"].astype(str)
            + '" ('
            + recent_news["source"].astype(str)
            + "), impact "
            + _fmt(recent_news["impact"], ".2f")
            + ", sentiment "
            + _fmt(recent_news["sentiment"], "+.2f")
            + " "
            + recent_news["sentiment_label"].astype(str),
            "value": recent_news["sentiment"].astype(float),
            "severity": recent_news["severity"],
        }
    )


def _utc_naive(values: pd.Series) -> pd.Series:
    """Timestamps as naive UTC, so tz-aware and naive feeds compare alike."""
    stamps = pd.to_datetime(values)
    if stamps.dt.tz is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    return stamps.astype("datetime64[ns]")


def _upcoming_reports(
    earnings: pd.DataFrame,
    focus: pd.DataFrame,
    day: pd.Timestamp,
    last_session: pd.Timestamp | None,
) -> pd.DataFrame:
    """The focus names' reports from ``day`` to ``EARNINGS_HORIZON_SESSIONS`` after it,
    and last night's after-close ones, with ``day`` (report date), ``ahead`` (sessions
    until it) and ``when`` (that in words)."""
    upcoming = _sessions_from(day, EARNINGS_HORIZON_SESSIONS + 1)
    reports = earnings.merge(focus, on="symbol", how="inner")
    report_day = (
        _dates(reports["report_date"]) if len(reports) else pd.Series(dtype="datetime64[ns]")
    )
    ahead = pd.Series(upcoming.searchsorted(report_day.to_numpy()), index=reports.index)
    in_window = (report_day >= upcoming[0]) & (report_day <= upcoming[-1])
    last_night = (
        (report_day == last_session) & (reports["timing"] == "AMC")
        if last_session is not None
        else pd.Series(False, index=reports.index)
    )
    reports = reports.assign(ahead=ahead.where(in_window, 0).astype(float), day=report_day)
    reports = reports[in_window | last_night].sort_values(["ahead", "symbol"], ignore_index=True)
    when = np.select(
        [reports["day"] < day, reports["ahead"] == 0, reports["ahead"] == 1],
        ["after the last close", "today", "next session"],
        default="in " + reports["ahead"].astype(int).astype(str) + " sessions",
    )
    return reports.assign(when=pd.Series(when, dtype=object))


def _sessions_from(start: pd.Timestamp, count: int) -> pd.DatetimeIndex:
    """``count`` sessions from ``start`` (itself included when it is a session)."""
    try:
        sessions = calendar.session_index(
            start.date(), (start + pd.Timedelta(days=3 * count + 10)).date()
        )
    except ValueError:  # past the calendar's horizon: weekdays are the best guess left
        sessions = pd.DatetimeIndex([])
    if len(sessions) < count:
        sessions = pd.bdate_range(start, periods=count)
    return pd.DatetimeIndex(sessions[:count])


def _earnings_rows(reports: pd.DataFrame) -> pd.DataFrame:
    """The ``earnings`` rows, WARNING for a held name reporting within
    ``EARNINGS_ACTION_SESSIONS``."""
    return pd.DataFrame(
        {
            "section": "earnings",
            "symbol": reports["symbol"],
            "detail": reports["symbol"]
            + " ("
            + reports["role"].astype(str)
            + ") reports "
            + reports["fiscal_quarter"].astype(str)
            + " "
            + reports["when"]
            + " ("
            + reports["day"].dt.strftime("%Y-%m-%d")
            + " "
            + reports["timing"].astype(str)
            + "), EPS estimate "
            + _fmt(reports["eps_estimate"], ".2f")
            + np.where(
                reports["eps_actual"].notna(),
                ", actual "
                + _fmt(reports["eps_actual"], ".2f")
                + " ("
                + _fmt(reports["surprise_pct"], "+.1f")
                + " % surprise)",
                "",
            ),
            "value": reports["ahead"],
            "severity": np.where(
                reports["held"] & (reports["ahead"] <= EARNINGS_ACTION_SESSIONS), "WARNING", "INFO"
            ),
        }
    )


def _limit_rows(checks: pd.DataFrame) -> pd.DataFrame:
    """The ``limit`` rows, one per ``limit_checks`` row."""
    return pd.DataFrame(
        {
            "section": "limit",
            "symbol": checks["symbol"],
            "detail": checks["detail"],
            "value": checks["value"],
            "severity": checks["severity"],
        }
    )


def _refresh_triggers(
    news_rows: pd.DataFrame,
    move_rows: pd.DataFrame,
    large_move: pd.Series,
    earnings_rows: pd.DataFrame,
    earnings_when: pd.Series,
    limit_rows: pd.DataFrame,
) -> pd.DataFrame:
    """The brief's rows that call for a recommendation refresh, each with its ``reason``:
    every high-impact headline, large move, report within ``EARNINGS_ACTION_SESSIONS``
    and limit row."""
    return pd.concat(
        [
            news_rows.assign(
                reason="high-impact news (sentiment " + _fmt(news_rows["value"], "+.2f") + ")"
            ),
            move_rows[large_move.to_numpy()].assign(
                reason="large move " + _pct(move_rows["value"], 2, signed=True)
            ),
            earnings_rows[(earnings_rows["value"] <= EARNINGS_ACTION_SESSIONS).to_numpy()].assign(
                reason="earnings " + earnings_when
            ),
            limit_rows.assign(reason=limit_rows["detail"]),
        ],
        ignore_index=True,
    )


def _action_rows(triggers: pd.DataFrame, focus: pd.DataFrame) -> pd.DataFrame:
    """The ``action`` rows: the triggers (rows with a ``reason``) grouped by name, most
    severe first. Only held names and the book itself can force action (WARNING or
    worse); triggers on watched names only inform."""
    triggers = triggers.merge(focus[["symbol", "held"]], on="symbol", how="left")
    forcing = (triggers["symbol"] == "") | triggers["held"].eq(True)
    triggers["rank"] = np.where(
        forcing, np.maximum(triggers["severity"].map(_RANK), _RANK["WARNING"]), _RANK["INFO"]
    )
    actions = triggers.groupby("symbol", as_index=False, sort=False).agg(
        reasons=("reason", lambda r: "; ".join(dict.fromkeys(r))),
        count=("reason", "nunique"),
        rank=("rank", "max"),
    )
    actions = actions.sort_values(["rank", "symbol"], ascending=[False, True], ignore_index=True)
    return pd.DataFrame(
        {
            "section": "action",
            "symbol": actions["symbol"],
            "detail": np.where(actions["symbol"] == "", "the book", actions["symbol"])
            + ": refresh the recommendation ("
            + actions["reasons"]
            + ")",
            "value": actions["count"].astype(float),
            "severity": actions["rank"].map(dict(enumerate(SEVERITIES))),
        }
    )


def _must_act(action_rows: pd.DataFrame) -> pd.Series:
    """Which actions are WARNING or worse, i.e. must be acted on."""
    return action_rows["severity"].map(_RANK) >= _RANK["WARNING"]


def _forced_actions(action_rows: pd.DataFrame) -> int:
    """How many actions must be acted on."""
    return int(_must_act(action_rows).sum())


def _severity_lines(rows: pd.DataFrame) -> pd.Series:
    """Each row as "SEVERITY: detail"."""
    return rows["severity"].astype(str) + ": " + rows["detail"].astype(str)


def _brief_markdown(
    day: pd.Timestamp,
    last_label: str,
    moves: pd.DataFrame,
    action_rows: pd.DataFrame,
    news_rows: pd.DataFrame,
    earnings_rows: pd.DataFrame,
    limit_rows: pd.DataFrame,
) -> str:
    """The brief as markdown: the actions first, then a table of the last session's
    moves and gaps, then the news, earnings and limit lists."""
    table = moves.assign(
        move=_pct(moves["move"], 2, signed=True),
        gap=_pct(moves["gap"], 2, signed=True),
        daily_vol=_pct(moves["vol"], 2),
        flag=np.where(moves["large"], "LARGE", ""),
    )[["symbol", "role", "move", "gap", "daily_vol", "flag"]]
    must_act = _must_act(action_rows)
    informing = action_rows[~must_act.to_numpy()]
    header = (
        f"**Action required**: {int(must_act.sum())} item(s) need a recommendation refresh."
        if must_act.any()
        else "No action required."
    )
    # The count in the header is the length of the list under it: only the items that
    # force a refresh are "actions"; the watched names' triggers are listed apart.
    return "\n\n".join(
        [
            f"# Morning brief for {day.date()}",
            header
            + (f" Last session: {last_label}." if last_label else " No prior session in the bars."),
            "## Actions",
            _md_bullets(_severity_lines(action_rows[must_act.to_numpy()])),
            *(
                ["## Watched names (for information)", _md_bullets(_severity_lines(informing))]
                if len(informing)
                else []
            ),
            f"## Last session's moves and gaps ({last_label or 'n/a'})",
            _md_table(table),
            "## High-impact news",
            _md_bullets(_severity_lines(news_rows)),
            "## Earnings",
            _md_bullets(earnings_rows["detail"]),
            "## Limits",
            _md_bullets(limit_rows["detail"]),
        ]
    )
