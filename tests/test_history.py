"""p_history (analysis/inference/history.py): the rank of a move among all comparable windows
of the firm's (or portfolio's) whole history. Hand-built series with hand-counted windows,
and the numbers of the issue on the full catalog."""
from __future__ import annotations

import numpy as np
import pytest
from frames import one

from analysis.estimation.models import get_model
from analysis.estimation.store import store_from_arrays
from analysis.inference import history, multiple

THETA = np.array([0.001, 1.2])  # market model: R = 0.001 + 1.2 Rm + e


def _planted():
    """30 sessions, residual e_t = 0.01 (-1)^t (every 2-session sum is 0) except: a planted
    window at positions 10-11 (0.03, 0.03), the event's own move at 20-21 (0.05, 0.04), and no
    return at 27-28. Windows of 2 sessions starting at j = 9, 10, 11 sum to 0.02, 0.06, 0.04."""
    e = 0.01 * (-1.0) ** np.arange(30)
    e[10:12] = 0.03
    e[20:22] = [0.05, 0.04]
    rm = np.random.default_rng(3).normal(0, 0.01, 30)
    ret = THETA[0] + THETA[1] * rm + e
    ret[27:29] = np.nan
    X = np.column_stack([np.ones(30), rm])
    return store_from_arrays(get_model("market"), [ret], X=[X])


@pytest.mark.parametrize("k, n", [
    # 29 windows j = 0..28; j = 27 holds no return. K = 1 around catalog day 0s 5 and 20 flags
    # positions 4-6 and 19-21: windows j = 3, 4, 5, 6, 18, 19, 20, 21 hold one, and 19-21 also
    # overlap the event window 20-21 -> 29 - 8 - 1 = 20 reference windows.
    (1, 20),
    # K = 0 flags 5 and 20: windows 4, 5, 19, 20 (and 21 overlaps the event) -> 29 - 5 - 1 = 23.
    (0, 23),
])
def test_planted_extreme_window_is_at_the_floor(k, n):
    store = _planted()
    cat = {0: [5, 20]}
    # the event's own move: 0.09, larger than every reference window -> p = 1 / (1 + n)
    # a CAR of 0.05: only the planted 0.06 window is as large -> 2 / (1 + n)
    # a CAR of -0.03 (two-sided): 0.06 and 0.04 -> 3 / (1 + n)
    out = history.firm_p_history(store, cat, k, [0, 0, 0], [20, 20, 20], np.tile(THETA, (3, 1)), [0, 0, 0],
                                 [1, 1, 1], [0.09, 0.05, -0.03])
    np.testing.assert_array_equal(out["n_history"], [n, n, n])
    np.testing.assert_allclose(out["p_history"], np.array([1, 2, 3]) / (1 + n), rtol=1e-15)
    np.testing.assert_allclose(out["p_history_floor"], 1 / (1 + n), rtol=1e-15)


def test_window_length_and_event_window_exclusion_by_hand():
    """L = 1 (window 0:0 at day 0 = 20) with K = 1 around 5 and 20: 30 one-session windows, minus
    positions 4-6 and 19-21 (6) and the two without a return (27, 28) -> n = 22; the 0.03 days
    (10, 11) are the only ones with |e| >= 0.03 -> p for a CAR of 0.03 is 3 / 23. Without the
    catalog (no exclusion) only day 20 itself (the event window) goes: n = 27, and the 0.04 at
    21 joins the 0.03s: 4 / 28."""
    store = _planted()
    out = history.firm_p_history(store, {0: [5, 20]}, 1, [0], [20], THETA[None], [0], [0], [0.03])
    assert out["n_history"][0] == 22
    assert out["p_history"][0] == pytest.approx(3 / 23, rel=1e-15)
    out = history.firm_p_history(store, {}, 5, [0], [20], THETA[None], [0], [0], [0.03])
    assert out["n_history"][0] == 27
    assert out["p_history"][0] == pytest.approx(4 / 28, rel=1e-15)


def test_nan_car_and_no_window_give_nan():
    store = _planted()
    out = history.firm_p_history(store, {}, 0, [0, 0], [20, 20], np.tile(THETA, (2, 1)), [0, -20], [0, 9],
                                 [np.nan, 0.01])
    assert np.isnan(out["p_history"]).all() and np.isnan(out["n_history"]).all()


def test_portfolio_mean_over_members_on_the_union_calendar():
    """Two securities on a shared calendar except that B has no session on day 3 and A none
    on day 6 (8 calendar days 0..7); mean model (theta = 0: AR = return). The portfolio AR is
    the mean over the members with a return that day:
        A: .01 .02 .03 .04 .05 .05   -  .08
        B: .03 .00 .01  -  .01 .02  .04 .00
        P: .02 .01 .02 .04 .03 .035 .04 .04
    Day 0 is A's position 6 (calendar day 7) and B's position 5 (day 6); window 0:0, no
    catalog: the event window runs from day 6 to day 7; the reference windows are days 0-5
    (6), of which only day 3 (0.04) is as large as an observed 0.04 -> 2 / 7."""
    days = np.arange(8) + 20000
    a_days, b_days = np.delete(days, 6), np.delete(days, 3)
    a = np.array([.01, .02, .03, .04, .05, .05, .08])
    b = np.array([.03, .00, .01, .01, .02, .04, .00])
    spec = get_model("mean")
    store = store_from_arrays(spec, [a, b], dates=[a_days, b_days])
    (dates, port, flagged), = history._union_series(store, np.zeros(14, bool),
                                                    _Out([0, 1], [6, 5], [[0.0], [0.0]]), [np.array([0, 1])])
    np.testing.assert_array_equal(dates, days)
    np.testing.assert_allclose(port, [.02, .01, .02, .04, .03, .035, .04, .04], atol=1e-15)
    assert not flagged.any()
    # cell: both firm-events (day 0 = A's position 6 = calendar day 7; B's position 5 = day 6)
    out = history.portfolio_p_history(store, {}, 0, _Out([0, 1], [6, 5], [[0.0], [0.0]]), [0, 1], [0, 0], 1,
                                      [0], [0], [0.04])
    assert out["n_history"][0] == 6
    assert out["p_history"][0] == pytest.approx(2 / 7, rel=1e-15)
    # a catalog day 0 on B's position 1 (calendar day 1) with K = 1 flags days 0-2 for the portfolio
    out = history.portfolio_p_history(store, {1: [1]}, 1, _Out([0, 1], [6, 5], [[0.0], [0.0]]), [0, 1], [0, 0], 1,
                                      [0], [0], [0.04])
    assert out["n_history"][0] == 3 and out["p_history"][0] == pytest.approx(2 / 4, rel=1e-15)


class _Out:
    """The fields of an engine result the portfolio history reads."""

    def __init__(self, sec, p0, theta):
        self.sec = np.asarray(sec, dtype=np.int64)
        self.p0 = np.asarray(p0, dtype=np.int64)
        self.theta = np.asarray(theta, dtype=float)


def test_holm_on_p_history_over_the_primary_family():
    import pandas as pd

    t = pd.DataFrame({"event_id": ["a", "a", "b", "b", "b"], "group": ["named", "supplier", "named", "supplier", "peer"],
                      "window": ["0:1"] * 5, "test": ["portfolio"] * 5, "p_value": [0.01] * 5,
                      "p_history": [0.001, 0.2, 0.01, 0.04, 0.001]})
    out = multiple.adjust(t)
    # family: the four named/supplier rows; Holm by hand: 4 x 0.001, 3 x 0.01, 2 x 0.04, 1 x 0.2
    np.testing.assert_allclose(out["p_holm_history"].to_numpy()[:4], [0.004, 0.2, 0.03, 0.08], rtol=1e-12)
    assert np.isnan(out["p_holm_history"].iat[4])


@pytest.mark.shared_prices
def test_full_catalog_history(full_catalog):
    """Every portfolio row and firm row has p_history; 0:1 reference windows number 1,000 or
    more; the FT report's Hikvision move is the most extreme two-session window of its history
    (p at its floor, <= 0.002)."""
    t, car = full_catalog.tests, full_catalog.car
    port = t[t["test"] == "portfolio"]
    assert port["p_history"].notna().all() and t.loc[t["test"] != "portfolio", "p_history"].isna().all()
    assert car["p_history"].notna().all()
    assert (port.loc[port["window"] == "0:1", "n_history"] >= 1000).all()
    assert (car.loc[car["window"] == "0:1", "n_history"] >= 1000).all()
    row = one(port, event_id="ft_sdn_2022", group="named", window="0:1")
    assert row["p_history"] <= 0.002
    assert row["p_history"] == pytest.approx(row["p_history_floor"])
    firm = car[(car["event_id"] == "ft_sdn_2022") & (car["symbol"] == "002415.SZ") & (car["window"] == "0:1")]
    assert (firm["p_history"] <= 0.002).all()
    prim = t[t["primary"]]
    np.testing.assert_allclose(prim["p_holm_history"], multiple.holm(prim["p_history"]), rtol=1e-12)


def _ar(store, pos, th):
    """AR_t = y_t - x_t' theta at store positions ``pos`` (x_t' theta summed regressor by
    regressor, in order), NaN where the return spans no session or is not finite."""
    with np.errstate(invalid="ignore", over="ignore"):
        acc = np.zeros(len(pos))
        for c in range(store.X.shape[1]):
            acc = acc + store.X[pos, c] * th[c]
        ar = store.y[pos] - acc
    ar[(store.span[pos] == 0) | ~np.isfinite(ar)] = np.nan
    return ar


def _reference_counts(store, catalog_p0, k, sec, p0, theta, lo, hi, car):
    """The implementation before the prefix sums (kept here as the reference): every firm
    row's whole-history AR series materialized with numpy, every reference window summed day
    by day."""
    flag_all = history.excluded_sessions(store, catalog_p0, k)
    n_out, k_out = [], []
    for s, d0, th, a, b, obs in zip(sec, p0, theta, lo, hi, car):
        pos = store.start[s] + np.arange(store.length[s])
        ar = _ar(store, pos, th)
        flag = flag_all[pos]
        L, qlo, qhi = b - a + 1, d0 + a, d0 + b
        n = kk = 0
        for j in range(len(ar) - L + 1):
            if j <= qhi and j + L - 1 >= qlo:
                continue
            tot, have, bad = 0.0, 0, False
            for u in range(j, j + L):
                if flag[u]:
                    bad = True
                    break
                if not np.isnan(ar[u]):
                    tot += ar[u]
                    have += 1
            if bad or have == 0:
                continue
            n += 1
            kk += abs(tot) >= abs(obs)
        n_out.append(n)
        k_out.append(kk)
    return history.p_from_counts(np.array(n_out), np.array(k_out), np.asarray(car, dtype=float))


@pytest.mark.parametrize("threads", [False, True])
def test_prefix_sum_counts_equal_the_day_by_day_sums(threads, monkeypatch):
    """Random histories with missing returns, suspensions and catalog exclusions, and observed
    values placed exactly on a reference window's day-by-day sum (a tie the prefix sums alone
    could miscall): the same n and k as summing every window day by day."""
    rng = np.random.default_rng(11)
    rets, Xs, spans = [], [], []
    for n in (300, 257, 410):
        rm = rng.normal(0, 0.01, n)
        r = 0.0004 + 1.1 * rm + rng.standard_t(4, n) * 0.01
        r[rng.random(n) < 0.05] = np.nan
        sp = np.ones(n, dtype=np.int64)
        sp[rng.random(n) < 0.02] = 0
        rets.append(r)
        Xs.append(np.column_stack([np.ones(n), rm]))
        spans.append(sp)
    store = store_from_arrays(get_model("market"), rets, X=Xs, spans=spans)
    cat = {0: [40, 200], 1: [120], 2: [30, 250, 380]}
    sec, p0, lo, hi, car = [], [], [], [], []
    for s, d0 in ((0, 200), (1, 120), (2, 250), (2, 380)):
        th = THETA
        pos = store.start[s] + np.arange(store.length[s])
        ar = store.y[pos] - (store.X[pos] @ th)
        ar[(store.span[pos] == 0) | ~np.isfinite(ar)] = np.nan
        for a, b in ((0, 0), (0, 1), (-1, 1), (0, 5), (-5, 5)):
            L = b - a + 1
            tie = 0.0
            for u in range(10, 10 + L):  # a reference window's day-by-day sum, as observed value
                if not np.isnan(ar[u]):
                    tie += ar[u]
            for obs in (tie, -tie, rng.normal(0, 0.03), np.nan):
                sec.append(s)
                p0.append(d0)
                lo.append(a)
                hi.append(b)
                car.append(obs)
    theta = np.tile(THETA, (len(sec), 1))
    if threads:  # the pass split over two threads (two halves of the series)
        monkeypatch.setattr(history, "THREAD_MIN_SERIES", 1)
    for k in (0, 3):
        got = history.firm_p_history(store, cat, k, sec, p0, theta, lo, hi, car)
        want = _reference_counts(store, cat, k, sec, p0, theta, lo, hi, car)
        for col in history.HISTORY_COLUMNS:
            np.testing.assert_array_equal(got[col], want[col])


@pytest.mark.parametrize("model", ["market", "ff3"])
def test_window_sums_per_security_equal_the_day_by_day_sums(model):
    """Several firm-events per security (each its own theta, as the catalog's events give),
    the window sums shared per security and window length (sum y - theta' sum x): the same n
    and k as summing every window's ARs day by day, with observed values placed exactly on a
    reference window's day-by-day sum, regressors missing or infinite on some days, and a
    firm-event whose theta is not finite (no AR at all: no window)."""
    rng = np.random.default_rng(23)
    spec = get_model(model)
    p = len(spec.regressors)
    rets, Xs, spans = [], [], []
    for n in (520, 333, 610, 45):
        X = np.column_stack([np.ones(n)] + [rng.normal(0, 0.01, n) for _ in range(p - 1)])
        r = 0.0004 + X[:, 1:] @ rng.uniform(0.5, 1.5, p - 1) + rng.standard_t(4, n) * 0.01
        r[rng.random(n) < 0.05] = np.nan
        X[rng.random(n) < 0.02, 1] = np.nan
        X[rng.integers(0, n), p - 1] = np.inf
        sp = np.ones(n, dtype=np.int64)
        sp[rng.random(n) < 0.02] = 0
        rets.append(r)
        Xs.append(X)
        spans.append(sp)
    store = store_from_arrays(spec, rets, X=Xs, spans=spans)
    cat = {0: [60, 200, 470], 1: [120, 300], 2: [30, 250, 380, 600], 3: [20]}
    sec, p0, theta, lo, hi, car, series = [], [], [], [], [], [], []
    hard = 0  # ties the window-sum value alone would miscall
    for fe, (s, d0) in enumerate(((0, 200), (0, 470), (0, 60), (1, 120), (2, 250), (2, 380), (1, 300), (3, 20),
                                  (2, 30))):
        th = np.concatenate([[rng.normal(0, 1e-3)], rng.uniform(0.3, 2.0, p - 1)])
        if fe == 6:
            th[1] = np.nan
        pos = store.start[s] + np.arange(store.length[s])
        ar = _ar(store, pos, th)
        for a, b in ((0, 0), (0, 1), (-1, 1), (0, 5), (-5, 5), (0, 3)):
            L = b - a + 1
            j = int(rng.integers(0, max(1, len(pos) - L)))
            tie = 0.0
            for u in range(j, min(j + L, len(pos))):  # a reference window's day-by-day sum, as observed value
                if not np.isnan(ar[u]):
                    tie += ar[u]
            ok = np.isfinite(store.y[pos]) & np.isfinite(store.X[pos]).all(axis=1) & (store.span[pos] != 0)
            wy = np.where(ok, store.y[pos], 0.0)[j:j + L].sum()
            wx = np.where(ok[:, None], store.X[pos], 0.0)[j:j + L].sum(axis=0)
            hard += bool(abs(wy - wx @ th) != abs(tie))
            for obs in (tie, -tie, rng.normal(0, 0.03), np.nan, 0.0):
                sec.append(s)
                p0.append(d0)
                theta.append(th)
                lo.append(a)
                hi.append(b)
                car.append(obs)
                series.append(fe)
    assert hard > 0  # the ties do test the day-by-day recount
    theta = np.array(theta)
    for k in (0, 3):
        got = history.firm_p_history(store, cat, k, sec, p0, theta, lo, hi, car, series=series)
        want = _reference_counts(store, cat, k, sec, p0, theta, lo, hi, car)
        for col in history.HISTORY_COLUMNS:
            np.testing.assert_array_equal(got[col], want[col])
    assert np.isnan(got["n_history"][np.array(series) == 6]).all()


@pytest.mark.parametrize("layout", ["rows", "by security"])
@pytest.mark.parametrize("threads", [False, True])
def test_union_series_of_overlapping_sets_equal_each_set_alone(threads, layout, monkeypatch):
    """Member sets that share firm-events (an event's all-firms set and its groups), each AR
    computed once for all its sets: every set's series equals its own day-by-day mean over its
    members in order (summed member by member, as one set alone), with the flags; also with
    the calendar's two halves summed on two threads. "rows": sets whose securities repeat
    out of order (a block per member row); "by security": two events of the same four
    securities, each set's securities ascending (a block per security: its sessions walked
    once for its firm-events; checked to be the blocks passed)."""
    if threads:
        monkeypatch.setattr(history, "THREAD_MIN_SERIES", 1)
    taken = []
    real = history.union_sums

    def spy(*a):
        block = a[10]  # union_sums(y, X, span, excl, start, length, theta, rank, r_lo, r_hi, block, ...)
        taken.append("by security" if (np.diff(block) > 1).any() else "rows")
        return real(*a)

    monkeypatch.setattr(history, "union_sums", spy)
    rng = np.random.default_rng(8)
    rets, Xs, dates = [], [], []
    for n in (60, 45, 70, 52):
        d = np.sort(rng.choice(np.arange(20000, 20100), n, replace=False))
        r = rng.normal(0, 0.02, n)
        r[rng.random(n) < 0.1] = np.nan
        rets.append(r)
        Xs.append(np.column_stack([np.ones(n), rng.normal(0, 0.01, n)]))
        dates.append(d)
    store = store_from_arrays(get_model("market"), rets, X=Xs, dates=dates)
    excl = rng.random(len(store.y)) < 0.05
    if layout == "rows":
        out = _Out([0, 1, 2, 3, 0, 2], [30, 20, 40, 25, 50, 10], rng.normal(0, 1, (6, 2)))
        sets = [np.array([0, 1, 2, 3, 4, 5]), np.array([1, 3]), np.array([0, 2, 4, 5]), np.array([4])]
    else:
        out = _Out([0, 1, 2, 3, 0, 1, 2, 3], [30, 20, 40, 25, 12, 33, 15, 28], rng.normal(0, 1, (8, 2)))
        sets = [np.array([0, 1, 2, 3]), np.array([1, 3]), np.array([4, 5, 6, 7]), np.array([4, 6]), np.array([7])]
    got = history._union_series(store, excl, out, sets)
    assert set(taken) == {layout}
    for m, (d, port, flagged) in zip(sets, got):
        total, count, flag = {}, {}, {}
        for row in m:  # members in order, sessions in order
            s = out.sec[row]
            for u in range(store.start[s], store.start[s] + store.length[s]):
                day = store.dates[u]
                v = store.y[u] - (store.X[u, 0] * out.theta[row, 0] + store.X[u, 1] * out.theta[row, 1])
                flag[day] = flag.get(day, False) or bool(excl[u])
                total.setdefault(day, 0.0)
                count.setdefault(day, 0)
                if store.span[u] != 0 and np.isfinite(v):
                    total[day] += v
                    count[day] += 1
        days = sorted(total)
        np.testing.assert_array_equal(d, days)
        np.testing.assert_array_equal(port, [total[x] / count[x] if count[x] else np.nan for x in days])
        np.testing.assert_array_equal(flagged, [flag[x] for x in days])


def test_union_series_member_order_and_an_empty_set_take_the_row_order_pass(monkeypatch):
    """A set given out of row order whose rows, in row order, do not increase in security must
    take the row-by-row pass (its sums in row order), and an empty set is no error: the series
    equal those of the same sets given sorted."""
    rng = np.random.default_rng(9)
    rets, Xs = [], []
    for n in (40, 35, 50):
        rets.append(rng.normal(0, 0.02, n))
        Xs.append(np.column_stack([np.ones(n), rng.normal(0, 0.01, n)]))
    store = store_from_arrays(get_model("market"), rets, X=Xs)
    excl = np.zeros(len(store.y), dtype=bool)
    out = _Out([2, 0, 1, 0], [10, 12, 14, 11], rng.normal(0, 1, (4, 2)))
    got = history._union_series(store, excl, out, [np.array([1, 2, 0]), np.array([3]), np.array([], dtype=int)])
    want = history._union_series(store, excl, out, [np.array([0, 1, 2]), np.array([3]), np.array([], dtype=int)])
    for (d1, p1, f1), (d2, p2, f2) in zip(got, want):
        np.testing.assert_array_equal(d1, d2)
        np.testing.assert_array_equal(p1, p2)
        np.testing.assert_array_equal(f1, f2)
