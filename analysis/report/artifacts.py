"""Saving what notebooks produce: figures (PNG and SVG), tables (CSV), small JSON files.

Every write is atomic (temp file in the target folder, then ``os.replace``), so a reader (the
PDF builder, a second notebook) never sees half a file.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.atomic import atomic_write

#: Width of the PDF's text block (A4, 1.8 cm margins), inches: figures drawn at this width are
#: printed at 100%, so their font sizes are the printed ones.
PRINT_WIDTH = 6.85


def out_dir(path) -> Path:
    """``path`` as a Path, created if needed."""
    p = Path(path).expanduser()
    p.mkdir(parents=True, exist_ok=True)
    return p


def _atomic_write(path: Path, write) -> Path:
    return atomic_write(path, write, mode="wb")


def save_figure(fig, folder, name: str, formats=("png", "svg"), dpi: int = 200) -> list[Path]:
    """Save ``fig`` as ``<folder>/<name>.<fmt>`` for each format; returns the paths."""
    folder = out_dir(folder)
    paths = []
    for fmt in formats:
        paths.append(_atomic_write(folder / f"{name}.{fmt}",
                                   lambda fh, fmt=fmt: fig.savefig(fh, format=fmt, dpi=dpi, bbox_inches="tight",
                                                                   metadata=_fig_metadata(fmt))))
    return paths


def _fig_metadata(fmt: str) -> dict:
    # No creation dates in the files: identical inputs give identical bytes.
    if fmt == "svg":
        return {"Date": None}
    if fmt == "png":
        return {"Software": None}
    return {}


def save_table(frame: pd.DataFrame, folder, name: str) -> Path:
    """Write ``frame`` to ``<folder>/<name>.csv`` (no index, full precision)."""
    from analysis.results import write_csv_atomic

    path = out_dir(folder) / f"{name}.csv"
    write_csv_atomic(frame, path)
    return path


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, (pd.Timestamp,)):
        return o.isoformat()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, (set, tuple)):
        return list(o)
    if hasattr(o, "isoformat"):
        return o.isoformat()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def _clean(o):
    """Replace NaN/inf floats by None (JSON has no NaN)."""
    if isinstance(o, float):
        return o if np.isfinite(o) else None
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o


def write_json(obj, path) -> Path:
    """Write ``obj`` as pretty JSON (NaN -> null), atomically."""
    text = json.dumps(_clean(obj), indent=2, default=_json_default, ensure_ascii=False)
    return _atomic_write(Path(path), lambda fh: fh.write(text.encode("utf-8")))


def read_json(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)
