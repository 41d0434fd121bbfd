"""Small helpers the tests share for reading result frames."""
from __future__ import annotations

import pandas as pd


def one(frame: pd.DataFrame, **eq) -> pd.Series:
    """The one row of ``frame`` whose columns equal ``eq`` (fails unless exactly one matches)."""
    sel = frame
    for k, v in eq.items():
        sel = sel[sel[k] == v]
    assert len(sel) == 1, f"expected one row for {eq}, got {len(sel)}"
    return sel.iloc[0]
