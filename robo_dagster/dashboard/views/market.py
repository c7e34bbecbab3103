"""Market: per symbol, candlesticks with SMA and Bollinger bands, RSI and MACD below;
the news with its sentiment; the earnings dates."""

import streamlit as st

from robo_dagster.dashboard import charts, formatting, queries, ui

SESSION_CHOICES = (60, 120, 260, 520)


def pick_symbol(database: str) -> tuple[str, int] | None:
    """The symbol picker (held names first, then the watchlist and the benchmark) and
    how many sessions to show."""
    universe = ui.load("read_universe", database)
    if universe is None:
        return None
    labels = {
        row.symbol: f"{row.symbol} · {row.name}" + (" (held)" if row.is_held else "")
        for row in universe.itertuples(index=False)
    }
    left, right = st.columns([3, 2])
    symbol = left.selectbox(
        "Symbol", list(labels), format_func=lambda s: labels[s], key="market_symbol"
    )
    sessions = right.select_slider(
        "Sessions shown", SESSION_CHOICES, value=260, key="market_sessions"
    )
    return None if symbol is None else (symbol, int(sessions))


def prices(database: str, symbol: str, sessions: int) -> None:
    """The price panel and the latest close, change, RSI and MACD."""
    ui.asset_links("market_data/price_bars", "market_data/technical_indicators")
    bars = ui.load(
        "read_price_history", database, symbol, sessions, empty=f"No price bars for {symbol}."
    )
    if bars is None:
        return
    last = bars.iloc[-1]
    change = last["close"] / bars.iloc[-2]["close"] - 1 if len(bars) > 1 else float("nan")
    cols = st.columns(5)
    cols[0].metric(
        f"Close {formatting.timestamp(last['date'])}",
        ui.price(last["close"]),
        delta=formatting.percent(change, 2, signed=True),
    )
    cols[1].metric("RSI 14", formatting.number(last["rsi_14"], 1))
    cols[2].metric("MACD histogram", formatting.number(last["macd_hist"], 3, signed=True))
    cols[3].metric("Lower Bollinger band", ui.price(last["bb_lower"]))
    cols[4].metric("Upper Bollinger band", ui.price(last["bb_upper"]))
    for chart in charts.price_panel(bars, symbol):
        ui.chart(chart)


def news(database: str, symbol: str) -> None:
    """The symbol's headlines, newest first, with sentiment and impact."""
    st.subheader("News")
    ui.asset_links("market_data/news")
    headlines = ui.load("read_news", database, symbol, empty=f"No headlines for {symbol}.")
    if headlines is None:
        return
    st.caption(
        f"{len(headlines)} headlines, average sentiment "
        f"{formatting.number(headlines['sentiment'].mean(), 2, signed=True)}"
    )
    ui.chart(charts.news_sentiment(headlines, symbol))
    ui.table(
        headlines,
        {
            "published_at": ("Published (UTC)", ui.day),
            "headline": ("Headline", None),
            "source": ("Source", None),
            "sentiment": ("Sentiment", lambda v: formatting.number(v, 2, signed=True)),
            "sentiment_label": ("Tone", None),
            "impact": ("Impact", lambda v: formatting.number(v, 2)),
        },
    )


def earnings(database: str, symbol: str) -> None:
    """The symbol's earnings dates: the next one, and the reported ones with surprises."""
    st.subheader("Earnings")
    ui.asset_links("market_data/earnings")
    dates = ui.load("read_earnings", database, symbol, empty=f"No earnings dates for {symbol}.")
    if dates is None:
        return
    upcoming = queries.next_earnings(dates)
    if upcoming is not None:
        st.metric(
            "Next earnings",
            formatting.timestamp(upcoming["report_date"]),
            delta=f"{upcoming['fiscal_quarter']} {upcoming['timing']}",
            delta_color="off",
            delta_arrow="off",
        )
    ui.table(
        dates,
        {
            "report_date": ("Report date", ui.day),
            "fiscal_quarter": ("Quarter", None),
            "timing": ("Timing", None),
            "status": ("Status", None),
            "eps_estimate": ("EPS estimate", ui.price),
            "eps_actual": ("EPS actual", ui.price),
            # surprise_pct is stored in percent points (2.51 means +2.51 %).
            "surprise_pct": ("Surprise", lambda v: formatting.percent(_points(v), 1, signed=True)),
        },
    )


def _points(value: object) -> object:
    """Percent points as a fraction, leaving a missing value missing."""
    return value / 100 if isinstance(value, (int, float)) else value


def render() -> None:
    st.title("Market")
    database = ui.database()
    picked = pick_symbol(database)
    if picked is None:
        return
    symbol, sessions = picked
    prices(database, symbol, sessions)
    left, right = st.columns([3, 2])
    with left:
        news(database, symbol)
    with right:
        earnings(database, symbol)


render()
