"""The vectorized panel build (securities of one exchange together) gives the store the
per-security path gives, element for element: suspensions, a benchmark gap, frames of
different spans, a frame without adjusted closes, off-calendar rows, factors."""
import numpy as np
import pandas as pd
import pytest

from analysis.data import calendars
from analysis.estimation.models import get_model
from analysis.estimation.panel import _block_parts, _one_part


def frames_and_rows(rng):
    sess = calendars.sessions("XNYS", "2020-01-01", "2020-12-31")
    T = len(sess)
    bench = 100 * np.cumprod(1 + rng.normal(0, 0.01, T))
    bench[[40, 41, 100]] = np.nan  # benchmark gaps
    frames = {"^B": pd.DataFrame({"adj_close": bench}, index=sess)}
    rows = []
    spans = [(0, T), (30, T), (0, 200), (55, 180)]
    for k, (a, b) in enumerate(spans):
        px = 10 * np.cumprod(1 + rng.normal(0, 0.02, T))
        px[rng.random(T) < 0.05] = np.nan
        f = pd.DataFrame({"adj_close": px, "close": px * 1.01, "volume": rng.integers(1, 9, T).astype(float)},
                         index=sess).iloc[a:b]
        if k == 1:
            f["high"], f["low"] = f["close"] * 1.02, f["close"] * 0.98
        if k == 2:  # a row on a Saturday (not a session): dropped
            f = pd.concat([f, pd.DataFrame({"adj_close": [11.0], "close": [11.0], "volume": [1.0]},
                                           index=pd.DatetimeIndex(["2020-01-04"]))]).sort_index()
        frames[f"S{k}"] = f
        rows.append(f"S{k}")
    frames["EMPTY"] = pd.DataFrame({"adj_close": np.full(10, np.nan)}, index=sess[:10])
    rows.append("EMPTY")
    uni = pd.DataFrame({"symbol": rows, "name": rows, "role": "peer", "exchange": "XNYS", "benchmark": "^B"})
    factors = pd.DataFrame({"mkt_rf": rng.normal(0, 0.01, T), "smb": rng.normal(0, 0.005, T),
                            "hml": rng.normal(0, 0.005, T), "rf": np.full(T, 1e-4)}, index=sess).iloc[5:-5]
    return frames, list(uni.itertuples(index=False)), factors


@pytest.mark.parametrize("model", ["market", "ff3"])
def test_block_parts_equal_the_per_security_parts(model):
    frames, rows, factors = frames_and_rows(np.random.default_rng(4))
    spec = get_model(model)
    fac = factors if spec.excess else None
    got = _block_parts(spec, rows, "XNYS", frames, frames["^B"], fac)
    for row, g in zip(rows, got):
        if row.symbol == "EMPTY":
            assert g == "EMPTY: no adjusted close prices"
            continue
        want = _one_part(spec, row, frames, fac)
        assert set(g) == set(want)
        for name in want:
            np.testing.assert_array_equal(g[name], want[name], err_msg=f"{row.symbol} {name}")
        assert len(g["dates"]) > 100


def test_frames_the_block_path_cannot_take_are_recognized():
    idx = pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06"])
    f = pd.DataFrame({"adj_close": [1.0, 2.0, 3.0]}, index=idx)
    assert calendars.block_eligible(f)
    assert not calendars.block_eligible(f.iloc[::-1])  # decreasing
    assert not calendars.block_eligible(f.iloc[[0, 0, 1]])  # duplicate date
    assert not calendars.block_eligible(f.set_axis(idx + pd.Timedelta(hours=16)))  # intraday stamps
    assert not calendars.block_eligible(f.set_axis(idx.tz_localize("UTC")))
    assert not calendars.block_eligible(f.rename(columns={"adj_close": "close"}))
