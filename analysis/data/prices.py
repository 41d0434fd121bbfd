"""Daily share prices from recorded CSV files or from Yahoo Finance (with a local parquet cache).

Every source returns the same frame shape (a "price frame"):

* index: tz-naive ``DatetimeIndex`` named ``date`` (midnight, ``datetime64[us]``), ascending, unique;
* columns: exactly :data:`PRICE_COLUMNS`, all float64; prices in the listing currency per share,
  ``volume`` in shares; ``NaN`` where unknown. Rows without ``adj_close`` are dropped.

Every input (a CSV file, a Yahoo answer, the parquet cache) passes the same checks: dates within
:data:`DATE_MIN`..:data:`DATE_MAX`, prices positive and finite, volume finite and not negative
(:func:`validate_frame`); :func:`load_prices` also refuses a daily return outside -80%..+400%
(:func:`check_returns`). Messages name the file (or source), row or date and field, never a
file's contents beyond the expected column names.

``start`` / ``end`` arguments are calendar dates (anything ``pandas.Timestamp`` parses), both inclusive.
A fetch returns a non-empty frame or raises :class:`~analysis.errors.UserError`.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import math
import os
import re
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.atomic import atomic_write
from analysis.data.download import DownloadFailed
from analysis.digest import sha256_file
from analysis.data.textfile import MAX_FIELD, read_text
from analysis.errors import UserError, input_error
from analysis.paths import cache_dir as project_cache_dir

__all__ = [
    "PRICE_COLUMNS",
    "validate_symbol",
    "CsvSource",
    "YahooSource",
    "get_source",
    "load_prices",
    "validate_frame",
    "check_returns",
    "DATE_MIN",
    "DATE_MAX",
    "MAX_LOG_RETURN",
]

PRICE_COLUMNS = ["open", "high", "low", "close", "adj_close", "volume"]
_REQUIRED_CSV = ["date", "adj_close"]
_CSV_HEADER = ["date", *PRICE_COLUMNS]
_PRICE_ONLY = ["open", "high", "low", "close", "adj_close"]  # must be > 0 when known
_INDEX_DTYPE = "datetime64[us]"
_MISSING_TOKENS = {"", "nan", "na", "n/a", "null", "none"}

_SYMBOL_RE = re.compile(r"^\^?[A-Za-z0-9][A-Za-z0-9.\-=]{0,19}$")
#: Plausible price dates (inclusive): anything outside is a data error.
DATE_MIN = pd.Timestamp("1900-01-01")
DATE_MAX = pd.Timestamp("2100-12-31")
#: Largest plausible absolute daily log return of adjusted close: log 5, i.e. a simple return
#: outside (-80%, +400%) is refused as a data error unless explicitly allowed.
MAX_LOG_RETURN = math.log(5.0)
#: Names Windows reserves for devices (also with an extension: ``NUL.csv`` opens the device).
_WINDOWS_DEVICES = frozenset({"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
                              *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))})
_CSV_DATE_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?$"
)


# --------------------------------------------------------------------------- helpers


def validate_symbol(symbol: str) -> str:
    """Return ``symbol`` if it is a plausible Yahoo Finance symbol, else raise ``UserError`` naming it.

    Allowed: letters, digits, ``.``, ``-``, ``=`` and one leading ``^`` (``AMBA``, ``002415.SZ``, ``^GSPC``,
    ``BRK-B``, ``EURUSD=X``), at most 21 characters. Never touches the file system, so it is safe to
    call before building a path from the symbol (rejects ``..``, ``/``, ``\\``, NUL, whitespace, leading dot,
    and Windows device names such as ``CON``, ``NUL``, ``COM1`` even with a suffix: ``NUL.SZ``).
    """
    if not isinstance(symbol, str) or not _SYMBOL_RE.fullmatch(symbol) or ".." in symbol:
        shown = repr(symbol[:30] + "...") if isinstance(symbol, str) and len(symbol) > 30 else repr(symbol)
        raise UserError(
            f"invalid symbol {shown}: expected a Yahoo Finance symbol such as AMBA, 002415.SZ or ^GSPC "
            "(letters, digits, '.', '-', '=', an optional leading '^', at most 20 characters after it)"
        )
    if symbol.split(".")[0].upper() in _WINDOWS_DEVICES:
        raise UserError(f"invalid symbol {symbol!r}: a Windows device name (CON, PRN, AUX, NUL, COM0-9, LPT0-9) "
                        "cannot name a price file")
    return symbol


def _empty_frame() -> pd.DataFrame:
    idx = pd.DatetimeIndex([], dtype=_INDEX_DTYPE, name="date")
    return pd.DataFrame({c: pd.Series([], dtype="float64", index=idx) for c in PRICE_COLUMNS}, index=idx)


def _finish(frame: pd.DataFrame) -> pd.DataFrame:
    """Coerce to the price-frame shape: float64 PRICE_COLUMNS, sorted unique tz-naive ``date`` index."""
    idx = pd.DatetimeIndex(frame.index)
    if idx.tz is not None:
        idx = idx.tz_localize(None)
    idx = idx.normalize().astype(_INDEX_DTYPE)
    out = pd.DataFrame(
        {c: (frame[c].to_numpy(dtype="float64") if c in frame.columns else np.nan) for c in PRICE_COLUMNS},
        index=idx,
    )
    out.index.name = "date"
    out = out[out["adj_close"].notna()]
    out = out[~out.index.duplicated(keep="last")].sort_index()
    out.columns.name = None
    return out


def _to_day(value, what: str) -> pd.Timestamp | None:
    """Parse a start/end date; ``None`` stays ``None``. Returns a tz-naive midnight Timestamp."""
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        ts = pd.NaT
    if pd.isna(ts):
        raise UserError(f"invalid {what} date {value!r}: expected YYYY-MM-DD")
    if ts.tz is not None:
        ts = ts.tz_localize(None)
    return ts.normalize()


def _slice(frame: pd.DataFrame, start: pd.Timestamp | None, end: pd.Timestamp | None) -> pd.DataFrame:
    return frame.loc[start:end].copy()



def _span(start: pd.Timestamp | None, end: pd.Timestamp | None) -> str:
    a = start.date().isoformat() if start is not None else "the first date"
    b = end.date().isoformat() if end is not None else "the last date"
    return f"{a}..{b}"


# --------------------------------------------------------------------------- CSV source


def _norm_header(name) -> str:
    return str(name).strip().lower().replace(" ", "_")


def read_price_csv(path: Path) -> pd.DataFrame:
    """Read one ``date,open,high,low,close,adj_close,volume`` CSV into a price frame.

    ``date`` and ``adj_close`` are required; other price columns are optional (``NaN`` when absent);
    empty cells mean unknown. Headers are matched case-insensitively (``Adj Close`` works too).
    Raises ``UserError`` naming file, 1-based data row and field for bad bytes (not UTF-8), bad or
    implausible dates (outside 1900-2100), non-numeric or non-positive prices, negative volume, overlong
    fields and duplicate dates. Messages never quote the file's contents (a cell may hold anything).

    A plain file (:func:`_read_plain`, about 3 ms for 2,000 rows) skips the general parser (about
    35 ms); anything else, and every error, goes through :func:`_read_checked`. The frames of the
    last :data:`PARSED_KEPT` files read are kept by their text's digest (the same bytes give the
    same frame: each call gets a copy; a changed file is parsed again): each study reads the
    folder again.
    """
    return _parsed(path).copy(deep=True)


def _parsed(path: Path) -> pd.DataFrame:
    """The frame of :func:`read_price_csv`, shared with the memo (callers copy it)."""
    text = read_text(path, "price file")
    key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=32).digest()
    with _PARSED_LOCK:
        frame = _PARSED.get(key)
        if frame is not None:
            _PARSED.move_to_end(key)
    if frame is None:
        frame = _read_plain(text)
        if frame is None:
            frame = _read_checked(path, text)  # raises for a bad file: nothing kept
        with _PARSED_LOCK:
            _PARSED[key] = frame
            while len(_PARSED) > PARSED_KEPT:
                _PARSED.popitem(last=False)
    return frame


#: Price files whose parsed frames :func:`read_price_csv` keeps (about 110 KB of frame each for
#: 2,000 sessions), by a digest of their text (BLAKE2b, 256 bits), least recently read first out.
PARSED_KEPT = 128
_PARSED: "OrderedDict[bytes, pd.DataFrame]" = OrderedDict()
_PARSED_LOCK = threading.Lock()


# A plain price file: a header of distinct price-file column names (as _norm_header makes them), then rows
# of exactly as many fields, no blank line, no quote or space: the date as YYYY-MM-DD, every other
# field empty or a decimal of at most _PLAIN_WIDTH characters (digits and at most one '.'). Such a
# number is m / 10**f with m < 10**15 and f <= 14, both exact doubles, so m / 10**f is the correctly
# rounded value that any correct parser (pandas' included) gives; a sign, an exponent, "nan" or a
# longer number leaves the file to the checked reader, so the accepted set and the values never change.
_PLAIN_WIDTH = 15
_POW10 = 10.0 ** np.arange(_PLAIN_WIDTH)  # exact doubles 1 .. 1e14
_COMMA, _NEWLINE, _DOT, _DASH, _ZERO = (ord(c) for c in ",\n.-0")


def _read_plain(text: str) -> pd.DataFrame | None:
    """The price frame of a plain file's ``text`` (see above; ``\\r\\n`` line ends too), or None when the
    file is not plain or needs a message (a date twice, out of order or outside 1900-2100, a price <= 0):
    then :func:`_read_checked` reads it. Returns exactly the frame :func:`_read_checked` would."""
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        if "\r" in text:
            return None
    head, _, body = text.partition("\n")
    names = _plain_header(head)
    if names is None or not body:
        return None
    data = np.frombuffer((body if body.endswith("\n") else body + "\n").encode(), dtype=np.uint8)
    fields = _plain_fields(data, len(names))
    if fields is None:
        return None
    start, width = fields
    d = names.index("date")
    days = _plain_days(data, start[:, d], width[:, d])
    if days is None:
        return None
    numeric = [j for j in range(len(names)) if j != d]
    values = _plain_numbers(data, start[:, numeric].ravel(), width[:, numeric].ravel())
    if values is None:
        return None
    values = values.reshape(len(days), len(numeric))
    columns = {names[j]: values[:, i] for i, j in enumerate(numeric)}
    if not _plain_plausible(days, columns):
        return None
    return _plain_frame(days, columns)


def _plain_header(line: str) -> list[str] | None:
    """Normalised column names of a plain header line, or None (an empty, unknown or repeated name,
    a quoted one, ``date`` or ``adj_close`` missing)."""
    names = [_norm_header(c) for c in line.split(",")]
    known = set(names)
    if len(known) != len(names) or not set(_REQUIRED_CSV) <= known <= set(_CSV_HEADER):
        return None
    return names


def _plain_fields(data: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(start, width) in bytes of every field of ``data`` (rows ending in a newline), both (rows, k),
    when every row has exactly ``k`` comma-separated fields (no blank line), else None."""
    ends = np.flatnonzero((data == _COMMA) | (data == _NEWLINE))
    rows = len(ends) // k
    if rows == 0 or len(ends) != rows * k:
        return None
    kind = data[ends].reshape(rows, k)
    if (kind[:, :-1] != _COMMA).any() or (kind[:, -1] != _NEWLINE).any():
        return None
    start = np.empty_like(ends)
    start[0], start[1:] = 0, ends[:-1] + 1
    return start.reshape(rows, k), (ends - start).reshape(rows, k)


def _plain_days(data: np.ndarray, start: np.ndarray, width: np.ndarray) -> np.ndarray | None:
    """``datetime64[D]`` of date fields written YYYY-MM-DD, or None (another form, a day that does not exist)."""
    if (width != 10).any():
        return None
    chars = data[start[:, None] + np.arange(10)]
    digits = np.delete(chars, [4, 7], axis=1) - np.uint8(_ZERO)  # wraps around below '0'
    if (digits > 9).any() or (chars[:, [4, 7]] != _DASH).any():
        return None
    try:
        return chars.view("S10").ravel().astype("datetime64[D]")
    except ValueError:  # month 13, February 30, ...
        return None


def _plain_numbers(data: np.ndarray, start: np.ndarray, width: np.ndarray) -> np.ndarray | None:
    """float64 values of the number fields at ``start`` (ascending) of ``width`` bytes (NaN when
    empty), or None when one is not a plain decimal. Call after :func:`_plain_days`: every '.' of
    ``data`` must lie in a number field.

    A field's digits, '.' skipped, make the integer m = sum of digit * 10**k (exact: every partial
    sum an integer below 2**53); its value is m / 10**f, f its digits after the '.': one division,
    correctly rounded."""
    if width.max() > _PLAIN_WIDTH:
        return None
    last = start + width - 1  # each field's last byte (its separator's position before it when empty)
    dots = np.flatnonzero(data == _DOT)
    field = np.searchsorted(last, dots)  # the number field of each '.'
    if (np.diff(field) == 0).any() or (width[field] == 1).any():  # two points in a field, a lone "."
        return None
    frac = np.full(len(width), _PLAIN_WIDTH)  # digits after the '.'; _PLAIN_WIDTH: no '.'
    frac[field] = last[field] - dots
    count = width - (frac < _PLAIN_WIDTH)  # digits
    mantissa, bad = np.zeros(len(width)), np.zeros(len(width), dtype=bool)
    for k in range(int(count.max())):  # every field's k-th digit from the right, worth 10**k
        has = k < count
        digit = data[np.where(has, last - k - (k >= frac), 0)] - np.uint8(_ZERO)  # wraps around below '0'
        bad |= has & (digit > 9)
        mantissa += np.where(has, digit, 0) * _POW10[k]
    if bad.any():
        return None
    values = mantissa / _POW10[np.where(frac < _PLAIN_WIDTH, frac, 0)]
    values[width == 0] = np.nan
    return values


def _plain_plausible(days: np.ndarray, columns: dict[str, np.ndarray]) -> bool:
    """Dates strictly ascending within DATE_MIN..DATE_MAX and known prices > 0 (a plain number is
    finite and never negative, so volume needs no check)."""
    if days[0] < DATE_MIN.to_datetime64() or days[-1] > DATE_MAX.to_datetime64() or (days[1:] <= days[:-1]).any():
        return False
    with np.errstate(invalid="ignore"):
        return all(not (columns[c] <= 0).any() for c in _PRICE_ONLY if c in columns)


def _plain_frame(days: np.ndarray, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """The price frame :func:`_finish` makes of ascending unique ``days`` and ``columns``, without its
    sorting and de-duplicating: the index as it builds it (``normalize`` infers a freq, such as 'D' for
    consecutive days; dropping rows keeps it only when they are the first or last), rows without
    adj_close dropped."""
    index = pd.DatetimeIndex(days).normalize().astype(_INDEX_DTYPE)
    frame = pd.DataFrame({c: columns.get(c, np.nan) for c in PRICE_COLUMNS}, index=index)
    frame.index.name = "date"
    keep = ~np.isnan(columns["adj_close"])
    return frame if keep.all() else frame[keep]


def _read_checked(path: Path, text: str) -> pd.DataFrame:
    """:func:`read_price_csv` for any ``text``: the general parser, each check naming row and field."""
    try:
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=False)
    except pd.errors.EmptyDataError:
        raise input_error(path, None, None, f"file is empty (expected a header line {','.join(_CSV_HEADER)})")
    except (pd.errors.ParserError, ValueError) as exc:
        m = re.search(r"line (\d+)", str(exc))
        row = int(m.group(1)) - 1 if m else None
        raise input_error(path, row, None, "not a readable CSV row (wrong number of fields or a broken quote)")
    if not isinstance(raw.index, pd.RangeIndex):  # a first row one field longer: pandas made column 1 the index
        raise input_error(path, 1, None, "not a readable CSV row (wrong number of fields or a broken quote)")
    raw.columns = [_norm_header(c) for c in raw.columns]
    for col in _REQUIRED_CSV:
        if col not in raw.columns:
            raise input_error(path, None, col, f"missing required column (expected a header {','.join(_CSV_HEADER)})")
    raw = raw.apply(lambda col: col.fillna("").str.strip())  # per column, not per cell; a short row's NaN -> ""
    raw = raw[(raw != "").any(axis=1)]  # blank lines; the index keeps the original row numbers
    row_no = raw.index.to_numpy() + 1  # 1-based data row (header = row 0)
    for col in [c for c in raw.columns if c in _CSV_HEADER]:
        long = (raw[col].str.len() > MAX_FIELD).to_numpy()
        if long.any():
            raise input_error(path, int(row_no[int(np.argmax(long))]), col, f"longer than {MAX_FIELD} characters")

    dates = raw["date"]
    ok = dates.str.fullmatch(_CSV_DATE_RE)
    parsed = pd.to_datetime(dates.str[:10].where(ok), format="%Y-%m-%d", errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise input_error(path, int(row_no[i]), "date", "not a date (expected YYYY-MM-DD)")
    out_of_range = ((parsed < DATE_MIN) | (parsed > DATE_MAX)).to_numpy()
    if out_of_range.any():
        i = int(np.argmax(out_of_range))
        raise input_error(path, int(row_no[i]), "date", f"{parsed.iloc[i].date()} is outside the plausible "
                                                         f"{DATE_MIN.date()}..{DATE_MAX.date()}")
    dup = parsed.duplicated().to_numpy()
    if dup.any():
        i = int(np.argmax(dup))
        first = int(row_no[int(np.argmax((parsed == parsed.iloc[i]).to_numpy()))])
        raise input_error(
            path, int(row_no[i]), "date", f"duplicate date {parsed.iloc[i].date()} (first seen at row {first})"
        )

    columns = {}
    for col in PRICE_COLUMNS:
        if col not in raw.columns:
            continue
        text = raw[col]
        missing = text.str.lower().isin(_MISSING_TOKENS).to_numpy()
        values = pd.to_numeric(text.where(~missing), errors="coerce").to_numpy(dtype="float64")
        problem = None
        if (bad := ~missing & np.isnan(values)).any():
            problem = "not a number"
        else:
            problem, bad = _value_problem(col, values)
        if problem:
            i = int(np.argmax(bad))
            raise input_error(path, int(row_no[i]), col, problem)
        columns[col] = values
    frame = pd.DataFrame(columns, index=pd.DatetimeIndex(parsed.to_numpy()))
    return _finish(frame)


def _value_problem(col: str, values: np.ndarray) -> tuple[str | None, np.ndarray | None]:
    """Why some known ``values`` of column ``col`` are implausible (and which), or (None, None)."""
    with np.errstate(invalid="ignore"):
        if (bad := np.isinf(values)).any():
            return "not a finite number", bad
        if col in _PRICE_ONLY and (bad := values <= 0).any():
            return "price must be positive", bad
        if col == "volume" and (bad := values < 0).any():
            return "volume must not be negative", bad
    return None, None


def validate_frame(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """Check a price frame from any source (Yahoo answer, cache, CSV) like :func:`read_price_csv`
    checks a file: dates within 1900-2100, prices positive and finite, volume finite and not negative.

    Returns ``frame``; raises ``UserError`` naming ``where``, the date and the field.
    """
    if len(frame):
        idx = frame.index
        bad = (idx < DATE_MIN) | (idx > DATE_MAX)
        if bad.any():
            day = idx[int(np.argmax(bad))]
            raise UserError(f"{where}: date {day.date()}: outside the plausible {DATE_MIN.date()}..{DATE_MAX.date()}")
    for col in PRICE_COLUMNS:
        if col not in frame.columns:
            continue
        problem, bad = _value_problem(col, frame[col].to_numpy(dtype="float64"))
        if problem:
            day = frame.index[int(np.argmax(bad))]
            raise UserError(f"{where}: date {day.date()}, field '{col}': {problem}")
    return frame


def check_returns(frame: pd.DataFrame, where: str, allow: bool = False) -> pd.DataFrame:
    """Refuse a daily return of adjusted close outside (-80%, +400%) (|log return| > log 5).

    Such a move is almost always a data error (a misplaced decimal point, a missing split
    adjustment) and would dominate every statistic it touches. Returns ``frame``; raises
    ``UserError`` naming ``where`` and the first such date unless ``allow``.
    """
    if allow or len(frame) < 2:
        return frame
    px = frame["adj_close"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        lr = np.abs(np.diff(np.log(px)))
    bad = lr > MAX_LOG_RETURN
    if bad.any():
        i = int(np.argmax(bad)) + 1
        ret = px[i] / px[i - 1] - 1.0
        raise UserError(f"{where}: date {frame.index[i].date()}, field 'adj_close': daily return {ret:+.0%} since "
                        f"{frame.index[i - 1].date()} is outside -80%..+400%, a data error? "
                        "(pass --allow-extreme-returns to keep it)")
    return frame


class CsvSource:
    """Recorded prices: one ``<folder>/<SYMBOL>.csv`` per Yahoo symbol (see :func:`read_price_csv`).

    A file that is a symbolic link resolving outside the folder is refused (a symlink inside it is
    followed).
    """

    def __init__(self, folder):
        self.folder = Path(folder)
        self.name = f"csv:{folder}"
        if not self.folder.is_dir():
            raise UserError(f"prices folder {self.folder} does not exist or is not a directory")

    def path_for(self, symbol: str) -> Path:
        """Path of the CSV for ``symbol`` (validated first)."""
        return self.folder / f"{validate_symbol(symbol)}.csv"

    def _checked_path(self, symbol: str) -> Path:
        """The existing file of ``symbol``, refusing one that resolves outside the prices folder."""
        path = self.path_for(symbol)
        if not path.is_file():
            raise UserError(f"no file {path} for symbol {symbol}")
        real, root = path.resolve(), self.folder.resolve()
        if not real.is_relative_to(root):
            raise UserError(f"{path}: a link to a file outside the prices folder {self.folder}; refused "
                            "(copy the file into the folder instead)")
        return path

    def fetch(self, symbol: str, start=None, end=None) -> pd.DataFrame:
        """Price frame of ``symbol`` for ``start..end`` (inclusive dates; ``None`` = open-ended)."""
        symbol = validate_symbol(symbol)
        start, end = _to_day(start, "start"), _to_day(end, "end")
        path = self._checked_path(symbol)
        frame = _slice(_parsed(path), start, end)  # a copy
        if frame.empty:
            raise UserError(f"{path}: no prices with adj_close for {symbol} in {_span(start, end)}")
        return frame

    def describe(self, symbol: str) -> dict:
        """Provenance: ``{"source": "csv", "path": str, "sha256": hex digest of the file bytes}``."""
        path = self._checked_path(symbol)
        return {"source": "csv", "path": str(path), "sha256": sha256_file(path)}

    def __repr__(self) -> str:
        return f"CsvSource({str(self.folder)!r})"


# --------------------------------------------------------------------------- Yahoo source

_EARLIEST = pd.Timestamp("1970-01-02")  # start=None: ask Yahoo for everything it has
_TRANSIENT_RE = re.compile(
    r"DNSError|ConnectionError|Connection (?:refused|reset|aborted)|Timeout|timed out|"
    r"Could not resolve|curl: \(\d+\)|SSLError|ProxyError|Max retries|Rate ?limit|Too Many Requests|"
    r"Temporary failure|Network is unreachable",
    re.IGNORECASE,
)
_REL_TOL = 1e-6  # relative change of an overlapping price that counts as a new adjustment base



def _download_error(symbol: str, reason: str) -> UserError:
    return UserError(
        f"could not download {symbol} from Yahoo Finance ({reason}); "
        "check the network or use recorded prices with PRICES=DIR (--prices DIR)"
    )


def _shorten(text: str, limit: int = 120) -> str:
    text = " ".join(str(text).split())
    text = re.sub(r"^(?:\[[^\]]*\]|\$\S+):\s*", "", text)  # yfinance prefixes "['AMBA']: ", "$AMBA: "
    m = re.fullmatch(r"(\w+)\((.*)\)", text)  # "DNSError('...')" -> name + message
    if m:
        name, inner = m.group(1), m.group(2).strip("'\"")
        text = f"{name}: {inner}" if inner else name
    curl = re.search(r"curl: \(\d+\) (.*)", text)
    if curl:
        head = text.split(":", 1)[0] if re.match(r"\w+:", text) else ""
        detail = re.split(r"\. See |['\"]?\)?$", curl.group(1))[0]
        text = f"{head}: {detail}" if head else detail
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _exc_reason(exc: BaseException) -> str:
    msg = str(exc).strip()
    return _shorten(f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__)


class _LogCapture(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        with contextlib.suppress(Exception):
            self.messages.append(record.getMessage())


def _from_yahoo(raw, symbol: str) -> pd.DataFrame:
    """Normalise ``yfinance.download`` output (MultiIndex ``(Price, Ticker)`` or flat) to a price frame."""
    if raw is None:
        return _empty_frame()
    if not isinstance(raw, pd.DataFrame):
        raise DownloadFailed(f"unexpected answer of type {type(raw).__name__}", network=False)
    if isinstance(raw.columns, pd.MultiIndex):
        names = list(raw.columns.names)
        level = names.index("Ticker") if "Ticker" in names else raw.columns.nlevels - 1
        tickers = list(dict.fromkeys(raw.columns.get_level_values(level)))
        pick = next((t for t in (symbol, symbol.upper()) if t in tickers), None)
        if pick is None and len(tickers) == 1:
            pick = tickers[0]
        if pick is None:
            if raw.empty:
                return _empty_frame()
            raise DownloadFailed(f"answer has no column for {symbol} (tickers: {tickers})", network=False)
        raw = raw.xs(pick, axis=1, level=level)
    raw = raw.rename(columns=_norm_header)
    if raw.empty:
        return _empty_frame()
    if "adj_close" not in raw.columns:
        raise DownloadFailed("answer has no 'Adj Close' column", network=False)
    return validate_frame(_finish(raw), f"Yahoo Finance answer for {symbol}")


class YahooSource:
    """Yahoo Finance via ``yfinance.download``, cached as ``<cache_dir>/<SYMBOL>.parquet``
    (``cache_dir=None``: the project's cache, :func:`analysis.paths.cache_dir`).

    * ``end=None`` means yesterday: today's bar may be incomplete, so it is never requested or cached.
    * A fetch inside the cached date range makes no request; otherwise only the missing ends are requested,
      each including one cached boundary day. That overlap day detects a new adjustment base (a dividend or
      split since the cache was written): the cached history is then rescaled so returns stay right.
    * ``refresh=True`` re-downloads the requested range and replaces the cache.
    * Transient failures (``OSError`` such as curl_cffi's ``DNSError``, or an empty answer with a logged network
      error) are retried ``retries`` times, sleeping ``backoff * 2**k`` seconds (k = 0, 1, ...). After a network
      failure the source does not try again for later symbols (fails fast, still serving cached data).
    * Cache writes are atomic (temp file in the same folder + ``os.replace``).
    """

    name = "yahoo"

    def __init__(
        self,
        cache_dir=None,
        refresh: bool = False,
        retries: int = 3,
        backoff: float = 1.0,
        downloader: Callable | None = None,
    ):
        if downloader is None:
            try:
                import yfinance
            except ImportError as exc:  # pragma: no cover - yfinance is a dependency
                raise UserError(
                    f"yfinance is not installed ({exc}); install it or use recorded prices with --prices DIR"
                ) from exc
            downloader = yfinance.download
        self.cache_dir = Path(cache_dir) if cache_dir is not None else project_cache_dir()
        self.refresh = bool(refresh)
        self.retries = max(0, int(retries))
        self.backoff = float(backoff)
        self.downloader = downloader
        self._offline: str | None = None  # reason of the last network failure, once retries are exhausted

    def __repr__(self) -> str:
        return f"YahooSource(cache_dir={str(self.cache_dir)!r}, refresh={self.refresh})"

    def cache_path(self, symbol: str) -> Path:
        """Cache file of ``symbol`` (validated first)."""
        return self.cache_dir / f"{validate_symbol(symbol)}.parquet"

    def describe(self, symbol: str) -> dict:
        """Provenance: ``{"source": "yahoo", "path": cache file, "sha256": of the cache file or None}``."""
        path = self.cache_path(symbol)
        return {"source": "yahoo", "path": str(path), "sha256": sha256_file(path) if path.is_file() else None}

    # -- download --------------------------------------------------------------------------

    def _call(self, symbol: str, first: pd.Timestamp, last: pd.Timestamp):
        """One ``downloader`` call for ``first..last`` (inclusive; Yahoo's ``end`` is exclusive)."""
        capture = _LogCapture()
        yf_logger = logging.getLogger("yfinance")
        propagate = yf_logger.propagate
        yf_logger.addHandler(capture)  # also keeps yfinance from printing its own error lines
        yf_logger.propagate = False
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", FutureWarning)
                raw = self.downloader(
                    symbol,
                    start=first.strftime("%Y-%m-%d"),
                    end=(last + pd.Timedelta(days=1)).strftime("%Y-%m-%d"),
                    auto_adjust=False,
                    actions=False,
                    progress=False,
                    threads=False,
                )
        finally:
            yf_logger.removeHandler(capture)
            yf_logger.propagate = propagate
        return raw, capture.messages

    def _download(self, symbol: str, first: pd.Timestamp, last: pd.Timestamp) -> tuple[pd.DataFrame, str]:
        """Price frame for ``first..last`` (may be empty: no trading) and a reason to report when empty.

        Raises ``DownloadFailed`` after the retries are used up or on a non-transient error.
        """
        if self._offline is not None:
            raise DownloadFailed(self._offline, network=True)
        reason = "no answer"
        for attempt in range(self.retries + 1):
            try:
                raw, logged = self._call(symbol, first, last)
            except Exception as exc:  # noqa: BLE001 - third-party boundary: classify, then retry or report
                reason = _exc_reason(exc)
                if not (isinstance(exc, OSError) or _TRANSIENT_RE.search(f"{type(exc).__name__} {exc}")):
                    raise DownloadFailed(reason, network=False) from exc
            else:
                frame = _from_yahoo(raw, symbol)
                if not frame.empty:
                    return frame, ""
                network = [m for m in logged if _TRANSIENT_RE.search(m)]
                if not network:
                    return frame, (_shorten(logged[-1]) if logged else "Yahoo returned no data")
                reason = _shorten(network[-1])
            if attempt < self.retries:
                time.sleep(self.backoff * 2**attempt)
        self._offline = reason
        raise DownloadFailed(reason, network=True)

    # -- cache -----------------------------------------------------------------------------

    def _read_cache(self, path: Path):
        """``(frame, covered_first, covered_last)`` or ``None`` when absent or unreadable (then warns)."""
        if not path.is_file():
            return None
        try:
            raw = pd.read_parquet(path)
            frame = validate_frame(_finish(raw), "cache")
            attrs = raw.attrs or {}
            first = pd.Timestamp(attrs.get("covered_first", frame.index[0]))
            last = pd.Timestamp(attrs.get("covered_last", frame.index[-1]))
        except UserError as exc:  # implausible data in the cache: re-downloaded like an unreadable file
            warnings.warn(f"ignoring price cache {path} ({exc})", stacklevel=3)
            return None
        except Exception as exc:  # noqa: BLE001 - any unreadable cache is simply re-downloaded
            warnings.warn(f"ignoring unreadable price cache {path} ({_exc_reason(exc)})", stacklevel=3)
            return None
        if frame.empty:
            return None
        return frame, min(first, frame.index[0]), max(last, frame.index[-1])

    def _write_cache(self, path: Path, frame: pd.DataFrame, first: pd.Timestamp, last: pd.Timestamp) -> None:
        """Write atomically: a crash leaves either the old cache or the new one, never a partial file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        out = frame.copy()
        out.attrs = {
            "covered_first": first.date().isoformat(),
            "covered_last": last.date().isoformat(),
            "source": "yahoo",
        }

        def write(fh):
            out.to_parquet(fh)
            fh.flush()
            os.fsync(fh.fileno())

        atomic_write(path, write, mode="wb")

    def _store(self, symbol, path, frame, first, last) -> None:
        try:
            self._write_cache(path, frame, first, last)
        except OSError as exc:
            warnings.warn(f"could not update the price cache {path} for {symbol} ({_exc_reason(exc)})", stacklevel=3)

    # -- fetch -----------------------------------------------------------------------------

    def fetch(self, symbol: str, start=None, end=None) -> pd.DataFrame:
        """Price frame of ``symbol`` for ``start..end`` (inclusive; ``end=None`` or later = yesterday)."""
        symbol = validate_symbol(symbol)
        start, end = _to_day(start, "start"), _to_day(end, "end")
        yesterday = pd.Timestamp.today().normalize() - pd.Timedelta(days=1)
        first = start if start is not None else _EARLIEST
        last = yesterday if end is None else min(end, yesterday)
        if first > last:
            raise UserError(f"no complete trading day for {symbol} in {_span(start, end)} (start after end)")
        path = self.cache_path(symbol)

        cached = None if self.refresh else self._read_cache(path)
        if cached is None:
            try:
                frame, empty_reason = self._download(symbol, first, last)
            except DownloadFailed as failed:
                raise _download_error(symbol, failed.reason) from None
            if frame.empty:
                raise _download_error(symbol, f"{empty_reason} for {_span(first, last)}")
            self._store(symbol, path, frame, first, last)
            return _slice(frame, first, last)

        frame, cov_first, cov_last = cached
        parts = []  # (download first, download last, new covered first, new covered last)
        if first < cov_first and len(pd.bdate_range(first, cov_first - pd.Timedelta(days=1))):
            parts.append((first, frame.index[0], first, cov_last))
        if last > cov_last and len(pd.bdate_range(cov_last + pd.Timedelta(days=1), last)):
            parts.append((frame.index[-1], last, cov_first, last))
        failures = []
        changed = False
        for dl_first, dl_last, new_first, new_last in parts:
            try:
                got, _ = self._download(symbol, dl_first, dl_last)
            except DownloadFailed as failed:
                failures.append(failed.reason)
                continue
            frame = _splice(frame, got, symbol)
            cov_first, cov_last = min(cov_first, new_first), max(cov_last, new_last)
            changed = True
        if changed:
            self._store(symbol, path, frame, cov_first, cov_last)
        out = _slice(frame, first, last)
        if failures:
            if out.empty:
                raise _download_error(symbol, failures[-1])
            warnings.warn(
                f"could not download part of {_span(first, last)} for {symbol} from Yahoo Finance "
                f"({failures[-1]}); using cached prices {_span(out.index[0], out.index[-1])}",
                stacklevel=2,
            )
        if out.empty:
            raise UserError(f"Yahoo Finance has no prices for {symbol} in {_span(first, last)}")
        return out


def _splice(cached: pd.DataFrame, new: pd.DataFrame, symbol: str) -> pd.DataFrame:
    """Merge ``new`` into ``cached`` (new wins), first rescaling ``cached`` to ``new``'s adjustment base.

    Yahoo re-bases ``Adj Close`` after each dividend and all prices/volume after a split, so a day present in
    both tells by how much the cached history must be scaled for returns across the seam to stay right.
    """
    if new.empty:
        return cached
    common = cached.index.intersection(new.index)
    if len(common):
        day = common[-1]
        cached = cached.copy()
        adj = new.at[day, "adj_close"] / cached.at[day, "adj_close"]
        if math.isfinite(adj) and adj > 0 and abs(adj - 1) > _REL_TOL:
            cached["adj_close"] = cached["adj_close"] * adj
            warnings.warn(
                f"Yahoo's adjusted prices of {symbol} changed since they were cached (dividend or split); "
                f"cached adj_close rescaled by {adj:.6g} (checked on {day.date()})",
                stacklevel=3,
            )
        raw = new.at[day, "close"] / cached.at[day, "close"]
        if math.isfinite(raw) and raw > 0 and abs(raw - 1) > _REL_TOL:
            for col in ["open", "high", "low", "close"]:
                cached[col] = cached[col] * raw
            cached["volume"] = cached["volume"] / raw
    else:
        warnings.warn(
            f"no day in common between cached and new Yahoo prices of {symbol}; "
            "could not check for a dividend or split since the cache was written",
            stacklevel=3,
        )
    return _finish(pd.concat([cached, new]))


# --------------------------------------------------------------------------- entry points


def get_source(prices_dir=None, cache_dir=None, refresh: bool = False):
    """``CsvSource(prices_dir)`` when a folder is given, else ``YahooSource(cache_dir, refresh)``
    (``cache_dir=None``: the project's cache, :func:`analysis.paths.cache_dir`)."""
    if prices_dir:
        return CsvSource(prices_dir)
    return YahooSource(cache_dir=cache_dir, refresh=refresh)


def _where(source, symbol: str) -> str:
    """How messages name the input of ``symbol``: its file for a CSV folder, else the source."""
    if isinstance(source, CsvSource):
        return str(source.path_for(symbol))
    if isinstance(source, YahooSource):
        return f"Yahoo Finance prices of {symbol}"
    return f"prices of {symbol}"


def load_prices(
    source, symbols: Iterable[str], start=None, end=None, progress: bool = False,
    allow_extreme_returns: bool = False,
) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Fetch every symbol from ``source``: ``({symbol: price frame}, {symbol: error message})``.

    One bad symbol (``UserError``) never stops the others; duplicates are fetched once. A daily
    return outside -80%..+400% makes its symbol an error naming the date (:func:`check_returns`)
    unless ``allow_extreme_returns``. ``progress=True`` shows a tqdm bar on stderr.
    """
    from tqdm.auto import tqdm

    if isinstance(symbols, str):
        symbols = [symbols]
    frames: dict[str, pd.DataFrame] = {}
    errors: dict[str, str] = {}
    for symbol in tqdm(list(dict.fromkeys(symbols)), desc="prices", unit="symbol", disable=not progress):
        try:
            frame = source.fetch(symbol, start=start, end=end)
            frames[symbol] = check_returns(frame, _where(source, symbol), allow_extreme_returns)
        except UserError as err:
            errors[symbol] = str(err)
    return frames, errors
