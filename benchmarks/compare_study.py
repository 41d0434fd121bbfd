"""Compare two study output folders: every CSV equal, numbers to within a tolerance.

    .venv/bin/python benchmarks/compare_study.py BASE NEW [--tol 1e-12]
    .venv/bin/python benchmarks/compare_study.py --smoke

Each ``*.csv`` of BASE must exist in NEW (and vice versa) with the same columns and rows in the
same order; numeric columns agree when |a - b| <= tol * max(1, |a|) (NaN equals NaN), other
columns exactly. Prints one line per file and ``compare: N files, M differ``; exit status 1 when
any file differs. ``--smoke`` checks the comparison itself on two small generated folders (one
equal to within the tolerance, one not) and exits 0 when it tells them apart.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd


def compare_frames(a: pd.DataFrame, b: pd.DataFrame, tol: float) -> str:
    """'' when the frames agree, else the first difference in words."""
    if list(a.columns) != list(b.columns):
        return f"columns differ: {list(a.columns)} vs {list(b.columns)}"
    if len(a) != len(b):
        return f"{len(a)} rows vs {len(b)}"
    for col in a.columns:
        x, y = a[col], b[col]
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            xv, yv = x.to_numpy(dtype=float), y.to_numpy(dtype=float)
            both_nan = np.isnan(xv) & np.isnan(yv)
            with np.errstate(invalid="ignore"):
                close = both_nan | (np.abs(xv - yv) <= tol * np.maximum(1.0, np.abs(xv)))
            close |= (xv == yv)  # equal infinities
            if not close.all():
                i = int(np.argmin(close))
                return f"column {col!r}, row {i + 2}: {xv[i]!r} vs {yv[i]!r}"
        else:
            xs, ys = x.astype(str).where(x.notna(), ""), y.astype(str).where(y.notna(), "")
            bad = xs.to_numpy() != ys.to_numpy()
            if bad.any():
                i = int(np.argmax(bad))
                return f"column {col!r}, row {i + 2}: {xs.iloc[i]!r} vs {ys.iloc[i]!r}"
    return ""


def compare_dirs(base: Path, new: Path, tol: float = 1e-12, out=sys.stdout) -> int:
    """Number of CSV files that differ (a file missing on one side counts)."""
    names = sorted({p.name for p in base.glob("*.csv")} | {p.name for p in new.glob("*.csv")})
    bad = 0
    for name in names:
        pa, pb = base / name, new / name
        if not pa.exists() or not pb.exists():
            why = f"missing in {'NEW' if pa.exists() else 'BASE'}"
        else:
            why = compare_frames(pd.read_csv(pa, keep_default_na=True), pd.read_csv(pb, keep_default_na=True), tol)
        bad += bool(why)
        print(f"{name}: {why or 'same'}", file=out)
    print(f"compare: {len(names)} files, {bad} differ", file=out)
    return bad


def smoke() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        a, b, c = (Path(tmp) / x for x in "abc")
        for d in (a, b, c):
            d.mkdir()
        f = pd.DataFrame({"id": ["x", "y"], "v": [0.1, np.nan]})
        f.to_csv(a / "t.csv", index=False)
        f.assign(v=[0.1 + 1e-15, np.nan]).to_csv(b / "t.csv", index=False)
        f.assign(v=[0.1 + 1e-9, np.nan]).to_csv(c / "t.csv", index=False)
        ok = compare_dirs(a, b) == 0 and compare_dirs(a, c) == 1
    print(f"compare smoke: {'ok' if ok else 'FAILED'}")
    return 0 if ok else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base", nargs="?")
    ap.add_argument("new", nargs="?")
    ap.add_argument("--tol", type=float, default=1e-12)
    ap.add_argument("--smoke", action="store_true", help="check the comparison on generated folders")
    args = ap.parse_args(argv)
    if args.smoke:
        return smoke()
    if not args.base or not args.new:
        ap.error("BASE and NEW are required (or --smoke)")
    return 1 if compare_dirs(Path(args.base), Path(args.new), args.tol) else 0


if __name__ == "__main__":
    sys.exit(main())
