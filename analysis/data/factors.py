"""Daily Fama-French / Carhart factors (Kenneth French's data library), as decimals.

Accepted files (percent, as French publishes them):
- French's raw CSV: free-text header lines, then ``,Mkt-RF,SMB,HML,RF`` (and/or ``Mom``)
  with dates as YYYYMMDD, possibly followed by annual tables and a copyright line;
- a tidy CSV ``date,mkt_rf,smb,hml,rf[,mom]`` (like ``shared/factors/``).
Several files may be given (e.g. 3-factor + momentum); they are joined on date.
"""
from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from analysis.errors import UserError, input_error

RENAME = {"mkt-rf": "mkt_rf", "mkt_rf": "mkt_rf", "smb": "smb", "hml": "hml", "rf": "rf",
          "mom": "mom", "rmw": "rmw", "cma": "cma", "date": "date", "": "date", "unnamed: 0": "date"}


def _read_one(path: Path) -> pd.DataFrame:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UserError(f"{path}: cannot read factor file ({exc.strerror})") from None
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
        raise input_error(path, None, "header", "no factor table found (expected Mkt-RF,SMB,HML,RF or mom)")
    body = [lines[start]]
    for line in lines[start + 1:]:
        cell = line.split(",")[0].strip()
        if not cell or not cell[:4].isdigit():
            break  # end of the daily table (annual tables and copyright follow)
        body.append(line)
    df = pd.read_csv(io.StringIO("\n".join(body)), dtype=str)
    df.columns = [RENAME.get(c.strip().lower(), c.strip().lower()) for c in df.columns]
    if "date" not in df.columns:
        df = df.rename(columns={df.columns[0]: "date"})
    raw_dates = df["date"].str.strip()
    dates = pd.to_datetime(raw_dates, format="%Y%m%d", errors="coerce")
    dates = dates.fillna(pd.to_datetime(raw_dates, format="%Y-%m-%d", errors="coerce"))
    bad = dates.isna()
    if bad.any():
        row = int(bad.to_numpy().argmax()) + 1
        raise input_error(path, row, "date", f"not a date: '{raw_dates.iloc[row - 1]}'")
    out = pd.DataFrame(index=pd.DatetimeIndex(dates, name="date"))
    for col in df.columns:
        if col == "date":
            continue
        vals = pd.to_numeric(df[col].str.strip(), errors="coerce")
        if vals.isna().any():
            row = int(vals.isna().to_numpy().argmax()) + 1
            raise input_error(path, row, col, f"not a number: '{df[col].iloc[row - 1]}'")
        out[col] = vals.to_numpy() / 100.0  # percent -> decimal
    return out


def load_factors(paths) -> pd.DataFrame:
    """Daily factors (decimals) indexed by date, from one or several French files."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    frames = [_read_one(Path(p)) for p in paths]
    out = frames[0]
    for f in frames[1:]:
        out = out.join(f[[c for c in f.columns if c not in out.columns]], how="inner")
    return out.sort_index()
