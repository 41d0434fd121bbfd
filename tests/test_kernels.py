"""The compiled loops of analysis.estimation.kernels on small cases worked out by hand (or with
numpy.corrcoef on the shared days), including partial windows, left-out rows and a return
spanning a suspension. The engine-level tests check the same loops against statsmodels."""
import numpy as np
import pytest

from analysis.estimation import kernels

# One security, 5 sessions; row 1 is not eligible (its y and x are zeroed, w = 0).
Y = np.array([0.01, 0.0, 0.03, -0.02, 0.05])
X1 = np.array([0.01, 0.0, 0.02, -0.01, 0.03])
W = np.array([1.0, 0.0, 1.0, 1.0, 1.0])
XT = np.vstack([W, X1])  # the constant is 1 on eligible rows, 0 elsewhere
THETA = np.array([[0.001, 1.0]])
# residuals y - 0.001 - x on the eligible rows: -0.001, 0.009, -0.011, 0.019


def moments(base, lo, hi, n_days, demean=False, theta=THETA):
    one = lambda v: np.array([v], dtype=np.int64)  # noqa: E731
    m, ssr, pos = kernels.residual_moments(Y, XT, W, one(base), one(lo), one(hi), n_days, theta, demean, one(0))
    return int(m[0]), float(ssr[0]), float(pos[0])


def test_residual_moments_by_hand():
    m, ssr, pos = moments(0, 0, 5, 5)
    assert m == 4 and pos == 2
    assert ssr == pytest.approx((1 + 81 + 121 + 361) * 1e-6, rel=1e-12)


def test_residual_moments_about_the_mean():
    # mean residual 0.004; deviations -0.005, 0.005, -0.015, 0.015
    m, ssr, pos = moments(0, 0, 5, 5, demean=True)
    assert m == 4 and pos == 2
    assert ssr == pytest.approx(500e-6, rel=1e-12)


def test_residual_moments_clip_to_the_security():
    # a window starting 2 rows before the data and one ending past it
    assert moments(-2, 0, 5, 4)[:2] == (1, pytest.approx(1e-6, rel=1e-12))  # rows 0, 1
    m, ssr, _ = moments(3, 0, 5, 4)  # rows 3, 4
    assert m == 2 and ssr == pytest.approx((121 + 361) * 1e-6, rel=1e-12)
    assert moments(7, 0, 5, 3) == (0, 0.0, 0.0)  # entirely outside


def windows_of_rows(days, lo, hi, valid, span, ar, ret, normal, Xv, tail, sigma2, inv, ok=True):
    """kernels.event_windows on one firm-event whose event-period rows are given: a store
    holding exactly them (theta = 0, so AR = y and the normal return is the offset), then
    the suspended sessions up to the tail return (day, span, ar, ret, normal, x) if given.
    Returns the (W,) outputs by name (engine.WINDOW_ARRAYS), each filled with garbage first."""
    from analysis.estimation.engine import WINDOW_ARRAYS

    p = Xv.shape[2]
    y = np.where(valid[0], ar[0], np.nan)
    offset = np.where(valid[0], normal[0], 0.0)
    assert np.allclose(ret[0][valid[0]], (y + offset)[valid[0]])
    XT = Xv[0].T
    spans = span[0].astype(np.int64)
    if tail is not None:  # suspended days up to the tail's day, then the tail
        t_day, t_span, t_ar, t_ret, t_normal, t_x = tail
        gap = t_day - days[-1] - 1
        y = np.concatenate([y, np.full(gap, np.nan), [t_ar]])
        offset = np.concatenate([offset, np.zeros(gap), [t_normal]])
        assert np.isclose(t_ret, t_ar + t_normal)
        XT = np.hstack([XT, np.zeros((p, gap)), np.reshape(t_x, (p, 1))])
        spans = np.concatenate([spans, np.zeros(gap, np.int64), [t_span]])
    T = len(y)
    nxt = np.array([next((u for u in range(t + 1, T) if spans[u] >= 1), -1) for t in range(T)])
    one = np.array([0])
    out = {name: np.full((1, len(lo)), 7, dtype=dt) for name, dt in WINDOW_ARRAYS.items()}
    kernels.event_windows(y, np.ascontiguousarray(XT), offset, spans, nxt, one, one, np.array([T]),
                          np.zeros((1, p)), days, lo, hi, sigma2, inv, np.array([ok]), np.array([0]), *out.values())
    return {name: a[0] for name, a in out.items()}


def test_event_windows_with_a_suspension_by_hand():
    # relative days -2..3; days 0 and 1 suspended: the day-2 return spans 3 sessions
    days = np.arange(-2, 4)
    valid = np.array([[True, True, False, False, True, True]])
    span = np.array([[1, 1, 0, 0, 3, 1]])
    ar = np.array([[0.01, -0.02, np.nan, np.nan, -0.05, 0.03]])
    ret = np.array([[0.02, -0.01, np.nan, np.nan, -0.04, 0.01]])
    normal = ret - np.nan_to_num(ar)
    Xv = np.zeros((1, 6, 2))
    Xv[0, :, 0] = [1, 1, 0, 0, 3, 1]  # constant summed over the span
    Xv[0, :, 1] = [0.01, 0.02, 0, 0, 0.05, -0.01]
    sigma2 = np.array([4e-4])
    inv = np.array([[[0.01, -0.2], [-0.2, 50.0]]])
    lo, hi = np.array([0, -1, -2, 3]), np.array([0, 0, 3, 3])
    r = windows_of_rows(days, lo, hi, valid, span, ar, ret, normal, Xv, None, sigma2, inv)
    car, se, bhar, n_ret, n_ses = r["car"], r["car_se"], r["bhar"], r["n_returns"], r["n_sessions"]
    c_first, c_last, gap, g_first, g_last = (r[k] for k in ("cover_first", "cover_last", "spans_gap", "gap_first",
                                                            "gap_last"))
    var = se**2
    np.testing.assert_array_equal(r["car_t"], car / se)
    # every session covered in each window ([-2, 3]: days 0 and 1 by the spanning return)
    assert r["complete"].tolist() == [True, True, True, True]

    def q(g):  # g' inv g
        return g @ inv[0] @ g

    # [0, 0]: only the spanning return (covers 0..2)
    assert car[0] == pytest.approx(-0.05) and n_ret[0] == 1 and n_ses[0] == 3
    assert var[0] == pytest.approx(4e-4 * (3 + q(np.array([3, 0.05]))))
    assert (c_first[0], c_last[0], gap[0], g_first[0], g_last[0]) == (0, 2, True, 0, 2)
    # [-1, 0]: day -1 and the spanning return
    assert car[1] == pytest.approx(-0.07) and n_ses[1] == 4
    assert var[1] == pytest.approx(4e-4 * (4 + q(np.array([4, 0.07]))))
    assert bhar[1] == pytest.approx(0.99 * 0.96 - (1 - 0.01 + 0.02) * (1 - 0.04 + 0.05))
    # [-2, 3]: everything
    assert car[2] == pytest.approx(-0.03) and n_ret[2] == 4 and n_ses[2] == 6
    assert (c_first[2], c_last[2]) == (-2, 3)
    # [3, 3]: the last day, no gap
    assert car[3] == pytest.approx(0.03) and not gap[3] and np.isnan(g_first[3])
    assert var[3] == pytest.approx(4e-4 * (1 + q(np.array([1, -0.01]))))


def test_event_windows_takes_the_tail_return_of_a_window_ending_in_a_suspension():
    # relative days -1..1 priced on -1 only; suspended from day 0 to day 6; the tail return on
    # day 7 spans 8 sessions (covers 0..7), AR -0.2
    days = np.arange(-1, 2)
    valid = np.array([[True, False, False]])
    span = np.array([[1, 0, 0]])
    ar = np.array([[0.01, np.nan, np.nan]])
    ret = np.array([[0.02, np.nan, np.nan]])
    normal = ret - np.nan_to_num(ar)
    Xv = np.zeros((1, 3, 2))
    Xv[0, 0] = [1, 0.01]
    tail = (7, 8, -0.2, -0.15, 0.05, [8.0, 0.04])  # day, span, AR, return, normal return, x
    sigma2, inv = np.array([1e-4]), np.array([[[0.02, -0.1], [-0.1, 30.0]]])
    lo, hi = np.array([-1, -1, 0, 1]), np.array([-1, 1, 0, 1])
    r = windows_of_rows(days, lo, hi, valid, span, ar, ret, normal, Xv, tail, sigma2, inv)
    car, se, bhar, n_ret, n_ses = r["car"], r["car_se"], r["bhar"], r["n_returns"], r["n_sessions"]
    c_first, c_last, gap, g_first, g_last = (r[k] for k in ("cover_first", "cover_last", "spans_gap", "gap_first",
                                                            "gap_last"))
    var = se**2
    # [-1, -1]: day -1 only (the tail covers 0..7)
    assert car[0] == pytest.approx(0.01) and n_ses[0] == 1 and not gap[0]
    # [-1, 1]: day -1 and the tail: 9 sessions, g = (1 + 8, 0.01 + 0.04)
    g = np.array([9.0, 0.05])
    assert car[1] == pytest.approx(-0.19) and n_ret[1] == 2 and n_ses[1] == 9
    assert var[1] == pytest.approx(1e-4 * (9 + g @ inv[0] @ g))
    assert bhar[1] == pytest.approx(1.02 * 0.85 - 1.01 * 1.05)
    assert (c_first[1], c_last[1], gap[1], g_first[1], g_last[1]) == (-1, 7, True, 0, 7)
    # [0, 0] and [1, 1]: the tail alone
    assert car[2] == car[3] == pytest.approx(-0.2) and n_ses[2] == n_ses[3] == 8
    # without the tail, the windows inside the suspension have no return
    r2 = windows_of_rows(days, lo, hi, valid, span, ar, ret, normal, Xv, None, sigma2, inv)
    assert np.isnan(r2["car"][2]) and r2["n_returns"][2] == 0 and r2["car"][1] == pytest.approx(0.01)
    assert np.isnan(r2["car_se"][2]) and np.isnan(r2["car_t"][2]) and not r2["complete"][2]
    # [-1, 1] without the tail: days 0 and 1 have no return, the window is incomplete
    assert r["complete"].tolist() == [True, True, True, True] and r2["complete"].tolist() == [True, False, False, False]
    # a firm-event without a usable fit: no CAR, se, t or BHAR, its coverage still counted
    r3 = windows_of_rows(days, lo, hi, valid, span, ar, ret, normal, Xv, tail, sigma2, inv, ok=False)
    for k in ("car", "car_se", "car_t", "bhar"):
        assert np.isnan(r3[k]).all()
    assert r3["n_sessions"].tolist() == r["n_sessions"].tolist() and r3["complete"].tolist() == r["complete"].tolist()


def test_inverse2_against_numpy_linalg():
    """2 x 2 (X'X)^-1 and the singularity flag against numpy.linalg (det, inv) on market-model
    moments (M, sum x; sum x, sum x^2); pivots, singular and non-finite matrices are left to the
    general path (clear False) and come out of ols_from_moments exactly as numpy's."""
    from analysis.estimation import engine

    rng = np.random.default_rng(3)
    n = 20000
    M = rng.integers(30, 250, n).astype(float)
    sx = rng.normal(0, 0.3, n)
    sxx = np.abs(rng.normal(0.05, 0.02, n)) + sx**2 / M
    xtx = np.stack([np.stack([M, sx], -1), np.stack([sx, sxx], -1)], -2)
    inv, ok, clear = kernels.inverse2(xtx, 1e-12)
    assert clear.all() and ok.all()
    np.testing.assert_allclose(inv, np.linalg.inv(xtx), rtol=1e-13, atol=0)
    edge = np.array([[[1, 2], [3, 4]], [[2, 4], [4, 8]], [[0, 0], [0, 0]], [[np.nan, 0], [0, 1]],
                     [[1, 0], [0, 1]]], float)
    _, ok_e, clear_e = kernels.inverse2(edge, 1e-12)
    assert clear_e.tolist() == [False, False, False, False, True]  # pivot, singular x2, NaN
    xty = np.ones((len(edge), 2))
    with np.errstate(all="ignore"):
        theta, got, fit_ok = engine.ols_from_moments(edge, xty)
        want = np.linalg.inv(np.where(np.array([True, False, False, False, True])[:, None, None], edge,
                                      np.eye(2)[None]))
    np.testing.assert_array_equal(got, want)
    assert fit_ok.tolist() == [True, False, False, False, True]
    np.testing.assert_array_equal(theta, np.matmul(want, xty[:, :, None])[:, :, 0])
    # |det| = 2^-42 exactly: a ratio putting the bound there leaves the row to numpy
    near = np.array([[[1.0, 0.5], [0.5, 0.25 + 2.0**-42]]])
    assert not kernels.inverse2(near, 2.0**-42 / (0.25 + 2.0**-42))[2][0]
    assert kernels.inverse2(near, 1e-12)[2][0]


def test_event_windows_incomplete_when_a_return_inside_the_window_is_missing():
    # relative days -1..1; day 0's return is missing (no price), not spanned by day 1's
    days = np.arange(-1, 2)
    valid = np.array([[True, False, True]])
    span = np.array([[1, 1, 1]])
    ar = np.array([[0.01, np.nan, 0.02]])
    ret = np.array([[0.02, np.nan, 0.01]])
    normal = ret - np.nan_to_num(ar)
    Xv = np.zeros((1, 3, 2))
    Xv[0, [0, 2]] = [[1, 0.01], [1, -0.01]]
    lo, hi = np.array([-1, -1, 1]), np.array([1, -1, 1])
    r = windows_of_rows(days, lo, hi, valid, span, ar, ret, normal, Xv, None, np.array([1e-4]), np.eye(2)[None])
    # [-1, 1] runs from day -1 to day 1 but covers 2 of its 3 sessions
    assert (r["cover_first"][0], r["cover_last"][0], r["n_sessions"][0]) == (-1, 1, 2)
    assert r["complete"].tolist() == [False, True, True]
    assert r["car"][0] == pytest.approx(0.03)


def test_parts_by_hand():
    assert kernels.parts(10, 3) == [slice(0, 3), slice(3, 7), slice(7, 10)]  # cuts 0, 3.33, 6.67, 10 rounded
    assert kernels.parts(5, 2, min_size=10) == [slice(0, 5)]
    assert kernels.parts(0, 2) == [slice(0, 0), slice(0, 0)]


def test_group_runs_keep_groups_whole_by_hand():
    # groups of 3, 2, 4, 1 positions: the middle (5) falls on the end of group 1
    assert kernels.group_runs(np.array([0, 3, 5, 9, 10]), 2) == [(0, 2), (2, 4)]
    # one big group: the cut at 5 falls inside it, so the first run ends after it
    assert kernels.group_runs(np.array([0, 8, 9, 10]), 2) == [(0, 1), (1, 3)]
    assert kernels.group_runs(np.array([0, 8, 9, 10]), 1) == [(0, 3)]
    # more threads than groups: runs stay non-empty
    assert kernels.group_runs(np.array([0, 10]), 4) == [(0, 1)]


def test_by_position_order_gives_each_firm_event_its_own_numbers():
    """Several firm-events over two securities, taken by store position (not their row order):
    every output row equals that firm-event's numbers computed alone (order [0])."""
    from analysis.estimation.engine import WINDOW_ARRAYS
    rng = np.random.default_rng(3)
    T = 60  # two securities of 30 sessions each
    y = rng.normal(0, 0.02, T)
    x = rng.normal(0, 0.01, T)
    w = np.ones(T)
    w[[4, 37]] = 0.0  # not eligible: y, x zeroed there
    y[[4, 37]] = 0.0
    x[[4, 37]] = 0.0
    XTw = np.vstack([w, x])
    seg_lo = np.array([30, 0, 30, 0, 0], dtype=np.int64)  # security of each firm-event: 1, 0, 1, 0, 0
    seg_hi = seg_lo + 30
    base = seg_lo + np.array([12, 3, 1, 15, 0])
    theta = rng.normal(0, 1, (5, 2))
    order = kernels.by_position(base)
    assert list(order) == [4, 1, 3, 2, 0]
    batch = kernels.residual_moments(y, XTw, w, base, seg_lo, seg_hi, 12, theta, False, order)
    for i in range(5):
        alone = kernels.residual_moments(y, XTw, w, base[i:i + 1], seg_lo[i:i + 1], seg_hi[i:i + 1], 12,
                                         theta[i:i + 1], False, np.array([0]))
        assert [a[i] for a in batch] == [a[0] for a in alone]
    # event windows: the same firm-events, days -1 .. 6, windows 0:0, -1:1, 0:5
    days = np.arange(-1, 7)
    lo, hi = np.array([0, -1, 0]), np.array([0, 1, 5])
    span = np.ones(T, np.int64)
    offset = np.zeros(T)
    nxt = np.append(np.arange(1, T), -1)
    sigma2, inv, ok = rng.uniform(1e-4, 2e-4, 5), np.tile(np.eye(2), (5, 1, 1)), np.ones(5, bool)

    def run(rows, order):
        out = {name: np.full((len(rows), 3), 7, dtype=dt) for name, dt in WINDOW_ARRAYS.items()}
        kernels.event_windows(y, XTw, offset, span, nxt, base[rows], seg_lo[rows], seg_hi[rows], theta[rows], days,
                              lo, hi, sigma2[rows], inv[rows], ok[rows], order, *out.values())
        return out

    batch = run(np.arange(5), order)
    for i in range(5):
        alone = run(np.array([i]), np.array([0]))
        for name in WINDOW_ARRAYS:
            np.testing.assert_array_equal(batch[name][i], alone[name][0])


def test_map_on_threads_keeps_job_order_and_the_caller_takes_jobs_too():
    """Results in the jobs' order; the calling thread runs jobs beside the one thread started."""
    import threading
    import time

    from analysis.estimation.kernels import map_on_threads

    ran_on = {}

    def job(k):
        ran_on[k] = threading.get_ident()
        time.sleep(0.01)  # long enough for both threads to take jobs
        return k * k

    assert map_on_threads(job, range(12), threads=2) == [k * k for k in range(12)]
    assert len(set(ran_on.values())) == 2 and threading.get_ident() in set(ran_on.values())
    assert map_on_threads(job, [3], threads=2) == [9]  # one job: inline
    assert map_on_threads(job, [], threads=2) == []


def test_map_on_threads_raises_a_jobs_error_after_the_running_jobs_end():
    import threading
    import time

    from analysis.estimation.kernels import map_on_threads

    running, started = [0], []
    lock = threading.Lock()

    def job(k):
        with lock:
            running[0] += 1
            started.append(k)
        try:
            time.sleep(0.02)
            if k == 1:
                raise ValueError("job 1 failed")
            return k
        finally:
            with lock:
                running[0] -= 1

    with pytest.raises(ValueError, match="job 1 failed"):
        map_on_threads(job, range(20), threads=2)
    assert running[0] == 0  # nothing still running once the error is raised
    assert len(started) < 20  # no job started after the failure was seen (a few were under way)
