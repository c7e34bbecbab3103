"""Validation of price bars before they reach the warehouse."""

from __future__ import annotations

import numpy as np
import pandas as pd

BAR_COLUMNS = ["date", "symbol", "open", "high", "low", "close", "volume"]


def split_valid_bars(bars: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split bars into (valid, rejected); rejected rows carry a ``reason``.

    A bar is valid when every price is finite and positive, low <= min(open, close),
    high >= max(open, close), volume is positive, and (symbol, date) is not repeated.
    """
    missing = [c for c in BAR_COLUMNS if c not in bars.columns]
    if missing:
        raise ValueError(f"price bars lack column(s) {', '.join(missing)}")
    prices = bars[["open", "high", "low", "close"]].apply(pd.to_numeric, errors="coerce")
    volume = pd.to_numeric(bars["volume"], errors="coerce")
    values = prices.to_numpy(dtype=float)
    reasons = pd.Series("", index=bars.index, dtype=object)

    def flag(mask: np.ndarray | pd.Series, why: str) -> None:
        mask = np.asarray(mask, dtype=bool) & (reasons.to_numpy() == "")
        reasons[mask] = why

    flag(~np.isfinite(values).all(axis=1), "non-finite price")
    flag((values <= 0).any(axis=1), "non-positive price")
    flag(prices["low"] > prices[["open", "close"]].min(axis=1), "low above open or close")
    flag(prices["high"] < prices[["open", "close"]].max(axis=1), "high below open or close")
    flag(~(volume > 0), "non-positive or missing volume")
    flag(bars.duplicated(["symbol", "date"], keep="first"), "duplicate (symbol, date)")
    rejected = bars[reasons != ""].assign(reason=reasons[reasons != ""])
    return bars[reasons == ""], rejected
