"""Result-frame columns without a Python object per row (analysis/inference/columns.py): the
same values and dtypes as the row-by-row ``np.repeat`` / ``pd.to_datetime(...).date`` paths."""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.inference.columns import date_objects, take_column


def test_take_column_equals_repeating_the_objects():
    f = pd.DataFrame({"event_id": np.array(["e1", "e2", "e3"], dtype=object),
                      "name": np.array(["A", None, "Ç c"], dtype=object)})
    rows = np.array([2, 0, 1])
    for col in ("event_id", "name"):
        idx = np.repeat(rows, 3)
        want = pd.DataFrame({"x": np.repeat(f[col].to_numpy()[rows], 3)})["x"]
        got = pd.DataFrame({"x": take_column(f[col], idx)})["x"]
        pd.testing.assert_series_equal(got, want)
    windows = ["0:0", "-1:1"]
    want = pd.DataFrame({"w": np.tile(windows, 4)})["w"]
    pd.testing.assert_series_equal(pd.DataFrame({"w": take_column(windows, np.tile([0, 1], 4))})["w"], want)
    empty = pd.DataFrame({"x": take_column(f["event_id"], np.zeros(0, int))})["x"]
    assert len(empty) == 0 and empty.dtype == f["event_id"].dtype


def test_date_objects_equal_pandas_dates():
    days = np.array(["2020-01-02", "NaT", "2019-12-31", "2020-01-02", "2024-02-29"], dtype="datetime64[D]")
    for d in (days, days.astype("datetime64[ns]"), days[:0], days[1:2]):
        want = pd.to_datetime(d).date
        got = date_objects(d)
        assert got.dtype == object and len(got) == len(want)
        for a, b in zip(got, want):
            assert (a is pd.NaT and b is pd.NaT) or (a == b and type(a) is type(b))
    s = pd.Series(days)
    pd.testing.assert_series_equal(pd.Series(date_objects(days)), pd.to_datetime(s).dt.date)
