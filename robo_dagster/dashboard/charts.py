"""The dashboard's charts, as Altair specs built from the frames ``queries`` returns.

Axes and tooltips carry people's formats: fractions as percent (``.1%``), money with
thousands separators (``,.0f``), never scientific notation. No Streamlit here.
"""

from __future__ import annotations

from typing import TypeAlias

import altair as alt
import pandas as pd

from robo_dagster.domain.review.scorecard import ACTIONS, CONFIDENCE_BUCKETS

# What the builders return (alt.layer's own annotation admits a facet chart too).
AnyChart: TypeAlias = alt.Chart | alt.LayerChart | alt.VConcatChart | alt.FacetChart

PERCENT = ".1%"
MONEY = ",.0f"
PRICE = ",.2f"
UP = "#2e7d32"
DOWN = "#c62828"
LIMIT = "#ef6c00"
NEUTRAL = "#546e7a"
SEVERITY_COLORS = {
    "CRITICAL": "#b71c1c",
    "ERROR": "#e53935",
    "WARNING": "#fb8c00",
    "INFO": "#1e88e5",
}
# Names on a categorical axis (sectors, scenarios) are shown whole up to this width.
LABEL_LIMIT = 240
# The price, RSI and MACD charts stack on one time axis: equal y-axis widths and legends
# above the plots keep their plot areas, and so their dates, aligned.
Y_AXIS_WIDTH = 64


def time_axis(field: str, dates: pd.Series, title: str | None = None) -> alt.X:
    """A time axis labelled by the hour within three days (``Nov 25 14:00``), by day
    within a year (``Nov 25``), else by month (``Nov 2026``)."""
    values = pd.to_datetime(dates.dropna())
    span = (values.max() - values.min()).days if len(values) else 0
    label = "%b %d %H:%M" if span < 3 else "%b %d" if span <= 300 else "%b %Y"
    return alt.X(f"{field}:T", title=title, axis=alt.Axis(format=label))


def _date(frame: pd.DataFrame) -> alt.X:
    return time_axis("date", frame["date"])


SMAS = ["sma_20", "sma_50", "sma_200"]
INDICATORS = ["rsi_14", "macd", "macd_signal", "macd_hist"]


def _require(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: the frame lacks the columns {missing}")


# ---------------------------------------------------------------------------- book
def equity_curve(history: pd.DataFrame) -> AnyChart:
    """The book's cumulative return against SPY's, session by session."""
    _require(history, ["date", "cumulative_return", "benchmark_cumulative_return"], "equity curve")
    long = history.melt(
        id_vars=["date"],
        value_vars=["cumulative_return", "benchmark_cumulative_return"],
        var_name="series",
        value_name="cumulative",
    ).replace({"series": {"cumulative_return": "Book", "benchmark_cumulative_return": "SPY"}})
    return (
        alt.Chart(long, title="Cumulative return: the book against SPY")
        .mark_line()
        .encode(
            x=_date(history),
            y=alt.Y("cumulative:Q", title="cumulative return", axis=alt.Axis(format=PERCENT)),
            color=alt.Color(
                "series:N",
                title=None,
                scale=alt.Scale(domain=["Book", "SPY"], range=["#1565c0", NEUTRAL]),
            ),
            tooltip=[
                alt.Tooltip("date:T"),
                alt.Tooltip("series:N"),
                alt.Tooltip("cumulative:Q", format=".2%", title="cumulative return"),
            ],
        )
    )


def equity_value(history: pd.DataFrame) -> AnyChart:
    """Equity in money, with cash beneath it where the broker reports cash."""
    _require(history, ["date", "equity", "cash"], "equity")
    columns = ["equity"] + (["cash"] if history["cash"].notna().any() else [])
    long = history.melt(id_vars=["date"], value_vars=columns, var_name="series", value_name="value")
    return (
        alt.Chart(long, title="Equity and cash")
        .mark_line()
        .encode(
            x=_date(history),
            y=alt.Y("value:Q", title=None, axis=alt.Axis(format=MONEY)),
            color=alt.Color("series:N", title=None),
            tooltip=[
                alt.Tooltip("date:T"),
                alt.Tooltip("series:N"),
                alt.Tooltip("value:Q", format=MONEY),
            ],
        )
    )


def drawdown(history: pd.DataFrame) -> AnyChart:
    """The drawdown from the running peak (a fraction, at most 0)."""
    _require(history, ["date", "drawdown"], "drawdown")
    return (
        alt.Chart(history, title="Drawdown from the peak")
        .mark_area(color=DOWN, opacity=0.5, line={"color": DOWN})
        .encode(
            x=_date(history),
            y=alt.Y("drawdown:Q", title="drawdown", axis=alt.Axis(format=PERCENT)),
            tooltip=[alt.Tooltip("date:T"), alt.Tooltip("drawdown:Q", format=".2%")],
        )
    )


def weights(positions: pd.DataFrame) -> AnyChart:
    """Each position's weight in equity, largest first."""
    _require(positions, ["symbol", "weight", "sector"], "weights")
    return (
        alt.Chart(positions, title="Weights")
        .mark_bar()
        .encode(
            x=alt.X("weight:Q", title="weight of equity", axis=alt.Axis(format=PERCENT)),
            y=alt.Y("symbol:N", sort="-x", title=None),
            color=alt.Color("sector:N", title="sector"),
            tooltip=[
                alt.Tooltip("symbol:N"),
                alt.Tooltip("sector:N"),
                alt.Tooltip("weight:Q", format=PERCENT),
            ],
        )
    )


# ---------------------------------------------------------------------------- risk
def var_against_limit(history: pd.DataFrame) -> AnyChart:
    """1-day 95 % VaR in % of equity, session by session, under its limit; breaches red."""
    _require(history, ["date", "var_95_1d_pct", "var_95_limit_pct", "var_breach"], "VaR")
    base = alt.Chart(history).encode(x=_date(history))
    var = base.mark_line(color="#1565c0").encode(
        y=alt.Y(
            "var_95_1d_pct:Q", title="VaR 95 % 1-day, of equity", axis=alt.Axis(format=PERCENT)
        ),
        tooltip=[
            alt.Tooltip("date:T"),
            alt.Tooltip("var_95_1d_pct:Q", format=".2%", title="VaR"),
            alt.Tooltip("var_95_limit_pct:Q", format=".2%", title="limit"),
        ],
    )
    limit = base.mark_line(color=LIMIT, strokeDash=[6, 4]).encode(y="var_95_limit_pct:Q")
    breaches = (
        base.transform_filter("datum.var_breach")
        .mark_point(color=DOWN, filled=True, size=60)
        .encode(y="var_95_1d_pct:Q")
    )
    return alt.layer(var, limit, breaches, title="VaR against its limit (dashed)")


def exposures(history: pd.DataFrame) -> AnyChart:
    """Gross and net exposure, as multiples of equity, session by session."""
    _require(history, ["date", "gross_exposure", "net_exposure"], "exposures")
    long = history.melt(
        id_vars=["date"],
        value_vars=["gross_exposure", "net_exposure"],
        var_name="exposure",
        value_name="multiple",
    ).replace({"exposure": {"gross_exposure": "gross", "net_exposure": "net"}})
    return (
        alt.Chart(long, title="Exposure (multiple of equity)")
        .mark_line()
        .encode(
            x=_date(history),
            y=alt.Y("multiple:Q", title="x equity", axis=alt.Axis(format=".2f")),
            color=alt.Color("exposure:N", title=None),
            tooltip=[
                alt.Tooltip("date:T"),
                alt.Tooltip("exposure:N"),
                alt.Tooltip("multiple:Q", format=".2f"),
            ],
        )
    )


def sector_weights(sectors: pd.DataFrame, limit: float) -> AnyChart:
    """Each sector's weight against the sector limit (the orange rule); over it, red."""
    _require(sectors, ["sector", "weight"], "sector weights")
    shown = sectors.assign(over_limit=sectors["weight"].abs() > limit, limit=limit)
    bars = (
        alt.Chart(shown)
        .mark_bar()
        .encode(
            x=alt.X("weight:Q", title="weight of equity", axis=alt.Axis(format=PERCENT)),
            y=alt.Y("sector:N", sort="-x", title=None, axis=alt.Axis(labelLimit=LABEL_LIMIT)),
            color=alt.condition("datum.over_limit", alt.value(DOWN), alt.value("#1565c0")),
            tooltip=[
                alt.Tooltip("sector:N"),
                alt.Tooltip("weight:Q", format=PERCENT),
                alt.Tooltip("limit:Q", format=PERCENT),
            ],
        )
    )
    rule = (
        alt.Chart(pd.DataFrame({"limit": [limit]}))
        .mark_rule(color=LIMIT, strokeDash=[6, 4], size=2)
        .encode(x="limit:Q")
    )
    return alt.layer(bars, rule, title=f"Sector weights against the {limit:.0%} limit")


def stress_losses(scenarios: pd.DataFrame) -> AnyChart:
    """Each stress scenario's loss in % of equity."""
    _require(scenarios, ["scenario", "loss", "loss_pct"], "stress scenarios")
    return (
        alt.Chart(scenarios, title="Stress scenarios: loss of equity")
        .mark_bar(color=DOWN)
        .encode(
            x=alt.X("loss_pct:Q", title="loss of equity", axis=alt.Axis(format=PERCENT)),
            y=alt.Y("scenario:N", sort="-x", title=None, axis=alt.Axis(labelLimit=LABEL_LIMIT)),
            tooltip=[
                alt.Tooltip("scenario:N"),
                alt.Tooltip("loss:Q", format=MONEY),
                alt.Tooltip("loss_pct:Q", format=".2%"),
            ],
        )
    )


# ---------------------------------------------------------------------------- recommendations
def target_weights(recommendations: pd.DataFrame) -> AnyChart:
    """Current against target weight for each recommendation."""
    _require(recommendations, ["symbol", "action", "current_weight", "target_weight"], "targets")
    long = recommendations.melt(
        id_vars=["symbol", "action"],
        value_vars=["current_weight", "target_weight"],
        var_name="weight_of",
        value_name="weight",
    ).replace({"weight_of": {"current_weight": "current", "target_weight": "target"}})
    return (
        alt.Chart(long, title="Current and target weights")
        .mark_bar()
        .encode(
            x=alt.X("weight:Q", title="weight of equity", axis=alt.Axis(format=PERCENT)),
            y=alt.Y("symbol:N", title=None),
            yOffset=alt.YOffset("weight_of:N"),
            color=alt.Color(
                "weight_of:N",
                title=None,
                scale=alt.Scale(domain=["current", "target"], range=[NEUTRAL, "#1565c0"]),
            ),
            tooltip=[
                alt.Tooltip("symbol:N"),
                alt.Tooltip("action:N"),
                alt.Tooltip("weight_of:N", title="weight"),
                alt.Tooltip("weight:Q", format=PERCENT),
            ],
        )
    )


def signals(signals_frame: pd.DataFrame, symbol: str) -> AnyChart:
    """One symbol's signals: green for its action, red against it."""
    _require(signals_frame, ["symbol", "signal", "value", "side"], "signals")
    mine = signals_frame[signals_frame["symbol"] == symbol]
    return (
        alt.Chart(mine, title=f"{symbol}: the signals for and against")
        .mark_bar()
        .encode(
            x=alt.X("value:Q", title="signal", axis=alt.Axis(format="+.2f")),
            y=alt.Y("signal:N", sort="-x", title=None),
            color=alt.Color(
                "side:N", title=None, scale=alt.Scale(domain=["for", "against"], range=[UP, DOWN])
            ),
            tooltip=[
                alt.Tooltip("signal:N"),
                alt.Tooltip("value:Q", format="+.2f"),
                alt.Tooltip("side:N"),
            ],
        )
    )


# The scorecard's groups in their own order: the actions in their usual colours, the
# confidence buckets from light (low) to dark (high).
GROUP_SCALES = {
    "action": alt.Scale(domain=list(ACTIONS), range=[UP, DOWN, NEUTRAL]),
    "confidence": alt.Scale(
        domain=list(CONFIDENCE_BUCKETS), range=["#90caf9", "#1e88e5", "#0d47a1"]
    ),
}


def scorecard_over_time(summary: pd.DataFrame, group_type: str) -> AnyChart:
    """Hit rate of each session's recommendations, one line per action or confidence
    bucket (``group_type``); the point size is how many had matured."""
    _require(summary, ["session", "group_type", "group", "hit_rate", "matured"], "scorecard")
    if group_type not in GROUP_SCALES:
        raise ValueError(f"group_type {group_type!r} must be one of {sorted(GROUP_SCALES)}")
    mine = summary[(summary["group_type"] == group_type) & summary["hit_rate"].notna()]
    return (
        alt.Chart(mine, title=f"Hit rate by {group_type}")
        .mark_line(point=True)
        .encode(
            x=time_axis("session", mine["session"], "recommended on"),
            y=alt.Y(
                "hit_rate:Q",
                title="hit rate",
                axis=alt.Axis(format=".0%"),
                scale=alt.Scale(domain=[0, 1]),
            ),
            color=alt.Color("group:N", title=group_type, scale=GROUP_SCALES[group_type]),
            tooltip=[
                alt.Tooltip("session:T"),
                alt.Tooltip("group:N", title=group_type),
                alt.Tooltip("hit_rate:Q", format=PERCENT),
                alt.Tooltip("matured:Q", title="matured"),
                alt.Tooltip("count:Q", title="recommendations"),
                alt.Tooltip("avg_return:Q", format=".2%", title="average return"),
            ],
        )
    )


def recommendation_history(history: pd.DataFrame, symbol: str) -> AnyChart:
    """One symbol's target weight over the sessions, each point coloured by its action."""
    _require(history, ["session", "action", "target_weight", "current_weight"], "history")
    base = alt.Chart(history).encode(x=time_axis("session", history["session"]))
    current = base.mark_line(color=NEUTRAL, strokeDash=[4, 3]).encode(
        y=alt.Y("current_weight:Q", title="weight of equity", axis=alt.Axis(format=PERCENT))
    )
    target = base.mark_point(filled=True, size=80).encode(
        y="target_weight:Q",
        color=alt.Color(
            "action:N",
            scale=alt.Scale(domain=["BUY", "HOLD", "SELL"], range=[UP, NEUTRAL, DOWN]),
        ),
        tooltip=[
            alt.Tooltip("session:T"),
            alt.Tooltip("action:N"),
            alt.Tooltip("current_weight:Q", format=PERCENT, title="current"),
            alt.Tooltip("target_weight:Q", format=PERCENT, title="target"),
            alt.Tooltip("confidence:Q", format=".2f"),
        ],
    )
    return alt.layer(current, target, title=f"{symbol}: target weights (points), current (dashed)")


# ---------------------------------------------------------------------------- market
def price_panel(bars: pd.DataFrame, symbol: str) -> list[AnyChart]:
    """Three charts to stack on one time axis: candlesticks with SMA 20/50/200 and the
    Bollinger bands, then RSI 14, then MACD with its signal and histogram."""
    _require(
        bars,
        ["date", "open", "high", "low", "close", *SMAS, "bb_upper", "bb_lower", *INDICATORS],
        "price chart",
    )
    base = alt.Chart(bars).encode(x=_date(bars))
    top = alt.Legend(orient="top", title=None)

    def y(field: str, title: str, **kwargs: object) -> alt.Y:
        return alt.Y(
            field,
            title=title,
            axis=alt.Axis(minExtent=Y_AXIS_WIDTH, maxExtent=Y_AXIS_WIDTH, **kwargs),  # type: ignore[arg-type]
            scale=alt.Scale(zero=False),
        )

    candle_color = alt.condition("datum.open <= datum.close", alt.value(UP), alt.value(DOWN))
    band = base.mark_area(opacity=0.12, color="#5c6bc0").encode(
        y=y("bb_lower:Q", "price", format=PRICE), y2="bb_upper:Q"
    )
    wick = base.mark_rule().encode(y="low:Q", y2="high:Q", color=candle_color)
    body = base.mark_bar().encode(
        y="open:Q",
        y2="close:Q",
        color=candle_color,
        tooltip=[
            alt.Tooltip("date:T"),
            *(alt.Tooltip(f"{c}:Q", format=PRICE) for c in ("open", "high", "low", "close")),
            alt.Tooltip("volume:Q", format=MONEY),
        ],
    )
    fold: list[str | alt.FieldName] = [*SMAS]
    smas = (
        base.transform_fold(fold, as_=["average", "value"])
        .mark_line(strokeWidth=1.5)
        .encode(
            y="value:Q",
            color=alt.Color(
                "average:N",
                legend=top,
                scale=alt.Scale(domain=SMAS, range=["#f9a825", "#8e24aa", "#00897b"]),
            ),
        )
    )
    price = alt.layer(band, wick, body, smas, title=f"{symbol}: price, SMA and Bollinger bands")
    rsi_line = base.mark_line(color="#6d4c41").encode(
        y=alt.Y(
            "rsi_14:Q",
            title="RSI 14",
            scale=alt.Scale(domain=[0, 100]),
            axis=alt.Axis(minExtent=Y_AXIS_WIDTH, maxExtent=Y_AXIS_WIDTH, values=[0, 30, 70, 100]),
        ),
        tooltip=[alt.Tooltip("date:T"), alt.Tooltip("rsi_14:Q", format=".1f")],
    )
    bounds = (
        alt.Chart(pd.DataFrame({"level": [30, 70]}))
        .mark_rule(color=NEUTRAL, strokeDash=[4, 3])
        .encode(y="level:Q")
    )
    rsi = alt.layer(rsi_line, bounds, title="RSI 14 (30 and 70 dashed)")
    hist = base.mark_bar(opacity=0.6).encode(
        y=y("macd_hist:Q", "MACD", format=".2f"),
        color=alt.condition("datum.macd_hist >= 0", alt.value(UP), alt.value(DOWN)),
    )
    macd_lines = (
        base.transform_fold(["macd", "macd_signal"], as_=["line", "value"])
        .mark_line()
        .encode(
            y="value:Q",
            color=alt.Color(
                "line:N",
                legend=top,
                scale=alt.Scale(domain=["macd", "macd_signal"], range=["#1565c0", "#ef6c00"]),
            ),
            tooltip=[
                alt.Tooltip("date:T"),
                alt.Tooltip("line:N"),
                alt.Tooltip("value:Q", format=".3f"),
            ],
        )
    )
    macd = alt.layer(hist, macd_lines, title="MACD 12/26/9")
    # Heights include the title, legend and axis (Streamlit fits the whole chart).
    return [price.properties(height=440), rsi.properties(height=220), macd.properties(height=240)]


def news_sentiment(news: pd.DataFrame, symbol: str) -> AnyChart:
    """Each headline's sentiment over time; larger points had more impact."""
    _require(news, ["published_at", "headline", "sentiment", "impact"], "news")
    return (
        alt.Chart(news, title=f"{symbol}: news sentiment")
        .mark_circle(opacity=0.8)
        .encode(
            x=time_axis("published_at", news["published_at"]),
            y=alt.Y("sentiment:Q", title="sentiment", scale=alt.Scale(domain=[-1, 1])),
            size=alt.Size("impact:Q", title="impact", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color(
                "sentiment:Q",
                scale=alt.Scale(domain=[-1, 0, 1], range=[DOWN, "#bdbdbd", UP]),
                legend=None,
            ),
            tooltip=[
                alt.Tooltip("published_at:T", format="%Y-%m-%d %H:%M", title="published"),
                alt.Tooltip("headline:N"),
                alt.Tooltip("sentiment:Q", format="+.2f"),
                alt.Tooltip("impact:Q", format=".2f"),
            ],
        )
    )


# ---------------------------------------------------------------------------- alerts
def alerts_per_day(counts: pd.DataFrame) -> AnyChart:
    """How many alert episodes began each day, stacked by severity."""
    _require(counts, ["day", "severity", "alerts"], "alerts per day")
    return (
        alt.Chart(counts, title="Alerts raised per day")
        .mark_bar()
        .encode(
            x=time_axis("day", counts["day"]),
            y=alt.Y("alerts:Q", title="alerts", axis=alt.Axis(format="d", tickMinStep=1)),
            color=alt.Color(
                "severity:N",
                scale=alt.Scale(domain=list(SEVERITY_COLORS), range=list(SEVERITY_COLORS.values())),
            ),
            tooltip=[alt.Tooltip("day:T"), alt.Tooltip("severity:N"), alt.Tooltip("alerts:Q")],
        )
    )
