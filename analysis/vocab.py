"""The study's vocabulary, defined once: groups, roles, models, exchanges, windows.

Lowest layer (imports nothing from the package but :mod:`analysis.errors`). Every other module,
notebook and the PDF takes names, labels, order and colours from here. Test statistics are
defined by the registry (:mod:`analysis.inference.registry`), each with its own label.

Windows are (start, end) in trading days relative to day 0, inclusive; written ``"-1:1"``.
"""
from __future__ import annotations

from dataclasses import dataclass

from analysis.errors import UserError


@dataclass(frozen=True)
class Group:
    """A group of firms in an (event, group, window) cell."""

    name: str  # in CSV files: tests.csv ``group``
    label: str  # in tables and figures: "US suppliers"
    words: str  # in sentences: "the US suppliers"
    color: str  # one colour per group in every figure


#: Universe roles (``data/universe.csv`` column ``role``), in display order.
ROLES = ("target", "peer", "supplier")
#: The group every firm of an event belongs to.
ALL = "all"
#: The firms an event named (``data/event_firms.csv``). An event the file describes groups its
#: firms as named / peer (other Chinese firms: roles target and peer) / supplier (role
#: supplier), each not named; an event it does not describe keeps the universe roles.
NAMED = "named"
#: Firms an act took off a list they were on (``data/event_firms.csv`` relation ``removed``):
#: reported in their own group, never in the primary family.
REMOVED = "removed"
#: With supply links (``data/supply_links.csv``), an event's ``supplier`` group holds the US
#: suppliers linked to a firm it named (listed, or unlisted as Huawei in
#: ``data/event_customers.csv``); the other US suppliers form SUPPLIER_OTHER (reported, never
#: in the primary family).
SUPPLIER_OTHER = "supplier_other"
GROUPS: dict[str, Group] = {g.name: g for g in (
    Group(NAMED, "Named firms", "named firms", "tab:purple"),
    Group("target", "Targets", "targets", "tab:red"),
    Group("peer", "Peers", "peers", "tab:grey"),
    Group("supplier", "US suppliers", "US suppliers", "tab:blue"),
    Group(REMOVED, "Removed from a list", "firms removed from a list", "tab:green"),
    Group(SUPPLIER_OTHER, "Other US suppliers", "US suppliers with no link to a named firm", "tab:cyan"),
    Group(ALL, "All firms", "firms", "black"),
)}
#: Group order in tables, files and figures.
GROUP_ORDER = tuple(GROUPS)


def group_label(name: str) -> str:
    return GROUPS[name].label if name in GROUPS else str(name)


def group_color(name: str) -> str:
    return GROUPS[name].color if name in GROUPS else "#555555"


#: Normal-return models are declared once, with their labels, in :mod:`analysis.estimation.models`.
DEFAULT_MODEL = "market"

#: Exchanges (ISO 10383 MIC) the universe may name, with their calendar (Shenzhen trades on
#: Shanghai's sessions; exchange_calendars has no XSHE).
EXCHANGE_CALENDAR = {"XSHG": "XSHG", "XSHE": "XSHG", "XNAS": "XNAS", "XNYS": "XNYS", "XHKG": "XHKG"}
US_EXCHANGES = ("XNAS", "XNYS")
#: A date-only announcement is taken as made at DATE_ONLY_HOUR:00 in NEWS_TIMEZONE (the catalog's
#: news are US acts and US press, released in US business hours; analysis.data.calendars.day_zero).
NEWS_TIMEZONE = "America/New_York"
DATE_ONLY_HOUR = 9
#: Exchange names in tables and the PDF.
EXCHANGE_LABELS = {"XSHE": "Shenzhen", "XSHG": "Shanghai", "XNAS": "Nasdaq", "XNYS": "NYSE", "XHKG": "Hong Kong"}


def exchange_label(mic: str) -> str:
    return EXCHANGE_LABELS.get(mic, str(mic))


#: Benchmark index names (the universe's ``benchmark`` column holds their ticker symbols).
BENCHMARK_NAMES = {"000300.SS": "CSI 300", "^GSPC": "S&P 500", "^IXIC": "Nasdaq Composite", "^HSI": "Hang Seng",
                   "399001.SZ": "SZSE Component", "^SOX": "PHLX Semiconductor"}


def benchmark_name(symbol: str) -> str:
    """'^GSPC' -> 'S&P 500'; an unknown symbol is its own name."""
    return BENCHMARK_NAMES.get(symbol, str(symbol))

# -- windows -------------------------------------------------------------------------------
Window = tuple[int, int]

DEFAULT_WINDOWS: tuple[Window, ...] = ((0, 0), (0, 1), (-1, 1), (0, 5), (-5, 5))
DEFAULT_ESTIMATION: Window = (-250, -11)
#: The primary family of hypotheses (issue 11): ``portfolio`` rows of this window and these
#: groups, over all events of the run; Holm's step-down adjustment (``p_holm``) runs over it.
#: Day 0 is the first session closing after the news, so 0:1 holds the reaction and its
#: continuation and leaves out day -1, which precedes the news.
PRIMARY_WINDOW = "0:1"
#: The test the summaries quote first: the equal-weighted event-time portfolio test, valid for
#: a few correlated firms sharing one date (issue 11).
PRIMARY_TEST = "portfolio"
PRIMARY_GROUPS = ("named", "supplier")
#: Until runs have a ``named`` group (the named firms of each event), the universe role
#: ``target`` stands in for it in the primary family (see
#: :func:`analysis.inference.multiple.primary_groups`).
PRIMARY_FALLBACK = {"named": "target"}
DEFAULT_MIN_OBS = 120
#: Pseudo-event dates per event at which every test is re-run for its calibrated p-value:
#: ``"all"``, every available pseudo-event date of the event (about 1,000-1,300 on the catalog).
DEFAULT_CALIBRATION_DRAWS = "all"
#: ``calibration_draws="all"``: every available pseudo-event date of an event, at most this many.
MAX_CALIBRATION_DRAWS = 5000
#: Pseudo firm-events per event (placebo and calibration): an event of n firms draws at most
#: floor(PSEUDO_FIRM_EVENTS_PER_EVENT / n) pseudo-event dates (the first of those it would draw
#: without the bound; :func:`analysis.inference.placebo.date_limit`). The catalog's events (at
#: most 30 firms, at most about 1,300 dates) stay under it; an event of 10,000 firms gets 5.
PSEUDO_FIRM_EVENTS_PER_EVENT = 50_000
#: Window bounds (estimation and event windows) must lie within +-MAX_RELATIVE_DAY sessions of day 0.
MAX_RELATIVE_DAY = 5000
#: Sessions on each side of another catalog event's day 0 left out of an estimation window.
DEFAULT_EXCLUDE_DAYS = 5


def parse_window(text: str) -> Window:
    """'-1:1' -> (-1, 1); relative sessions, inclusive. ValueError on bad text."""
    a, b = str(text).split(":")
    a, b = int(a), int(b)
    if a > b:
        raise ValueError(f"window start {a} is after its end {b}")
    return a, b


def format_window(w) -> str:
    """(-1, 1) -> '-1:1'."""
    return f"{w[0]}:{w[1]}"


def as_windows(windows) -> list[Window]:
    """Windows given as 'A:B' strings or (a, b) pairs -> list of (a, b); UserError if bad."""
    out = []
    for w in windows:
        try:
            out.append(parse_window(w) if isinstance(w, str) else (int(w[0]), int(w[1])))
        except (ValueError, TypeError, IndexError):
            raise UserError(f"bad window '{w}': expected START:END in trading days, e.g. -1:1") from None
    if not out:
        raise UserError("no event window given")
    return out
