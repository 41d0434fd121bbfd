"""Daily share prices from recorded CSV files or from Yahoo Finance (with a local parquet cache).

Every source returns the same frame shape (a "price frame"):

* index: tz-naive ``DatetimeIndex`` named ``date`` (midnight, ``datetime64[us]``), ascending, unique;
* columns: exactly :data:`PRICE_COLUMNS`, all float64; prices in the listing currency per share,
  ``volume`` in shares; ``NaN`` where unknown. Rows without ``adj_close`` are dropped.

``start`` / ``end`` arguments are calendar dates (anything ``pandas.Timestamp`` parses), both inclusive.
A fetch returns a non-empty frame or raises :class:`~analysis.errors.UserError`.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import re
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.atomic import atomic_write
from analysis.errors import UserError, input_error

__all__ = [
    "PRICE_COLUMNS",
    "validate_symbol",
    "CsvSource",
    "YahooSource",
    "get_source",
    "load_prices",
]

PRICE_COLUMNS = ["open", "high", "low", "close", "adj_close", "volume"]
_REQUIRED_CSV = ["date", "adj_close"]
_PRICE_ONLY = ["open", "high", "low", "close", "adj_close"]  # must be > 0 when known
_INDEX_DTYPE = "datetime64[us]"
_MISSING_TOKENS = {"", "nan", "na", "n/a", "null", "none"}

_SYMBOL_RE = re.compile(r"^\^?[A-Za-z0-9][A-Za-z0-9.\-=]{0,19}$")
_CSV_DATE_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?$"
)


# --------------------------------------------------------------------------- helpers


def validate_symbol(symbol: str) -> str:
    """Return ``symbol`` if it is a plausible Yahoo Finance symbol, else raise ``UserError`` naming it.

    Allowed: letters, digits, ``.``, ``-``, ``=`` and one leading ``^`` (``AMBA``, ``002415.SZ``, ``^GSPC``,
    ``BRK-B``, ``EURUSD=X``), at most 21 characters. Never touches the file system, so it is safe to
    call before building a path from the symbol (rejects ``..``, ``/``, ``\\``, NUL, whitespace, leading dot).
    """
    if not isinstance(symbol, str) or not _SYMBOL_RE.fullmatch(symbol) or ".." in symbol:
        raise UserError(
            f"invalid symbol {symbol!r}: expected a Yahoo Finance symbol such as AMBA, 002415.SZ or ^GSPC "
            "(letters, digits, '.', '-', '=', an optional leading '^', at most 20 characters after it)"
        )
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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
    Raises ``UserError`` naming file, 1-based data row and field for bad dates, non-numeric or
    non-positive prices, negative volume and duplicate dates.
    """
    try:
        raw = pd.read_csv(
            path, dtype=str, keep_default_na=False, skip_blank_lines=False, encoding="utf-8-sig"
        )
    except pd.errors.EmptyDataError:
        raise input_error(path, None, None, "file is empty (expected a header line date,...,adj_close,...)")
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise input_error(path, None, None, f"not a readable CSV file ({first})")
    raw.columns = [_norm_header(c) for c in raw.columns]
    for col in _REQUIRED_CSV:
        if col not in raw.columns:
            raise input_error(
                path, None, col, f"missing required column (header has: {', '.join(raw.columns)})"
            )
    raw = raw.map(lambda v: v.strip() if isinstance(v, str) else "")
    raw = raw[(raw != "").any(axis=1)]  # blank lines; the index keeps the original row numbers
    row_no = raw.index.to_numpy() + 1  # 1-based data row (header = row 0)

    dates = raw["date"]
    ok = dates.str.fullmatch(_CSV_DATE_RE)
    parsed = pd.to_datetime(dates.str[:10].where(ok), format="%Y-%m-%d", errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise input_error(path, int(row_no[i]), "date", f"not a date (expected YYYY-MM-DD): {dates.iloc[i]!r}")
    dup = parsed.duplicated().to_numpy()
    if dup.any():
        i = int(np.argmax(dup))
        first = int(row_no[int(np.argmax((parsed == parsed.iloc[i]).to_numpy()))])
        raise input_error(
            path, int(row_no[i]), "date", f"duplicate date {dates.iloc[i]} (first seen at row {first})"
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
        elif (bad := np.isinf(values)).any():
            problem = "not a finite number"
        elif col in _PRICE_ONLY and (bad := values <= 0).any():
            problem = "price must be positive"
        elif col == "volume" and (bad := values < 0).any():
            problem = "volume must not be negative"
        if problem:
            i = int(np.argmax(bad))
            raise input_error(path, int(row_no[i]), col, f"{problem}: {text.iloc[i]!r}")
        columns[col] = values
    frame = pd.DataFrame(columns, index=pd.DatetimeIndex(parsed.to_numpy()))
    return _finish(frame)


class CsvSource:
    """Recorded prices: one ``<folder>/<SYMBOL>.csv`` per Yahoo symbol (see :func:`read_price_csv`)."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.name = f"csv:{folder}"
        if not self.folder.is_dir():
            raise UserError(f"prices folder {self.folder} does not exist or is not a directory")

    def path_for(self, symbol: str) -> Path:
        """Path of the CSV for ``symbol`` (validated first)."""
        return self.folder / f"{validate_symbol(symbol)}.csv"

    def fetch(self, symbol: str, start=None, end=None) -> pd.DataFrame:
        """Price frame of ``symbol`` for ``start..end`` (inclusive dates; ``None`` = open-ended)."""
        symbol = validate_symbol(symbol)
        start, end = _to_day(start, "start"), _to_day(end, "end")
        path = self.path_for(symbol)
        if not path.is_file():
            raise UserError(f"no file {path} for symbol {symbol}")
        frame = _slice(read_price_csv(path), start, end)
        if frame.empty:
            raise UserError(f"{path}: no prices with adj_close for {symbol} in {_span(start, end)}")
        return frame

    def describe(self, symbol: str) -> dict:
        """Provenance: ``{"source": "csv", "path": str, "sha256": hex digest of the file bytes}``."""
        path = self.path_for(symbol)
        if not path.is_file():
            raise UserError(f"no file {path} for symbol {symbol}")
        return {"source": "csv", "path": str(path), "sha256": _sha256(path)}

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


class _DownloadFailed(Exception):
    def __init__(self, reason: str, network: bool):
        super().__init__(reason)
        self.reason = reason
        self.network = network


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
        raise _DownloadFailed(f"unexpected answer of type {type(raw).__name__}", network=False)
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
            raise _DownloadFailed(f"answer has no column for {symbol} (tickers: {tickers})", network=False)
        raw = raw.xs(pick, axis=1, level=level)
    raw = raw.rename(columns=_norm_header)
    if raw.empty:
        return _empty_frame()
    if "adj_close" not in raw.columns:
        raise _DownloadFailed("answer has no 'Adj Close' column", network=False)
    return _finish(raw)


class YahooSource:
    """Yahoo Finance via ``yfinance.download``, cached as ``<cache_dir>/<SYMBOL>.parquet``.

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
        cache_dir="data/cache",
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
        self.cache_dir = Path(cache_dir)
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
        return {"source": "yahoo", "path": str(path), "sha256": _sha256(path) if path.is_file() else None}

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

        Raises ``_DownloadFailed`` after the retries are used up or on a non-transient error.
        """
        if self._offline is not None:
            raise _DownloadFailed(self._offline, network=True)
        reason = "no answer"
        for attempt in range(self.retries + 1):
            try:
                raw, logged = self._call(symbol, first, last)
            except Exception as exc:  # noqa: BLE001 - third-party boundary: classify, then retry or report
                reason = _exc_reason(exc)
                if not (isinstance(exc, OSError) or _TRANSIENT_RE.search(f"{type(exc).__name__} {exc}")):
                    raise _DownloadFailed(reason, network=False) from exc
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
        raise _DownloadFailed(reason, network=True)

    # -- cache -----------------------------------------------------------------------------

    def _read_cache(self, path: Path):
        """``(frame, covered_first, covered_last)`` or ``None`` when absent or unreadable (then warns)."""
        if not path.is_file():
            return None
        try:
            raw = pd.read_parquet(path)
            frame = _finish(raw)
            attrs = raw.attrs or {}
            first = pd.Timestamp(attrs.get("covered_first", frame.index[0]))
            last = pd.Timestamp(attrs.get("covered_last", frame.index[-1]))
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
            except _DownloadFailed as failed:
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
            except _DownloadFailed as failed:
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


def get_source(prices_dir=None, cache_dir="data/cache", refresh: bool = False):
    """``CsvSource(prices_dir)`` when a folder is given, else ``YahooSource(cache_dir, refresh)``."""
    if prices_dir:
        return CsvSource(prices_dir)
    return YahooSource(cache_dir=cache_dir, refresh=refresh)


def load_prices(
    source, symbols: Iterable[str], start=None, end=None, progress: bool = False
) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Fetch every symbol from ``source``: ``({symbol: price frame}, {symbol: error message})``.

    One bad symbol (``UserError``) never stops the others; duplicates are fetched once.
    ``progress=True`` shows a tqdm bar on stderr.
    """
    from tqdm.auto import tqdm

    if isinstance(symbols, str):
        symbols = [symbols]
    frames: dict[str, pd.DataFrame] = {}
    errors: dict[str, str] = {}
    for symbol in tqdm(list(dict.fromkeys(symbols)), desc="prices", unit="symbol", disable=not progress):
        try:
            frames[symbol] = source.fetch(symbol, start=start, end=end)
        except UserError as err:
            errors[symbol] = str(err)
    return frames, errors
