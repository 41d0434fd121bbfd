"""The vectorized panel build (securities of one exchange together) gives the store the
per-security path gives, element for element: suspensions, a benchmark gap, frames of
different spans, a frame without adjusted closes, off-calendar rows, factors."""
import numpy as np
import pandas as pd
import pytest

from analysis.data import calendars
from analysis.estimation.models import get_model
from analysis.estimation.panel import _block_parts, _one_part, build_panel
from analysis.estimation.store import PART_FIELDS, store_from_parts


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
        if k == 0:  # integer volumes: the frame's values read as one float64 array (calendars.float_columns)
            f["volume"] = f["volume"].astype(np.int64)
        if k == 1:
            f["high"], f["low"] = f["close"] * 1.02, f["close"] * 0.98
        if k == 3:  # a text column: the frame's columns read one by one
            f["note"] = "x"
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
    flat, lengths, why = _block_parts(spec, rows, "XNYS", frames, frames["^B"], fac)
    assert why == [None] * 4 + ["EMPTY: no adjusted close prices"]
    assert set(flat) == set(PART_FIELDS) and len(lengths) == 4 and (lengths > 100).all()
    at = np.concatenate([[0], np.cumsum(lengths)])
    for k, row in enumerate(rows[:4]):
        want = _one_part(spec, row, frames, fac)
        for name in want:
            np.testing.assert_array_equal(flat[name][at[k]:at[k + 1]], want[name], err_msg=f"{row.symbol} {name}")


@pytest.mark.parametrize("model", ["market", "ff3"])
def test_panel_store_equals_the_per_security_store(model):
    """Securities of the block path and of the per-security path (a benchmark whose frame the
    block path does not take: its dates decreasing) interleaved in the universe: the panel's
    store is the per-security parts concatenated in universe order (store_from_parts)."""
    frames, rows, factors = frames_and_rows(np.random.default_rng(5))
    frames["^C"] = frames["^B"].iloc[::-1]
    rows = [r._replace(benchmark="^C") if k % 2 else r for k, r in enumerate(rows)]
    spec = get_model(model)
    fac = factors if spec.excess else None
    events = pd.DataFrame({"event_id": ["e"], "announced_at": ["2020-06-01 10:00"]})
    events["announced"] = pd.to_datetime(events["announced_at"]).dt.tz_localize("America/New_York")
    panel, skipped = build_panel(spec, pd.DataFrame(rows), events, events, frames, {}, fac)
    assert [s["symbol"] for s in skipped] == ["EMPTY"]
    good = [r for r in rows if r.symbol != "EMPTY"]
    want = store_from_parts(spec, [r.symbol for r in good], [_one_part(spec, r, frames, fac) for r in good])
    assert panel.store.symbols == want.symbols
    for name in ("start", "length", *PART_FIELDS):
        got, ref = getattr(panel.store, name), getattr(want, name)
        assert got.dtype == ref.dtype, name
        np.testing.assert_array_equal(got, ref, err_msg=name)


@pytest.mark.parametrize("model", ["market", "ff3"])
def test_blocks_built_on_two_threads_give_the_per_security_store(model, monkeypatch):
    """Blocks of two securities (several blocks, built two at a time on two threads): the
    store is the per-security parts concatenated in universe order."""
    from analysis.estimation import panel as panel_mod

    monkeypatch.setattr(panel_mod, "BLOCK_SECURITIES", 2)
    frames, rows, factors = frames_and_rows(np.random.default_rng(6))
    spec = get_model(model)
    fac = factors if spec.excess else None
    events = pd.DataFrame({"event_id": ["e"], "announced_at": ["2020-06-01 10:00"]})
    events["announced"] = pd.to_datetime(events["announced_at"]).dt.tz_localize("America/New_York")
    calls = []
    real = panel_mod._block_parts
    monkeypatch.setattr(panel_mod, "_block_parts", lambda *a: calls.append(len(a[1])) or real(*a))
    panel, skipped = build_panel(spec, pd.DataFrame(rows), events, events, frames, {}, fac)
    assert sorted(calls) == [1, 2, 2] and [s["symbol"] for s in skipped] == ["EMPTY"]
    good = [r for r in rows if r.symbol != "EMPTY"]
    want = store_from_parts(spec, [r.symbol for r in good], [_one_part(spec, r, frames, fac) for r in good])
    assert panel.store.symbols == want.symbols
    for name in ("start", "length", *PART_FIELDS):
        np.testing.assert_array_equal(getattr(panel.store, name), getattr(want, name), err_msg=name)


def test_float_columns_read_as_pandas_does_column_by_column():
    idx = calendars.sessions("XNYS", "2020-01-01", "2020-03-31")
    n = len(idx)
    base = {"adj_close": np.linspace(1, 2, n), "volume": np.arange(n, dtype=np.int64) * 10**9 + 1}
    frames = [pd.DataFrame(base, index=idx), pd.DataFrame({**base, "note": "a"}, index=idx),
              pd.DataFrame({**base, "volume": np.arange(n, dtype=np.float32) / 3}, index=idx),
              pd.DataFrame({"adj_close": pd.array([1.5, None] * (n // 2) + [1.0] * (n % 2), dtype="Float64")},
                           index=idx),
              # a repeated label: pandas' own column-by-column reading (a 2-D "volume"), not the one array
              pd.DataFrame(np.c_[base["adj_close"], base["volume"], base["volume"] / 2], index=idx,
                           columns=["adj_close", "volume", "volume"]),
              # two-level labels: pandas' partial-key lookup (each name a (n, 1) block)
              pd.DataFrame(np.c_[base["adj_close"], base["volume"]], index=idx,
                           columns=pd.MultiIndex.from_tuples([("adj_close", "X"), ("volume", "X")]))]
    for f in frames:
        got = calendars.float_columns(f, ("adj_close", "volume", "high"))
        assert list(got) == [c for c in ("adj_close", "volume") if c in f]
        for c, v in got.items():
            np.testing.assert_array_equal(v, f[c].to_numpy(dtype=float), err_msg=c)
            assert v.dtype == np.float64


def test_frames_the_block_path_cannot_take_are_recognized():
    idx = pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06"])
    f = pd.DataFrame({"adj_close": [1.0, 2.0, 3.0]}, index=idx)
    assert calendars.block_eligible(f)
    assert not calendars.block_eligible(f.iloc[::-1])  # decreasing
    assert not calendars.block_eligible(f.iloc[[0, 0, 1]])  # duplicate date
    assert not calendars.block_eligible(f.set_axis(idx + pd.Timedelta(hours=16)))  # intraday stamps
    assert not calendars.block_eligible(f.set_axis(idx.tz_localize("UTC")))
    assert not calendars.block_eligible(f.rename(columns={"adj_close": "close"}))


def test_event_day_mask_equals_a_scan_of_each_security():
    """Sessions within k of a catalog day 0 of their own security (short ranges set directly, long
    ones by a running sum over the flat store)
    against a scan of every session of every security (ranges clipped at both ends of a
    security's data, overlapping ranges, a security without catalog day 0s)."""
    from analysis.estimation.panel import event_day_mask
    from analysis.estimation.store import store_from_arrays

    store = store_from_arrays(get_model("market"), [np.zeros(n) for n in (30, 12, 25, 40)])
    cat = {0: [0, 5, 7, 29], 3: [20, 39], 1: [11]}
    for k in (0, 1, 3, 20):  # 20: more range positions than sessions (the running-sum path)
        got = event_day_mask(store, cat, k)
        want = np.zeros(len(store.dates), dtype=bool)
        for s in range(4):
            for t in range(store.length[s]):
                want[store.start[s] + t] = any(abs(t - p) <= k for p in cat.get(s, []))
        np.testing.assert_array_equal(got, want)


def test_day_positions_equal_a_search_of_each_security():
    """_DayFinder (a guess from the exchange's calendar, checked; a search where it fails)
    against a search in each security's dates: every session from a first date, sessions with
    gaps, a non-session date, a security of one day; days before, inside and after them."""
    from analysis.estimation.panel import _DayFinder
    from analysis.estimation.store import store_from_arrays

    epoch = np.datetime64("1970-01-01", "D")
    sess = (calendars.sessions("XNYS", "2019-01-01", "2020-12-31").values.astype("datetime64[D]")
            - epoch).astype(np.int64)
    rng = np.random.default_rng(2)
    dates = [sess[10:300], sess[:400][rng.random(400) < 0.8], np.sort(np.append(sess[50:90], sess[60] + 1)),
             sess[200:201], sess[5:]]
    store = store_from_arrays(get_model("market"), [np.zeros(len(d)) for d in dates], dates=dates)
    lo = int(store.dates.min())
    width = int(store.dates.max()) - lo + 2
    find = _DayFinder(store, lo, width)
    secs = np.arange(len(dates))
    for day in [*sess[::7], sess[60] + 1, sess[0] - 3, lo, lo + width - 2]:
        want = [int(np.searchsorted(d, day)) if day in d else -1 for d in dates]
        np.testing.assert_array_equal(find("XNYS", secs, int(day - lo)), want, err_msg=str(day))
        np.testing.assert_array_equal(find("XNYS", secs[[4, 1]], int(day - lo)), [want[4], want[1]])


def _span_sum_rows_numpy(values, span):
    """span_sum_rows as numpy computed it before its compiled pass: running sums (NaN as 0) by
    numpy.cumsum, differences gathered by take_along_axis."""
    v = np.asarray(values, dtype=float)
    n, G = v.shape
    nan = np.isnan(v)
    cs = np.zeros((n, G + 1))
    np.cumsum(np.where(nan, 0.0, v), axis=1, out=cs[:, 1:])
    cn = np.zeros((n, G + 1), dtype=np.int64)
    np.cumsum(nan, axis=1, out=cn[:, 1:])
    end = np.broadcast_to(np.arange(1, G + 1)[None, :], (n, G))
    start = np.clip(end - np.maximum(span, 1), 0, None)
    out = np.take_along_axis(cs, end, axis=1) - np.take_along_axis(cs, start, axis=1)
    bad = (np.take_along_axis(cn, end, axis=1) - np.take_along_axis(cn, start, axis=1)) > 0
    out[bad | (span < 1)] = np.nan
    return out


def test_span_sum_rows_equals_numpy_cumsums_and_the_per_row_span_sum_bit_for_bit():
    """The compiled span sums of a (securities, sessions) grid equal numpy's running-sum
    differences and models.span_sum on each row, to the bit: spans of 0 (suspended), 1 and
    several sessions, NaNs, values of very different sizes (rounding shows), a span reaching
    before the row's first session."""
    from analysis.estimation.models import span_sum, span_sum_rows

    rng = np.random.default_rng(21)
    n, G = 7, 300
    v = rng.standard_t(3, (n, G)) * 10.0 ** rng.integers(-4, 3, (n, G))
    v[rng.random((n, G)) < 0.03] = np.nan
    span = rng.choice([0, 1, 1, 1, 1, 2, 3, 7], (n, G))
    span[:, 0] = 5  # reaches before the first session
    got = span_sum_rows(v, span)
    np.testing.assert_array_equal(got, _span_sum_rows_numpy(v, span))
    for i in range(n):
        np.testing.assert_array_equal(got[i], span_sum(v[i], span[i]))
    assert np.isnan(got).sum() > 20 and np.isfinite(got).sum() > n * G // 2
    ones = span_sum_rows(np.ones((n, G)), span)  # the constant: the sessions a return spans
    np.testing.assert_array_equal(ones, np.where(span < 1, np.nan, np.minimum(np.maximum(span, 1), np.arange(1, G + 1))))
