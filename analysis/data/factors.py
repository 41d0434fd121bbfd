"""Daily Fama-French / Carhart factors (Kenneth French's data library), as decimals.

Two ways to get them:

- by default :class:`FrenchLibrary` downloads the daily zip files from Kenneth French's data
  library (``F-F_Research_Data_Factors_daily_CSV.zip``, ``F-F_Momentum_Factor_daily_CSV.zip``) into
  the project's cache (``<cache>/french/``, see :func:`analysis.paths.cache_dir`), re-downloading a
  file older than ``max_age_days``; retries and the offline error work like the Yahoo price source;
- a local file (``--factors FILE`` or the report config's ``factors:``).

Accepted files (percent, as French publishes them):
- French's raw CSV: free-text header lines, then ``,Mkt-RF,SMB,HML,RF`` (and/or ``Mom``)
  with dates as YYYYMMDD, possibly followed by annual tables and a copyright line;
- French's zip file holding that CSV;
- a tidy CSV ``date,mkt_rf,smb,hml,rf[,mom]`` (like ``shared/factors/``).
Several files may be given (e.g. 3-factor + momentum); they are joined on date.
"""
from __future__ import annotations

import io
import re
import time
import urllib.error
import urllib.request
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.atomic import atomic_write
from analysis.data.download import DownloadFailed
from analysis.errors import UserError, input_error

RENAME = {"mkt-rf": "mkt_rf", "mkt_rf": "mkt_rf", "smb": "smb", "hml": "hml", "rf": "rf",
          "mom": "mom", "rmw": "rmw", "cma": "cma", "date": "date", "": "date", "unnamed: 0": "date"}

#: Kenneth French's data library: the daily files, by the name of the CSV inside each zip.
FRENCH_URL = "https://mba.tuck.dartmouth.edu/pages/faculty/ken.french/ftp/{name}_CSV.zip"
THREE_FACTORS = "F-F_Research_Data_Factors_daily"
MOMENTUM = "F-F_Momentum_Factor_daily"
#: Largest download / zip member accepted (bytes); the daily files are about 1-3 MB unpacked.
MAX_BYTES = 64 * 1024 * 1024
_DATE_MIN, _DATE_MAX = pd.Timestamp("1900-01-01"), pd.Timestamp("2100-12-31")


# --------------------------------------------------------------------------- reading


def _zip_text(data: bytes, where) -> str:
    """The text of the one CSV inside French's zip file (size-checked before it is unpacked)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = [m for m in zf.infolist() if m.filename.lower().endswith((".csv", ".txt"))]
            if not members:
                raise input_error(where, None, None, "zip file holds no CSV file")
            member = members[0]
            if member.file_size > MAX_BYTES:
                raise input_error(where, None, None, f"zip member is larger than {MAX_BYTES // 2**20} MiB")
            raw = zf.read(member)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, RuntimeError, EOFError):
        raise input_error(where, None, None, "not a readable zip file") from None
    return raw.decode("utf-8", errors="replace")


def _file_text(path: Path) -> str:
    from analysis.data.textfile import read_bytes

    if not path.exists() and not path.is_symlink():
        raise input_error(path, None, None, "factor file not found")
    data = read_bytes(path, "factor file", MAX_BYTES)  # a regular file of at most 64 MiB: never /dev/zero
    if data[:4] == b"PK\x03\x04":
        return _zip_text(data, path)
    return data.decode("utf-8", errors="replace")


def parse_factors(text: str, where) -> pd.DataFrame:
    """The daily table of a French factor file (raw or tidy) as decimals indexed by date.

    Errors name ``where``, the row of the table (1 = first data row) and the column, without
    quoting the file.
    """
    lines = text.splitlines()
    # The table starts at the first line whose first cell is a date or the tidy header.
    start = None
    for i, line in enumerate(lines):
        first = line.split(",")[0].strip().lower()
        rest = [c.strip().lower() for c in line.split(",")[1:]]
        if first in ("date", "") and any(c in RENAME for c in rest) and rest:
            start = i
            break
    if start is None:
        raise input_error(where, None, "header", "no factor table found (expected Mkt-RF,SMB,HML,RF or mom)")
    body = [lines[start]]
    for line in lines[start + 1:]:
        cell = line.split(",")[0].strip()
        if not cell or not cell[:4].isdigit():
            break  # end of the daily table (annual tables and copyright follow)
        body.append(line)
    try:
        df = pd.read_csv(io.StringIO("\n".join(body)), dtype=str)
    except (pd.errors.ParserError, ValueError):
        raise input_error(where, None, None, "not a readable factor table") from None
    df.columns = [RENAME.get(c.strip().lower(), c.strip().lower()) for c in df.columns]
    if "date" not in df.columns:
        df = df.rename(columns={df.columns[0]: "date"})
    raw_dates = df["date"].astype(str).str.strip()
    dates = pd.to_datetime(raw_dates, format="%Y%m%d", errors="coerce")
    dates = dates.fillna(pd.to_datetime(raw_dates, format="%Y-%m-%d", errors="coerce"))
    bad = (dates.isna() | (dates < _DATE_MIN) | (dates > _DATE_MAX)).to_numpy()
    if bad.any():
        row = int(bad.argmax()) + 1
        raise input_error(where, row, "date", "not a date between 1900 and 2100 (expected YYYYMMDD or YYYY-MM-DD)")
    out = pd.DataFrame(index=pd.DatetimeIndex(dates, name="date"))
    for col in df.columns:
        if col == "date":
            continue
        vals = pd.to_numeric(df[col].astype(str).str.strip(), errors="coerce")
        bad = ~np.isfinite(vals.to_numpy(dtype="float64"))
        if bad.any():
            row = int(bad.argmax()) + 1
            raise input_error(where, row, col, "not a finite number")
        out[col] = vals.to_numpy() / 100.0  # percent -> decimal
    if out.index.has_duplicates:
        row = int(out.index.duplicated().argmax()) + 1
        raise input_error(where, row, "date", "duplicate date")
    return out


def _read_one(path: Path) -> pd.DataFrame:
    return parse_factors(_file_text(path), path)


def load_factors(paths) -> pd.DataFrame:
    """Daily factors (decimals) indexed by date, from one or several French files (CSV or zip)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    frames = [_read_one(Path(p)) for p in paths]
    out = frames[0]
    for f in frames[1:]:
        out = out.join(f[[c for c in f.columns if c not in out.columns]], how="inner")
    return out.sort_index()


# --------------------------------------------------------------------------- download



def _download(url: str, timeout: float = 60.0) -> bytes:
    """GET ``url`` (at most :data:`MAX_BYTES`); the default downloader of :class:`FrenchLibrary`."""
    request = urllib.request.Request(url, headers={"User-Agent": "sanctions-event-study"})
    with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - fixed https URL
        data = resp.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise DownloadFailed(f"answer larger than {MAX_BYTES // 2**20} MiB", network=False)
    return data


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    if isinstance(exc, urllib.error.URLError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
    msg = " ".join(str(getattr(exc, "strerror", None) or exc).split())
    text = f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code in (408, 429) or exc.code >= 500
    return isinstance(exc, (OSError, TimeoutError))


class FrenchLibrary:
    """Kenneth French's daily factor files, downloaded once and cached as ``<cache_dir>/french/<name>_CSV.zip``.

    * A cached file younger than ``max_age_days`` is used without a request; ``refresh=True``
      downloads again. An older one is re-downloaded; if that fails, the cached file is used
      with a warning.
    * Transient failures (``OSError`` such as a DNS error or a timeout, HTTP 408/429/5xx) are
      retried ``retries`` times, sleeping ``backoff * 2**k`` seconds; after a network failure
      the library does not try again for the next file (fails fast).
    * A download is parsed before it replaces the cache (atomic write): a broken answer never
      lands in the cache; a cached file that no longer parses is removed and downloaded again.
    * ``downloader(url) -> bytes`` replaces the HTTP request (tests).
    """

    def __init__(self, cache_dir=None, refresh: bool = False, retries: int = 3, backoff: float = 1.0,
                 downloader: Callable[[str], bytes] | None = None, max_age_days: float = 7.0):
        from analysis.paths import cache_dir as project_cache_dir

        self.cache_dir = (Path(cache_dir) if cache_dir is not None else project_cache_dir()) / "french"
        self.refresh = bool(refresh)
        self.retries = max(0, int(retries))
        self.backoff = float(backoff)
        self.downloader = downloader
        self.max_age_days = float(max_age_days)
        self._offline: str | None = None

    def path(self, name: str) -> Path:
        """The cache file of ``name`` (one of :data:`THREE_FACTORS`, :data:`MOMENTUM`)."""
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,80}", name):
            raise UserError(f"invalid factor file name {name!r}")
        return self.cache_dir / f"{name}_CSV.zip"

    def _get(self, name: str) -> bytes:
        if self._offline is not None:
            raise DownloadFailed(self._offline, network=True)
        url = FRENCH_URL.format(name=name)
        reason = "no answer"
        for attempt in range(self.retries + 1):
            try:
                return (self.downloader or _download)(url)
            except DownloadFailed:
                raise
            except Exception as exc:  # noqa: BLE001 - network boundary: classify, then retry or report
                reason = _reason(exc)
                if not _transient(exc):
                    raise DownloadFailed(reason, network=False) from exc
            if attempt < self.retries:
                time.sleep(self.backoff * 2**attempt)
        self._offline = reason
        raise DownloadFailed(reason, network=True)

    @staticmethod
    def _readable(path: Path, name: str) -> bool:
        """Does the cached file parse? One that does not (a disk error, a file cut short) is removed,
        so it is downloaded again instead of breaking every study until it ages out."""
        try:
            parse_factors(_zip_text(path.read_bytes(), path), name)
            return True
        except (UserError, OSError):
            try:
                path.unlink()
            except OSError:
                pass
            return False

    def fetch(self, name: str) -> Path:
        """The path of the cached zip of ``name``, downloaded first when missing, stale or refreshed."""
        path = self.path(name)
        cached = path.is_file() and self._readable(path, name)
        if cached and not self.refresh:
            age_days = (time.time() - path.stat().st_mtime) / 86400.0
            if age_days <= self.max_age_days:
                return path
        try:
            data = self._get(name)
            parse_factors(_zip_text(data, f"{name} from Kenneth French's data library"), name)
        except (DownloadFailed, UserError) as exc:
            reason = exc.reason if isinstance(exc, DownloadFailed) else str(exc)
            if cached:
                warnings.warn(f"could not download {name} from Kenneth French's data library ({reason}); "
                              f"using the cached file {path}", stacklevel=2)
                return path
            raise UserError(f"could not download {name} from Kenneth French's data library ({reason}); "
                            "check the network or pass a local factor file with --factors FILE "
                            "(the report config's factors:)") from None
        try:
            atomic_write(path, lambda fh: fh.write(data), mode="wb")
        except OSError as exc:
            raise UserError(f"could not write the factor cache {path} ({exc.strerror or exc})") from None
        return path

    def files(self, momentum: bool = False) -> list[Path]:
        """The cached 3-factor file, and the momentum file when ``momentum``."""
        return [self.fetch(n) for n in ([THREE_FACTORS, MOMENTUM] if momentum else [THREE_FACTORS])]


def default_factors(momentum: bool = False, cache_dir=None, refresh: bool = False) -> pd.DataFrame:
    """French's daily factors from the library (cached): 3 factors, plus ``mom`` when ``momentum``."""
    return load_factors(FrenchLibrary(cache_dir=cache_dir, refresh=refresh).files(momentum))


__all__ = ["load_factors", "parse_factors", "FrenchLibrary", "default_factors", "FRENCH_URL", "THREE_FACTORS",
           "MOMENTUM", "MAX_BYTES"]
