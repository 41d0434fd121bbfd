"""Where other news (``data/confounders.csv``) lands on each market: the events' day-0 rule.

A confounder announced at an instant reaches a market on that market's first session whose
close is strictly after it (:func:`analysis.data.calendars.day_zero`): news after a close counts
from the next session. A date-only item is taken, like a date-only event, as made at 09:00 New
York time (so it is on that day's US session, and on the next Shanghai/Shenzhen session). An
item reaches only the markets its ``markets`` column names (``all``: every market): a US-only
item (an FOMC statement at 14:00 ET) is never placed on an A-share cell.

Markets and the calendar that places news on them (Nasdaq and NYSE share their sessions,
Shenzhen trades on Shanghai's).
"""
from __future__ import annotations

import pandas as pd

from analysis.data.calendars import day_zero

#: The market of each exchange (ISO MIC) the universe may name.
MARKET_OF_EXCHANGE = {"XNAS": "US", "XNYS": "US", "XSHE": "CN", "XSHG": "CN", "XHKG": "HK"}
#: The calendar placing news on each market.
MARKET_CALENDAR = {"US": "XNAS", "CN": "XSHG", "HK": "XHKG"}
#: ``markets`` value reaching every market.
ALL_MARKETS = "all"


def day_column(market: str) -> str:
    """Name of the placed-day column of ``market`` in a placed confounder frame: 'day_US'."""
    return f"day_{market}"


def market_of(exchange: str) -> str:
    """'XSHE' -> 'CN' (an unknown MIC is its own market: only ``all`` items reach it)."""
    return MARKET_OF_EXCHANGE.get(exchange, exchange)


def place_confounders(table: pd.DataFrame | None) -> pd.DataFrame | None:
    """``table`` (:func:`analysis.data.catalog.load_confounders`) with a ``day_<market>`` column per
    market of :data:`MARKET_CALENDAR`: the session (datetime64, tz-naive) on which the item first
    reaches that market, NaT where its ``markets`` leave that market out.

    A frame without ``announced`` is placed from ``day`` (date only); without ``markets``, every
    market; without ``severity``, the items count as ``minor``.
    """
    if table is None:
        return None
    out = table.copy()
    if "announced" not in out.columns:
        out["announced"] = pd.Series([pd.Timestamp(d) for d in pd.to_datetime(out["day"])], index=out.index,
                                     dtype=object)
    if "markets" not in out.columns:
        out["markets"] = ALL_MARKETS
    if "severity" not in out.columns:
        out["severity"] = "minor"
    for market, mic in MARKET_CALENDAR.items():
        days = [day_zero(a, mic) if m in (market, ALL_MARKETS) else pd.NaT
                for a, m in zip(out["announced"], out["markets"])]
        out[day_column(market)] = pd.to_datetime(pd.Series(days, index=out.index, dtype=object))
    return out
