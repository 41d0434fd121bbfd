"""Who supplies whom, how much they depend on it, and when a firm trades on a merger offer.

Four curated files, each validated row by row (a bad value is one line naming file, row and
field, :class:`analysis.errors.UserError`):

- ``data/supply_links.csv`` (``supplier, customer, source``): a US supplier (a universe symbol)
  sells to a customer, which is a universe symbol (e.g. ``002415.SZ``, Hikvision) or the name of
  a firm that is not listed here (e.g. ``Huawei``), as ``data/event_customers.csv`` spells it.
- ``data/event_customers.csv`` (``event_id, customer, source``): the unlisted firms an event
  named (Huawei). Listed firms an event named are in ``data/event_firms.csv``.
- ``data/exposure.csv`` (``symbol, customer_or_region, measure, value, period, source,
  confidence``): how much of a supplier's revenue went to a customer or region; ``value`` in
  percent of total revenue (0-100), ``confidence`` high / medium / low.
- ``data/merger_periods.csv`` (``symbol, start, end, what, source``): dates from which a firm's
  price follows an acquirer's offer; the firm is left out of events whose day 0 falls inside.

The supplier group of an event is the suppliers linked to any firm the event named
(:func:`linked_suppliers`).
"""
from __future__ import annotations

import re
from datetime import date

import pandas as pd

from analysis.data.catalog import (
    _DATE,
    _EVENT_ID,
    _check_known,
    _check_year,
    _check_unique_pair,
    _read_rows,
    _symbol_problem,
)
from analysis.errors import input_error
from analysis.paths import DATA

SUPPLY_LINK_COLUMNS = ("supplier", "customer", "source")
EVENT_CUSTOMER_COLUMNS = ("event_id", "customer", "source")
EXPOSURE_COLUMNS = ("symbol", "customer_or_region", "measure", "value", "period", "source", "confidence")
MERGER_COLUMNS = ("symbol", "start", "end", "what", "source")
#: ``revenue_share``: percent of the firm's total revenue sold to the customer or region.
MEASURES = ("revenue_share",)
#: high: the company's own filing read verbatim; medium: a named outlet reporting the company's
#: statement or filing; low: an estimate, a copy, an upper bound or figures that disagree.
CONFIDENCE = ("high", "medium", "low")
#: Regions an exposure row may name instead of a customer.
REGIONS = ("China",)

DEFAULT_SUPPLY_LINKS = DATA / "supply_links.csv"
DEFAULT_EVENT_CUSTOMERS = DATA / "event_customers.csv"
DEFAULT_EXPOSURE = DATA / "exposure.csv"
DEFAULT_MERGER_PERIODS = DATA / "merger_periods.csv"

_NAME = re.compile(r"^[A-Z][A-Za-z0-9 .&'-]{0,59}$")


def _name_problem(name: str) -> str | None:
    if not _NAME.match(name):
        return f"'{name}' is not a firm name (a capital letter, then letters, digits, spaces or .&'-)"
    return None


def load_event_customers(path=DEFAULT_EVENT_CUSTOMERS, events=None, symbols=None, strict: bool = True) -> pd.DataFrame:
    """The unlisted firms each event named: columns EVENT_CUSTOMER_COLUMNS, in file order.
    A customer that is a universe symbol belongs in ``data/event_firms.csv`` (an error)."""
    rows = _read_rows(path, EVENT_CUSTOMER_COLUMNS, allow_empty=True)
    keep = []
    listed = set(symbols) if symbols is not None else set()
    for n, v in rows:
        if not _EVENT_ID.match(v["event_id"]):
            raise input_error(path, n, "event_id", f"'{v['event_id']}' is not snake_case (a-z, 0-9, _)")
        if v["customer"] in listed:
            raise input_error(path, n, "customer", f"'{v['customer']}' is a listed firm of the universe; "
                                                   "name it in data/event_firms.csv")
        problem = _name_problem(v["customer"])
        if problem:
            raise input_error(path, n, "customer", problem)
        if _check_known(path, n, "event_id", v["event_id"], None if events is None else set(events), "event", strict):
            keep.append(v)
    _check_unique_pair(path, rows, ("event_id", "customer"))
    return pd.DataFrame(keep, columns=list(EVENT_CUSTOMER_COLUMNS))


def load_supply_links(path=DEFAULT_SUPPLY_LINKS, symbols=None, customers=None, strict: bool = True) -> pd.DataFrame:
    """Supplier-customer links: columns SUPPLY_LINK_COLUMNS, in file order.

    ``symbols``: the universe symbols in use (suppliers, and listed customers); ``customers``:
    the unlisted customer names known (from ``data/event_customers.csv``). A customer that is
    neither is an error when ``strict`` (else the row is left out), as is an unknown supplier.
    """
    rows = _read_rows(path, SUPPLY_LINK_COLUMNS, allow_empty=True)
    keep = []
    syms = None if symbols is None else set(symbols)
    names = set(customers or ())
    for n, v in rows:
        problem = _symbol_problem(v["supplier"])
        if problem:
            raise input_error(path, n, "supplier", problem)
        if v["customer"] == v["supplier"]:
            raise input_error(path, n, "customer", f"'{v['customer']}' is the supplier itself")
        if not _check_known(path, n, "supplier", v["supplier"], syms, "symbol", strict):
            continue
        if syms is not None and v["customer"] not in syms and v["customer"] not in names:
            if strict:
                raise input_error(path, n, "customer", f"unknown customer '{v['customer']}' (neither a symbol of "
                                                       "the universe nor a firm of data/event_customers.csv)")
            continue
        keep.append(v)
    _check_unique_pair(path, rows, ("supplier", "customer"))
    return pd.DataFrame(keep, columns=list(SUPPLY_LINK_COLUMNS))


def load_exposure(path=DEFAULT_EXPOSURE, symbols=None, strict: bool = True) -> pd.DataFrame:
    """Revenue exposure of the suppliers: columns EXPOSURE_COLUMNS with ``value`` a float
    (percent of total revenue, 0-100), in file order."""
    rows = _read_rows(path, EXPOSURE_COLUMNS, allow_empty=True)
    keep = []
    for n, v in rows:
        problem = _symbol_problem(v["symbol"])
        if problem:
            raise input_error(path, n, "symbol", problem)
        if v["measure"] not in MEASURES:
            raise input_error(path, n, "measure", f"'{v['measure']}' is not one of {', '.join(MEASURES)}")
        if v["confidence"] not in CONFIDENCE:
            raise input_error(path, n, "confidence", f"'{v['confidence']}' is not one of {', '.join(CONFIDENCE)}")
        try:
            value = float(v["value"])
        except ValueError:
            raise input_error(path, n, "value", f"'{v['value']}' is not a number (percent of revenue)") from None
        if not 0.0 <= value <= 100.0:
            raise input_error(path, n, "value", f"{value:g} is outside 0-100 (percent of revenue)")
        if v["customer_or_region"] not in REGIONS and _symbol_problem(v["customer_or_region"]) \
                and _name_problem(v["customer_or_region"]):
            raise input_error(path, n, "customer_or_region", f"'{v['customer_or_region']}' is neither a symbol, "
                                                             f"a firm name nor a region ({', '.join(REGIONS)})")
        if _check_known(path, n, "symbol", v["symbol"], None if symbols is None else set(symbols), "symbol", strict):
            keep.append({**v, "value": value})
    _check_unique_pair(path, rows, ("symbol", "customer_or_region", "period"))
    frame = pd.DataFrame(keep, columns=list(EXPOSURE_COLUMNS))
    frame["value"] = frame["value"].astype(float)
    return frame


def load_merger_periods(path=DEFAULT_MERGER_PERIODS, symbols=None, strict: bool = True) -> pd.DataFrame:
    """Merger periods: columns MERGER_COLUMNS plus ``start_day`` and ``end_day`` (Timestamps;
    ``end`` empty: open-ended, NaT), in file order."""
    rows = _read_rows(path, ("symbol", "start", "what", "source"), optional=("end",), allow_empty=True)
    keep = []
    for n, v in rows:
        problem = _symbol_problem(v["symbol"])
        if problem:
            raise input_error(path, n, "symbol", problem)
        days = {}
        for col in ("start", "end"):
            if col == "end" and not v[col]:
                days[col] = pd.NaT
                continue
            try:
                if not _DATE.match(v[col]):
                    raise ValueError(f"expected YYYY-MM-DD, got '{v[col]}'")
                _check_year(v[col])  # as every catalog date: 1900..2100, never an out-of-bounds timestamp
                days[col] = pd.Timestamp(date.fromisoformat(v[col]))
            except ValueError as exc:
                raise input_error(path, n, col, str(exc)) from None
        if days["end"] is not pd.NaT and days["end"] < days["start"]:
            raise input_error(path, n, "end", f"{v['end']} is before the start {v['start']}")
        if _check_known(path, n, "symbol", v["symbol"], None if symbols is None else set(symbols), "symbol", strict):
            keep.append({**{c: v[c] for c in MERGER_COLUMNS}, "start_day": days["start"], "end_day": days["end"]})
    frame = pd.DataFrame(keep, columns=[*MERGER_COLUMNS, "start_day", "end_day"])
    frame["start_day"] = pd.to_datetime(frame["start_day"])
    frame["end_day"] = pd.to_datetime(frame["end_day"])
    return frame


def merger_reason(what: str, start) -> str:
    """Why a firm-event in a merger period is left out (skipped.csv, the PDF):
    'merger period: <what> (from <start>)'."""
    return f"merger period: {what} (from {start})"


def event_customers(event_firms: pd.DataFrame, unlisted: pd.DataFrame) -> dict[str, set[str]]:
    """{event_id: the customers it named}: the listed firms of ``event_firms`` with relation
    ``named`` (their symbols) and the unlisted firms of ``unlisted`` (their names)."""
    out: dict[str, set[str]] = {}
    if event_firms is not None and len(event_firms):
        named = event_firms[event_firms["relation"] == "named"]
        for e, s in zip(named["event_id"], named["symbol"]):
            out.setdefault(e, set()).add(s)
    if unlisted is not None and len(unlisted):
        for e, c in zip(unlisted["event_id"], unlisted["customer"]):
            out.setdefault(e, set()).add(c)
    return out


def linked_suppliers(customers: dict[str, set[str]], links: pd.DataFrame) -> dict[str, set[str]]:
    """{event_id: suppliers linked to at least one customer the event named}."""
    by_customer: dict[str, set[str]] = {}
    for s, c in zip(links["supplier"], links["customer"]):
        by_customer.setdefault(c, set()).add(s)
    return {e: set().union(*(by_customer.get(c, set()) for c in cs)) for e, cs in customers.items()}
