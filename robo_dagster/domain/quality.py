"""Validation of price bars before they reach the warehouse."""

from __future__ import annotations

import numpy as np
import pandas as pd

BAR_COLUMNS = ["date", "symbol", "open", "high", "low", "close", "volume"]
PRICE_COLUMNS = ["open", "high", "low", "close"]


def split_valid_bars(
    bars: pd.DataFrame, sessions: pd.DatetimeIndex | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split bars into (valid, rejected); rejected rows carry a ``reason``, the first
    that applies:

    - a missing or unreadable date, or (when ``sessions`` is given) a date that is not
      one of the exchange's sessions;
    - a price that is not finite, or not positive;
    - low above min(open, close), or high below max(open, close);
    - a volume that is missing or not positive;
    - a repeated (symbol, date). Exact copies keep their first row; copies that
      disagree are all rejected, since nothing says which one is right.
    """
    missing = [c for c in BAR_COLUMNS if c not in bars.columns]
    if missing:
        raise ValueError(f"price bars lack column(s) {', '.join(missing)}")
    prices = bars[PRICE_COLUMNS].apply(pd.to_numeric, errors="coerce")
    volume = pd.to_numeric(bars["volume"], errors="coerce")
    dates = pd.to_datetime(bars["date"], errors="coerce")
    values = prices.to_numpy(dtype=float)
    reasons = pd.Series("", index=bars.index, dtype=object)

    def flag(mask: np.ndarray | pd.Series, why: str) -> None:
        mask = np.asarray(mask, dtype=bool) & (reasons.to_numpy() == "")
        reasons[mask] = why

    flag(dates.isna(), "missing or unreadable date")
    if sessions is not None:
        flag(~dates.dt.normalize().isin(sessions), "not a trading session")
    flag(~np.isfinite(values).all(axis=1), "non-finite price")
    flag((values <= 0).any(axis=1), "non-positive price")
    flag(prices["low"] > prices[["open", "close"]].min(axis=1), "low above open or close")
    flag(prices["high"] < prices[["open", "close"]].max(axis=1), "high below open or close")
    flag(~(volume > 0), "non-positive or missing volume")
    keys = pd.DataFrame({"symbol": bars["symbol"], "date": dates}, index=bars.index)
    repeated = keys.duplicated(keep=False) & (reasons == "")
    if repeated.any():
        content = pd.concat([keys, prices, volume.rename("volume")], axis=1)
        versions = content[repeated].drop_duplicates().groupby(["symbol", "date"]).size()
        conflicting = pd.MultiIndex.from_frame(keys).isin(versions[versions > 1].index)
        flag(repeated & conflicting, "conflicting duplicate (symbol, date)")
        flag(keys.duplicated(keep="first") & repeated, "duplicate (symbol, date)")
    rejected = bars[reasons != ""].assign(reason=reasons[reasons != ""])
    return bars[reasons == ""], rejected
