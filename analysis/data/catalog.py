"""The event catalogue (``data/events.csv``) and the security universe (``data/universe.csv``).

Both loaders validate every row and raise :class:`analysis.errors.UserError` naming the
file, the 1-based data row (0 = header) and the field.
"""
from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from analysis.data.textfile import MAX_FIELD, read_text
from analysis.errors import UserError, input_error
from analysis.paths import DATA

EVENT_COLUMNS = ("event_id", "announced_at", "title", "kind", "source")
UNIVERSE_COLUMNS = ("symbol", "name", "role", "exchange", "benchmark")
KINDS = ("report", "action")
ROLES = ("target", "peer", "supplier")
EXCHANGES = ("XSHE", "XSHG", "XNAS", "XNYS", "XHKG")

DEFAULT_EVENTS = DATA / "events.csv"
DEFAULT_UNIVERSE = DATA / "universe.csv"

_EVENT_ID = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)*$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_DATETIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(?::[0-9]{2})?(?P<offset>Z|[+-][0-9]{2}:[0-9]{2})?$")


def parse_announced_at(text: str) -> pd.Timestamp:
    """Parse ``YYYY-MM-DD`` (tz-naive midnight: date only) or ``YYYY-MM-DDTHH:MM[:SS]±HH:MM``/``Z``
    (an instant, returned in UTC). A time of day without an offset is ambiguous: ValueError."""
    s = str(text).strip()
    m = _DATETIME.match(s)
    if m and m.group("offset") is None:
        raise ValueError(f"time of day without a UTC offset is ambiguous: '{s}'")
    if not (m or _DATE.match(s)):
        raise ValueError(f"expected YYYY-MM-DD or YYYY-MM-DDTHH:MM+HH:MM, got '{s}'")
    try:
        if m:
            return pd.Timestamp(datetime.fromisoformat(s)).tz_convert("UTC")
        return pd.Timestamp(date.fromisoformat(s))
    except ValueError as exc:
        raise ValueError(f"not a valid date or time: '{s}' ({exc})") from None


def _read_rows(path, columns) -> list[tuple[int, dict]]:
    """Rows of a CSV with exactly ``columns`` (any order): [(row number, {column: stripped value})].

    Blank lines are skipped but counted, so a row number is its line number minus one
    (unless a quoted field spans lines). Every column is required to be non-empty.
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
    for col in header:
        if col not in columns:
            raise input_error(path, 0, col, f"unknown column (expected {','.join(columns)})")
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
        for col in columns:
            if not values[col]:
                raise input_error(path, n, col, "empty")
        rows.append((n, values))
    if not rows:
        raise input_error(path, None, None, f"no rows: the file has only a header ({','.join(columns)})")
    return rows


def _check_unique(path, rows, key) -> None:
    seen: dict[str, int] = {}
    for n, values in rows:
        if values[key] in seen:
            raise input_error(path, n, key, f"duplicate '{values[key]}' (first at row {seen[values[key]]})")
        seen[values[key]] = n


def load_events(path=DEFAULT_EVENTS) -> pd.DataFrame:
    """The event catalogue: columns EVENT_COLUMNS plus ``announced`` (Timestamp: UTC instant,
    or tz-naive midnight for a date-only event) and ``date_only`` (bool), in file order."""
    rows = _read_rows(path, EVENT_COLUMNS)
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
        records.append({**v, "announced": announced, "date_only": announced.tzinfo is None})
    _check_unique(path, rows, "event_id")
    frame = pd.DataFrame(records, columns=[*EVENT_COLUMNS, "announced", "date_only"])
    frame["announced"] = frame["announced"].astype(object)
    frame["date_only"] = frame["date_only"].astype(bool)
    return frame


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
    against the price data can name the row.
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
    frame.attrs = {"path": str(path), "rows": {v["symbol"]: n for n, v in rows}}
    return frame


def _select(frame: pd.DataFrame, key: str, wanted, what: str) -> pd.DataFrame:
    if wanted is None:
        return frame.copy()
    wanted = [wanted] if isinstance(wanted, str) else list(wanted)
    unknown = [w for w in dict.fromkeys(wanted) if w not in set(frame[key])]
    if unknown:
        raise UserError(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(frame[key])})")
    return frame[frame[key].isin(wanted)].reset_index(drop=True)


def select_events(events: pd.DataFrame, ids) -> pd.DataFrame:
    """Rows of ``events`` whose event_id is in ``ids`` (catalogue order); ``None`` keeps all."""
    return _select(events, "event_id", ids, "event id")


def select_universe(universe: pd.DataFrame, symbols) -> pd.DataFrame:
    """Rows of ``universe`` whose symbol is in ``symbols`` (file order); ``None`` keeps all."""
    return _select(universe, "symbol", symbols, "symbol")
