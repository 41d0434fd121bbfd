"""The event catalogue (``data/events.csv``), the security universe (``data/universe.csv``) and
the files that describe the events further: who each named (``data/event_firms.csv``), their
alternative dates (``data/event_dates.csv``) and known other news (``data/confounders.csv``).

Every loader validates every row and raises :class:`analysis.errors.UserError` naming the
file, the 1-based data row (0 = header) and the field.
"""
from __future__ import annotations

import csv
import io
import re
import warnings
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from analysis.data.textfile import MAX_FIELD, read_text
from analysis.errors import UserError, input_error
from analysis.paths import DATA

EVENT_COLUMNS = ("event_id", "announced_at", "title", "kind", "source")
#: Optional catalog column: a title for figures and tables (at most SHORT_TITLE_MAX characters);
#: absent or empty: the title, cut to that length.
SHORT_TITLE = "short_title"
SHORT_TITLE_MAX = 40
EVENT_FIRM_COLUMNS = ("event_id", "symbol", "relation", "source")
#: ``named``: the act or report named this firm (or its parent); ``not_named``: the file says the
#: event named no such firm (an event with only such rows has no ``named`` group, but its other
#: firms are still grouped as not named); ``removed``: the act took the firm off a list it was on
#: (its own group, :data:`analysis.vocab.REMOVED`: reported, never in the primary family).
RELATIONS = ("named", "not_named", "removed")
#: Optional event_firms column: ``yes`` when the act only carried a named firm over from an
#: earlier version of the same list (not a new addition); empty or ``no`` otherwise.
CARRIED_OVER = "carried_over"
EVENT_DATE_COLUMNS = ("event_id", "date_kind", "announced_at", "source")
DATE_KINDS = ("first_report", "announcement", "publication", "effective")
CONFOUNDER_COLUMNS = ("announced_at", "symbol", "markets", "severity", "what", "source")
#: Confounder ``markets``: the markets the news reaches (``US``: Nasdaq/NYSE, ``CN``: Shanghai/
#: Shenzhen, ``all``: every exchange); each places it on its own next session after the news.
MARKETS = ("US", "CN", "all")
#: Confounder ``severity``: ``major`` news could by itself move the firm(s) as much as the event (a
#: cell holding it is not attributable to the event); ``minor`` news is listed, not disqualifying.
#: The reason is written in ``what``.
SEVERITIES = ("major", "minor")
UNIVERSE_COLUMNS = ("symbol", "name", "role", "exchange", "benchmark")
KINDS = ("report", "action")
ROLES = ("target", "peer", "supplier")
EXCHANGES = ("XSHE", "XSHG", "XNAS", "XNYS", "XHKG")

DEFAULT_EVENTS = DATA / "events.csv"
DEFAULT_UNIVERSE = DATA / "universe.csv"
DEFAULT_EVENT_FIRMS = DATA / "event_firms.csv"
DEFAULT_EVENT_DATES = DATA / "event_dates.csv"
DEFAULT_CONFOUNDERS = DATA / "confounders.csv"

_EVENT_ID = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)*$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_DATETIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(?::[0-9]{2})?(?P<offset>Z|[+-][0-9]{2}:[0-9]{2})?$")


#: The years a catalog date may fall in (a typo such as 9999 would overflow pandas' timestamps).
YEARS = (1900, 2100)


def _check_year(text: str) -> None:
    """ValueError (without the value) when the YYYY of ``text`` lies outside :data:`YEARS`."""
    if not YEARS[0] <= int(text[:4]) <= YEARS[1]:
        raise ValueError(f"the year is outside {YEARS[0]}..{YEARS[1]}")


def parse_announced_at(text: str) -> pd.Timestamp:
    """Parse ``YYYY-MM-DD`` (tz-naive midnight: date only) or ``YYYY-MM-DDTHH:MM[:SS]±HH:MM``/``Z``
    (an instant, returned in UTC). A time of day without an offset is ambiguous: ValueError."""
    s = str(text).strip()
    m = _DATETIME.match(s)
    if m and m.group("offset") is None:
        raise ValueError(f"time of day without a UTC offset is ambiguous: '{s}'")
    if not (m or _DATE.match(s)):
        raise ValueError(f"expected YYYY-MM-DD or YYYY-MM-DDTHH:MM+HH:MM, got '{s}'")
    _check_year(s)
    try:
        if m:
            return pd.Timestamp(datetime.fromisoformat(s)).tz_convert("UTC")
        return pd.Timestamp(date.fromisoformat(s))
    except ValueError as exc:
        raise ValueError(f"not a valid date or time: '{s}' ({exc})") from None


def _read_rows(path, columns, optional=(), allow_empty: bool = False) -> list[tuple[int, dict]]:
    """Rows of a CSV with exactly ``columns`` (any order) and any of ``optional``:
    [(row number, {column: stripped value})].

    Blank lines are skipped but counted, so a row number is its line number minus one
    (unless a quoted field spans lines). Every column of ``columns`` is required to be
    non-empty; an ``optional`` column may be absent (then '') or empty. A file with only a
    header is an error unless ``allow_empty`` (the side files: a header-only file turns one off).
    """
    path = Path(path)
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    records = []
    while True:
        try:
            rec = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problem = f"longer than {MAX_FIELD} characters" if "field limit" in str(exc) else "not a readable CSV row"
            raise input_error(path, len(records), None, problem) from None
        if any(len(c) > MAX_FIELD for c in rec):
            raise input_error(path, len(records), None, f"a field is longer than {MAX_FIELD} characters")
        records.append(rec)
    if not records or not any(c.strip() for c in records[0]):
        raise input_error(path, 0, None, f"no header; expected {','.join(columns)}")
    header = [c.strip() for c in records[0]]
    for i, col in enumerate(header, start=1):
        if col not in columns and col not in optional:  # the name is not echoed: the file may not be a catalog
            raise input_error(path, 0, f"column {i}", f"unknown column (expected {','.join((*columns, *optional))})")
        if header.count(col) > 1:
            raise input_error(path, 0, col, "column appears twice")
    for col in columns:
        if col not in header:
            raise input_error(path, 0, col, "missing column")
    rows = []
    for n, rec in enumerate(records[1:], start=1):
        if not any(c.strip() for c in rec):
            continue
        if len(rec) != len(header):
            raise input_error(path, n, None, f"{len(rec)} fields, header has {len(header)}")
        values = {col: val.strip() for col, val in zip(header, rec)}
        for col in optional:
            values.setdefault(col, "")
        for col in columns:
            if not values[col]:
                raise input_error(path, n, col, "empty")
        rows.append((n, values))
    if not rows and not allow_empty:
        raise input_error(path, None, None, f"no rows: the file has only a header ({','.join(columns)})")
    return rows


def _check_unique(path, rows, key) -> None:
    seen: dict[str, int] = {}
    for n, values in rows:
        if values[key] in seen:
            raise input_error(path, n, key, f"duplicate '{values[key]}' (first at row {seen[values[key]]})")
        seen[values[key]] = n


def load_events(path=DEFAULT_EVENTS) -> pd.DataFrame:
    """The event catalogue: columns EVENT_COLUMNS, ``short_title`` (optional in the file: the
    title cut to 40 characters when absent), ``announced`` (Timestamp: UTC instant, or tz-naive
    midnight for a date-only event) and ``date_only`` (bool), in file order."""
    rows = _read_rows(path, EVENT_COLUMNS, optional=(SHORT_TITLE,))
    records = []
    for n, v in rows:
        if not _EVENT_ID.match(v["event_id"]):
            raise input_error(path, n, "event_id", f"'{v['event_id']}' is not snake_case (a-z, 0-9, _)")
        try:
            announced = parse_announced_at(v["announced_at"])
        except ValueError as exc:
            raise input_error(path, n, "announced_at", str(exc)) from None
        if v["kind"] not in KINDS:
            raise input_error(path, n, "kind", f"'{v['kind']}' is not one of {', '.join(KINDS)}")
        if len(v[SHORT_TITLE]) > SHORT_TITLE_MAX:
            raise input_error(path, n, SHORT_TITLE, f"{len(v[SHORT_TITLE])} characters; at most {SHORT_TITLE_MAX}")
        if not v[SHORT_TITLE]:
            v[SHORT_TITLE] = cut_title(v["title"])
        records.append({**v, "announced": announced, "date_only": announced.tzinfo is None})
    _check_unique(path, rows, "event_id")
    frame = pd.DataFrame(records, columns=[*EVENT_COLUMNS, SHORT_TITLE, "announced", "date_only"])
    frame["announced"] = frame["announced"].astype(object)
    frame["date_only"] = frame["date_only"].astype(bool)
    return frame


def cut_title(title: str, limit: int = SHORT_TITLE_MAX) -> str:
    """``title`` if it fits in ``limit`` characters, else cut at a word and ended with '...'."""
    title = " ".join(str(title).split())
    if len(title) <= limit:
        return title
    head = title[:limit - 3].rsplit(" ", 1)[0] if " " in title[:limit - 3] else title[:limit - 3]
    return head.rstrip(" ,;:") + "..."


def _symbol_problem(symbol: str) -> str | None:
    """Why ``symbol`` is not a valid ticker (:func:`analysis.data.prices.validate_symbol`), or None."""
    from analysis.data.prices import validate_symbol

    try:
        validate_symbol(symbol)
    except (UserError, ValueError) as exc:
        return str(exc)
    return None


def load_universe(path=DEFAULT_UNIVERSE) -> pd.DataFrame:
    """The security universe: columns UNIVERSE_COLUMNS, in file order.

    ``frame.attrs``: ``path`` (the file) and ``rows`` ({symbol: its 1-based row}), so later checks
    against the price data can name the row; ``benchmark_notes`` ({symbol: note}) when a benchmark
    trades in another market than its security (each also a warning naming file, row and field).
    """
    rows = _read_rows(path, UNIVERSE_COLUMNS)
    for n, v in rows:
        for col in ("symbol", "benchmark"):
            problem = _symbol_problem(v[col])
            if problem:
                raise input_error(path, n, col, problem)
        if v["benchmark"] == v["symbol"]:
            raise input_error(path, n, "benchmark", f"'{v['benchmark']}' is the security itself; a benchmark "
                                                    "must be another series (its market index)")
        if v["role"] not in ROLES:
            raise input_error(path, n, "role", f"'{v['role']}' is not one of {', '.join(ROLES)}")
        if v["exchange"] not in EXCHANGES:
            raise input_error(path, n, "exchange", f"'{v['exchange']}' is not one of {', '.join(EXCHANGES)}")
    _check_unique(path, rows, "symbol")
    frame = pd.DataFrame([v for _, v in rows], columns=list(UNIVERSE_COLUMNS))
    notes = {}
    for n, v in rows:
        note = benchmark_market_note(v["exchange"], v["benchmark"])
        if note:
            notes[v["symbol"]] = note
            warnings.warn(f"{path}: row {n}, field 'benchmark': {note}", stacklevel=2)
    frame.attrs = {"path": str(path), "rows": {v["symbol"]: n for n, v in rows}}
    if notes:
        frame.attrs["benchmark_notes"] = notes
    return frame


#: The market of each exchange, and of a benchmark by its Yahoo suffix (no suffix: a US index or fund).
EXCHANGE_MARKETS = {"XSHE": "mainland China", "XSHG": "mainland China", "XNAS": "US", "XNYS": "US", "XHKG": "Hong Kong"}
SUFFIX_MARKETS = {".SS": "mainland China", ".SZ": "mainland China", ".HK": "Hong Kong"}
#: Yahoo index symbols (``^``) whose market is known; another ``^`` index is of unknown market.
INDEX_MARKETS = {"^HSI": "Hong Kong", "^GSPC": "US", "^IXIC": "US", "^SOX": "US", "^NDX": "US", "^DJI": "US",
                 "^RUT": "US"}


def benchmark_market(symbol: str) -> str | None:
    """The market a benchmark trades in, from its symbol (``000300.SS``: mainland China; ``^GSPC``,
    ``QQQ``: US; ``^HSI``: Hong Kong); None when the symbol does not tell (another suffix or index)."""
    if symbol.startswith("^"):
        return INDEX_MARKETS.get(symbol)
    if "." in symbol:
        return SUFFIX_MARKETS.get("." + symbol.rsplit(".", 1)[1].upper())
    return "US"


def benchmark_market_note(exchange: str, benchmark: str) -> str:
    """'' when the benchmark trades in the security's market; else a note that says so (its
    returns are then matched by date across other sessions, holidays and trading hours)."""
    home, market = EXCHANGE_MARKETS.get(exchange), benchmark_market(benchmark)
    if home is None or market is None or market == home:
        return ""
    return (f"{benchmark} trades in {market}, the security in {home} ({exchange}): the market model matches their "
            "returns by date across different sessions, holidays and trading hours")


def _select(frame: pd.DataFrame, key: str, wanted, what: str) -> pd.DataFrame:
    """Rows of ``frame`` whose ``key`` is in ``wanted``; an unknown one is named as given (quoted
    when it has spaces around it or characters that do not print: 'AMBA ' is not AMBA)."""
    if wanted is None:
        return frame.copy()
    wanted = [wanted] if isinstance(wanted, str) else list(wanted)
    unknown = [w for w in dict.fromkeys(wanted) if w not in set(frame[key])]
    if unknown:
        shown = [w if isinstance(w, str) and w == w.strip() and w.isprintable() else repr(w) for w in unknown]
        raise UserError(f"unknown {what}: {', '.join(shown)} (known: {', '.join(frame[key])})")
    return frame[frame[key].isin(wanted)].reset_index(drop=True)


def select_events(events: pd.DataFrame, ids) -> pd.DataFrame:
    """Rows of ``events`` whose event_id is in ``ids`` (catalogue order); ``None`` keeps all."""
    return _select(events, "event_id", ids, "event id")


def select_universe(universe: pd.DataFrame, symbols) -> pd.DataFrame:
    """Rows of ``universe`` whose symbol is in ``symbols`` (file order); ``None`` keeps all."""
    return _select(universe, "symbol", symbols, "symbol")


# -- files describing the events further -----------------------------------------------------------

def _check_known(path, n, field, value, known, what, strict) -> bool:
    """True if ``value`` is in ``known`` (or nothing is known); else a UserError when ``strict``,
    False (drop the row) otherwise."""
    if known is None or value in known:
        return True
    if strict:
        raise input_error(path, n, field, f"unknown {what} '{value}' (not in the {what}s in use)")
    return False


def _check_unique_pair(path, rows, keys) -> None:
    seen: dict[tuple, int] = {}
    for n, v in rows:
        k = tuple(v[c] for c in keys)
        if k in seen:
            raise input_error(path, n, keys[-1], f"duplicate {'/'.join(k)} (first at row {seen[k]})")
        seen[k] = n


def load_event_firms(path=DEFAULT_EVENT_FIRMS, events=None, symbols=None, strict: bool = True) -> pd.DataFrame:
    """Who each event named: columns EVENT_FIRM_COLUMNS and ``carried_over`` (bool), in file order.

    ``events`` / ``symbols``: the event ids and universe symbols in use; a row naming another
    is an error when ``strict``, else left out (the shipped file used with another catalog).
    """
    rows = _read_rows(path, EVENT_FIRM_COLUMNS, optional=(CARRIED_OVER,), allow_empty=True)
    keep = []
    for n, v in rows:
        flag = v.get(CARRIED_OVER, "").lower()
        if flag not in ("", "yes", "no"):
            raise input_error(path, n, CARRIED_OVER, f"'{v[CARRIED_OVER]}' is not yes, no or empty")
        if flag == "yes" and v["relation"] != "named":
            raise input_error(path, n, CARRIED_OVER, "only a named firm can be carried over")
        v = {**v, CARRIED_OVER: flag == "yes"}
        if not _EVENT_ID.match(v["event_id"]):
            raise input_error(path, n, "event_id", f"'{v['event_id']}' is not snake_case (a-z, 0-9, _)")
        problem = _symbol_problem(v["symbol"])
        if problem:
            raise input_error(path, n, "symbol", problem)
        if v["relation"] not in RELATIONS:
            raise input_error(path, n, "relation", f"'{v['relation']}' is not one of {', '.join(RELATIONS)}")
        ok = _check_known(path, n, "event_id", v["event_id"], None if events is None else set(events), "event",
                          strict)
        if ok and _check_known(path, n, "symbol", v["symbol"], None if symbols is None else set(symbols), "symbol",
                               strict):
            keep.append(v)
    _check_unique_pair(path, rows, ("event_id", "symbol"))
    return pd.DataFrame(keep, columns=[*EVENT_FIRM_COLUMNS, CARRIED_OVER])


def load_event_dates(path=DEFAULT_EVENT_DATES, events: pd.DataFrame | None = None, strict: bool = True) -> pd.DataFrame:
    """Alternative dates of the events: columns EVENT_DATE_COLUMNS plus ``announced`` (as in the
    catalog), in file order. With the catalog ``events``: an unknown event is an error when
    ``strict`` (else the row is left out), and an ``announcement`` row must equal the catalog's
    ``announced_at`` (the catalog's own date is the announcement)."""
    rows = _read_rows(path, EVENT_DATE_COLUMNS, allow_empty=True)
    catalog = None if events is None else dict(zip(events["event_id"], events["announced"]))
    records = []
    for n, v in rows:
        if not _EVENT_ID.match(v["event_id"]):
            raise input_error(path, n, "event_id", f"'{v['event_id']}' is not snake_case (a-z, 0-9, _)")
        if v["date_kind"] not in DATE_KINDS:
            raise input_error(path, n, "date_kind", f"'{v['date_kind']}' is not one of {', '.join(DATE_KINDS)}")
        try:
            announced = parse_announced_at(v["announced_at"])
        except ValueError as exc:
            raise input_error(path, n, "announced_at", str(exc)) from None
        if not _check_known(path, n, "event_id", v["event_id"], catalog, "event", strict):
            continue
        if catalog is not None and v["date_kind"] == "announcement" and announced != catalog[v["event_id"]]:
            raise input_error(path, n, "announced_at", f"the announcement is the catalog's announced_at of "
                                                       f"{v['event_id']}; '{v['announced_at']}' differs")
        records.append({**v, "announced": announced})
    _check_unique_pair(path, rows, ("event_id", "date_kind"))
    frame = pd.DataFrame(records, columns=[*EVENT_DATE_COLUMNS, "announced"])
    frame["announced"] = frame["announced"].astype(object)
    return frame


def load_confounders(path=DEFAULT_CONFOUNDERS, symbols=None, strict: bool = True) -> pd.DataFrame:
    """Known firm or market news: columns CONFOUNDER_COLUMNS (``symbol`` '' = the whole market),
    ``announced`` (as the catalog's: a UTC instant, or tz-naive midnight for a date-only item) and
    ``day`` (datetime64: the calendar date as written), in file order.

    ``announced_at``: ``YYYY-MM-DD`` or a date-time with its UTC offset; ``markets``: one of
    :data:`MARKETS`; ``severity``: one of :data:`SEVERITIES`. Where each item lands on each
    exchange (the events' day-0 rule) is :func:`analysis.data.news_days.place_confounders`.
    """
    rows = _read_rows(path, ("announced_at", "markets", "severity", "what", "source"), optional=("symbol",),
                      allow_empty=True)
    keep = []
    for n, v in rows:
        try:
            announced = parse_announced_at(v["announced_at"])
        except ValueError as exc:
            raise input_error(path, n, "announced_at", str(exc)) from None
        if v["markets"] not in MARKETS:
            raise input_error(path, n, "markets", f"'{v['markets']}' is not one of {', '.join(MARKETS)}")
        if v["severity"] not in SEVERITIES:
            raise input_error(path, n, "severity", f"'{v['severity']}' is not one of {', '.join(SEVERITIES)}")
        if v["symbol"]:
            problem = _symbol_problem(v["symbol"])
            if problem:
                raise input_error(path, n, "symbol", problem)
            if not _check_known(path, n, "symbol", v["symbol"], None if symbols is None else set(symbols),
                                "symbol", strict):
                continue
        keep.append({**{c: v[c] for c in CONFOUNDER_COLUMNS}, "announced": announced,
                     "day": pd.Timestamp(v["announced_at"][:10])})
    frame = pd.DataFrame(keep, columns=[*CONFOUNDER_COLUMNS, "announced", "day"])
    frame["announced"] = frame["announced"].astype(object)
    frame["day"] = pd.to_datetime(frame["day"])
    return frame
