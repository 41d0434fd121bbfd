"""Result-frame columns built without a Python object per row (firm-day frames hold millions).

:func:`take_column` repeats a panel column's values in the column's own array type (a pandas
string column is taken in Arrow, not converted from Python strings row by row);
:func:`date_objects` turns datetime64 days into ``datetime.date`` objects, each distinct day
converted once. The values are those of ``np.repeat``/``pd.to_datetime(...).date``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def take_column(values, idx) -> pd.api.extensions.ExtensionArray:
    """``values`` (a Series, or a sequence as a new column would hold it) at positions ``idx``,
    as an array of the column's dtype (a string column stays a string column)."""
    arr = values.array if isinstance(values, pd.Series) else pd.Series(list(values)).array
    return arr.take(np.asarray(idx, dtype=np.intp))


def date_objects(days) -> np.ndarray:
    """(n,) object array: ``pd.to_datetime(days).date`` of datetime64 ``days`` (NaT -> NaT)."""
    d = np.asarray(days).astype("datetime64[D]")
    out = np.empty(d.shape, dtype=object)
    nat = np.isnat(d)
    out[nat] = pd.NaT
    if (~nat).any():
        v = d.view(np.int64)
        lo = int(v[~nat].min())
        span = int(v[~nat].max()) - lo + 1
        lut = pd.to_datetime(np.arange(lo, lo + span).astype("datetime64[D]")).date
        out[~nat] = lut[v[~nat] - lo]
    return out
