"""Event-time portfolio test and sample-quantile test against independent computations.

The portfolio reference is built here by hand from the simulated returns (means of the firms
present each day, a spanning return spread R/n), fitted with statsmodels OLS, and its CAR
variance written out (sigma^2 (L + g'(X'X)^-1 g)); the sample-quantile cases are counted by
hand in the docstrings.
"""
from __future__ import annotations

import numpy as np
import pytest
from statsmodels.regression.linear_model import OLS
from scipy import stats

from analysis.estimation import engine
from analysis.estimation import store as store_mod
from analysis.estimation.models import get_model
from analysis.inference import battery  # noqa: F401  (registers the tests)
from analysis.inference.cells import build_cells
from analysis.inference.portfolio import firm_sq_p, interval, sample_quantile_p
from analysis.inference.registry import REGISTRY

EST = (-40, -11)
WINDOWS = [(0, 0), (0, 1), (-1, 1)]
P0 = 45
LENGTH = 70


def _two_firms(seed=3):
    """Firm A: complete. Firm B: no return on estimation day -20 (the day -19 return spans
    -20..-19, so B's fit leaves out both) and suspended on day 0 (its day-1 return spans
    days 0..1 and carries the summed market row)."""
    rng = np.random.default_rng(seed)
    rm = rng.normal(0.0005, 0.01, LENGTH)
    ra = 0.001 + 1.2 * rm + rng.normal(0, 0.02, LENGTH)
    rb = -0.0005 + 0.7 * rm + rng.normal(0, 0.015, LENGTH)
    ra[P0] += 0.03
    xb = np.column_stack([np.ones(LENGTH), rm])
    span_b = np.ones(LENGTH, dtype=np.int64)
    for d in (-20, 0):  # missing day d, the next return spans d..d+1
        i = P0 + d
        rb[i + 1] += rb[i]
        rb[i] = np.nan
        xb[i + 1] += xb[i]
        xb[i] = np.nan
        span_b[i], span_b[i + 1] = 0, 2
    xa = np.column_stack([np.ones(LENGTH), rm])
    store = store_mod.store_from_arrays(get_model("market"), [ra, rb], X=[xa, xb],
                                        spans=[np.ones(LENGTH, dtype=np.int64), span_b])
    return store, ra, rb, rm, xb


def _cells(store, groups=(0, 0)):
    out = engine.run(store, np.array([0, 1]), np.array([P0, P0]), EST, WINDOWS, min_obs=20)
    return out, build_cells(out, store, np.zeros(2, dtype=np.int64), np.array(groups), 2, with_all=True,
                            event_names=["e"], group_names=["g0", "g1", "all"])


def _reference(ra, rb, rm, xb, window):
    """The equal-weighted portfolio by hand, statsmodels OLS, CAR_p, se, t, p, dof, residuals."""
    est_days = np.arange(EST[0], EST[1] + 1)
    y, X = [], []
    for d in est_days:
        i = P0 + d
        vals = [(ra[i], rm[i])]
        if d not in (-20, -19):  # B's missing day and its spanning return are not in B's fit
            vals.append((rb[i], xb[i, 1]))
        y.append(np.mean([v[0] for v in vals]))
        X.append([1.0, np.mean([v[1] for v in vals])])
    y, X = np.array(y), np.array(X)
    fit = OLS(y, X).fit()
    a, b = window
    ar, g = 0.0, np.zeros(2)
    for d in range(a, b + 1):
        i = P0 + d
        if d in (0, 1):  # B's day-1 return spans days 0..1: half of it (and of its row) on each
            rb_d, xb_d = rb[P0 + 1] / 2, xb[P0 + 1, 1] / 2
        else:
            rb_d, xb_d = rb[i], xb[i, 1]
        yp = (ra[i] + rb_d) / 2
        xp = np.array([1.0, (rm[i] + xb_d) / 2])
        ar += yp - xp @ fit.params
        g += xp
    L = b - a + 1
    var = fit.scale * (L + g @ np.linalg.inv(X.T @ X) @ g)
    se = np.sqrt(var)
    dof = len(y) - 2
    t = ar / se
    return {"car": ar, "se": se, "t": t, "p": 2 * stats.t.sf(abs(t), dof), "dof": dof, "resid": fit.resid}


def test_portfolio_two_firms_missing_day_and_spanning_return():
    store, ra, rb, rm, xb = _two_firms()
    out, cells = _cells(store)
    res = REGISTRY["portfolio"].run(cells)
    keys = cells.keys
    for j, w in enumerate(WINDOWS):
        c = np.nonzero((keys["group"] == "all").to_numpy() & (cells.cell_window == j))[0][0]
        ref = _reference(ra, rb, rm, xb, w)
        assert cells.n[c] == 2
        assert res.extra["estimate"][c] == pytest.approx(ref["car"], rel=1e-9, abs=1e-13)
        assert res.extra["se"][c] == pytest.approx(ref["se"], rel=1e-9)
        assert res.statistic[c] == pytest.approx(ref["t"], rel=1e-9, abs=1e-12)
        assert res.p_value[c] == pytest.approx(ref["p"], rel=1e-9)
        assert res.extra["dof"][c] == ref["dof"] == 28
        q, qp = stats.t.ppf(0.975, 28), stats.t.ppf(0.80, 28)
        assert res.extra["ci_low"][c] == pytest.approx(ref["car"] - q * ref["se"], rel=1e-9)
        assert res.extra["ci_high"][c] == pytest.approx(ref["car"] + q * ref["se"], rel=1e-9)
        assert res.extra["mde"][c] == pytest.approx((q + qp) * ref["se"], rel=1e-9)
        # sq: the portfolio's own residuals, L-day sums, counted here
        L = w[1] - w[0] + 1
        e = np.asarray(ref["resid"])
        sums = np.array([e[k:k + L].sum() for k in range(len(e) - L + 1)])
        lower = (1 + (sums <= ref["car"]).sum()) / (len(sums) + 1)
        upper = (1 + (sums >= ref["car"]).sum()) / (len(sums) + 1)
        sq = REGISTRY["sq"].run(cells)
        assert sq.statistic[c] == pytest.approx(ref["car"], rel=1e-9, abs=1e-13)
        assert sq.p_value[c] == pytest.approx(min(1.0, 2 * min(lower, upper)), rel=1e-12)


def test_portfolio_of_one_firm_is_its_own_test():
    """A cell of one firm without a suspension: the portfolio is the firm (same CAR, se, t, dof)."""
    store, *_ = _two_firms()
    out, cells = _cells(store, groups=(0, 1))
    res = REGISTRY["portfolio"].run(cells)
    keys = cells.keys
    for j in range(len(WINDOWS)):
        c = np.nonzero((keys["group"] == "g0").to_numpy() & (cells.cell_window == j))[0][0]
        assert cells.n[c] == 1
        assert res.statistic[c] == pytest.approx(out.car_t[0, j], rel=1e-9)
        assert res.p_value[c] == pytest.approx(out.car_p[0, j], rel=1e-9)
        assert res.extra["dof"][c] == out.dof[0]


def test_sample_quantile_by_hand():
    """Residuals [.01, -.02, (missing), .03, 0, -.01] -> used in order [.01, -.02, .03, 0, -.01];
    L = 2: J = 4 sums S = [-.01, .01, .03, -.01].
      CAR .025: #S <= .025 = 3, #S >= .025 = 1 -> lower 4/5, upper 2/5 -> p = 4/5
      CAR .05:  #S <= .05 = 4, #S >= .05 = 0 -> upper 1/5 -> p = 2/5
      CAR -.01: #S <= -.01 = 2, #S >= -.01 = 4 -> lower 3/5, upper 5/5 -> p = 1
    L = 5: J = 1 sum (.01); CAR .02 -> lower 2/2, upper 1/2 -> p = 1. L = 6 > M = 5: NaN."""
    e = np.array([0.01, -0.02, np.nan, 0.03, 0.0, -0.01])
    est = np.tile(e, (5, 1))
    p = sample_quantile_p(est, np.array([0.025, 0.05, -0.01, 0.02, 0.0]), np.array([2, 2, 2, 5, 6]))
    np.testing.assert_allclose(p[:4], [0.8, 0.4, 1.0, 1.0], rtol=1e-12)
    assert np.isnan(p[4])


def test_sample_quantile_rows_pick_each_cars_residuals():
    """rows: CAR k is tested against residual row rows[k]. Row 0 = [1, 2, 3], row 1 = [-1, (missing), 0].
      CAR 0.5 vs row 1, L = 1: S = [-1, 0], J = 2: #S <= .5 = 2, #S >= .5 = 0 -> upper 1/3 -> p = 2/3
      CAR 3.5 vs row 0, L = 1: S = [1, 2, 3]: #S <= 3.5 = 3, #S >= 3.5 = 0 -> upper 1/4 -> p = 1/2
      CAR 2.5 vs row 0, L = 2: S = [3, 5]: #S <= 2.5 = 0 -> lower 1/3 -> p = 2/3
      CAR NaN, or L = 0: NaN."""
    est = np.array([[1.0, 2.0, 3.0], [-1.0, np.nan, 0.0]])
    p = sample_quantile_p(est, np.array([0.5, 3.5, 2.5, np.nan, 1.0]), np.array([1, 1, 2, 1, 0]),
                          rows=np.array([1, 0, 0, 0, 0]))
    np.testing.assert_allclose(p[:3], [2 / 3, 0.5, 2 / 3], rtol=1e-12)
    assert np.isnan(p[3]) and np.isnan(p[4])


@pytest.mark.parametrize("threaded", [False, True])
def test_firm_sq_p_uses_sessions_covered(threaded, monkeypatch):
    """Per firm: L = the sessions the CAR covers (B's 0:0 CAR is its 2-session return); the same
    with the windows on threads (as from THREADED_FIRM_EVENTS firm-events)."""
    from analysis.inference import portfolio

    if threaded:
        monkeypatch.setattr(portfolio, "THREADED_FIRM_EVENTS", 1)
        monkeypatch.setattr(portfolio.kernels, "thread_count", lambda threads=None: threads or 2)
    store, *_ = _two_firms()
    out, _ = _cells(store)
    sq = firm_sq_p(out)
    for i in range(2):
        for j in range(len(WINDOWS)):
            L = int(out.n_sessions[i, j])
            e = out.est_ar[i][np.isfinite(out.est_ar[i])]
            sums = np.array([e[k:k + L].sum() for k in range(len(e) - L + 1)])
            car = out.car[i, j]
            lo = (1 + (sums <= car).sum()) / (len(sums) + 1)
            hi = (1 + (sums >= car).sum()) / (len(sums) + 1)
            assert sq[i, j] == pytest.approx(min(1.0, 2 * min(lo, hi)), rel=1e-12)
    assert out.n_sessions[1, 0] == 2


def test_interval_by_hand():
    """dof 10: t(.975) = 2.228139, t(.80) = 0.879058 (tables); se .01."""
    r = interval(np.array([0.05]), np.array([0.01]), np.array([10.0]))
    assert r["ci_low"][0] == pytest.approx(0.05 - 0.02228139, abs=1e-8)
    assert r["ci_high"][0] == pytest.approx(0.05 + 0.02228139, abs=1e-8)
    assert r["mde"][0] == pytest.approx(0.02228139 + 0.00879058, abs=1e-8)


def test_portfolio_path_is_the_portfolio_car_with_its_interval():
    """The figure band: CAR_p[0, tau] and its se equal the portfolio test's window 0:tau."""
    from analysis.inference.portfolio import portfolio_path

    store, ra, rb, rm, xb = _two_firms()
    out, _ = _cells(store)
    path = portfolio_path(out, np.array([0, 1]), 0, 1)
    ref = _reference(ra, rb, rm, xb, (0, 1))
    assert list(path["day"]) == [0, 1]
    assert path["car"][1] == pytest.approx(ref["car"], rel=1e-9)
    assert path["se"][1] == pytest.approx(ref["se"], rel=1e-9)
    q = stats.t.ppf(0.975, ref["dof"])
    assert path["lo"][1] == pytest.approx(ref["car"] - q * ref["se"], rel=1e-9)
    assert path["car"][0] == pytest.approx(_reference(ra, rb, rm, xb, (0, 0))["car"], rel=1e-9)


def test_portfolio_path_from_the_close_of_day_minus_1():
    """Anchored at day -1: day 1 is the portfolio test's CAR_p[0, 1] (with B's spanning return
    spread over days 0 and 1), day -2 takes back CAR_p[-1, -1], day -1 is 0; each band is the
    t-interval of its own span."""
    from analysis.inference.portfolio import portfolio_path

    store, ra, rb, rm, xb = _two_firms()
    out, _ = _cells(store)
    path = portfolio_path(out, np.array([0, 1]), -2, 1, anchor=-1)
    assert list(path["day"]) == [-2, -1, 0, 1]
    back, w0, w01 = (_reference(ra, rb, rm, xb, w) for w in ((-1, -1), (0, 0), (0, 1)))
    q = stats.t.ppf(0.975, 28)
    for k, (car, se) in enumerate([(-back["car"], back["se"]), (0.0, 0.0), (w0["car"], w0["se"]),
                                   (w01["car"], w01["se"])]):
        assert path["car"][k] == pytest.approx(car, rel=1e-9, abs=1e-14)
        assert path["se"][k] == pytest.approx(se, rel=1e-9, abs=1e-14)
        assert path["lo"][k] == pytest.approx(car - q * se, rel=1e-9, abs=1e-14)
        assert path["hi"][k] == pytest.approx(car + q * se, rel=1e-9, abs=1e-14)


EVENT = 105  # day 0 of most firm-events of _rich_store


def _rich_store(model: str, seed: int):
    """Six securities of 160 sessions under ``model`` (regressor columns random, the constant
    summed over a return's span): missing returns whose next return spans the gap, in the
    estimation window and the event period; a suspension from event day 3 to past the event
    period (the return at resumption is a tail return); a security whose data end inside the
    event period and one whose data start inside the estimation window; some sessions excluded
    from estimation (clean windows)."""
    spec = get_model(model)
    rng = np.random.default_rng(seed)
    n, p = 160, len(spec.regressors)
    rets, Xs, spans = [], [], []
    for s in range(6):
        length = n - 20 if s == 4 else n
        X = rng.normal(0.0005, 0.01, (length, p))
        for k, name in enumerate(spec.regressors):
            if name == "const":
                X[:, k] = 1.0
        r = 0.0004 + X[:, -1] * 0.8 + rng.normal(0, 0.015, length)
        span = np.ones(length, dtype=np.int64)
        gaps = [(60 + 7 * s, 2), (EVENT + 1, 1 + s % 3)] if s != 5 else [(EVENT + 3, 19)]
        if s == 2:  # day -1's return spans days -3..-1: the days before the event period are dropped
            gaps.append((EVENT - 3, 2))
        for at, k in gaps:
            if at + k >= length:
                continue
            r[at + k] += np.nansum(r[at:at + k])
            X[at + k] += X[at:at + k].sum(axis=0)
            r[at:at + k], X[at:at + k], span[at:at + k], span[at + k] = np.nan, np.nan, 0, k + 1
        rets.append(r)
        Xs.append(X)
        spans.append(span)
    store = store_mod.store_from_arrays(spec, rets, X=Xs, spans=spans)
    excluded = np.zeros(len(store.ret), dtype=bool)
    excluded[store.start[1] + 30: store.start[1] + 34] = True
    store.set_excluded(excluded)
    return store


@pytest.mark.parametrize("model,chunk", [("market", 2048), ("mean", 2048), ("market-adjusted", 2048), ("ff3", 2048),
                                         ("market", 2), ("market", "members")])
def test_portfolio_passes_equal_the_engine_run_on_a_portfolio_store(model, chunk, monkeypatch):
    """The compiled passes against the implementation they replaced (tests/portfolio_reference.py:
    each cell's portfolio series laid out as a store and run through the engine), per cell and
    window, to 1e-12: cells of one to six firm-events, sets repeated across cells, estimation
    windows cut by the start of the data, event periods by its end, spreads and tail returns;
    chunk 2: the sets in chunks of two, on two threads; "members": few sets with many members
    (THREADED_FIRM_EVENTS), the sets in two halves on two threads."""
    from analysis.inference import portfolio
    from portfolio_reference import reference_cells

    if chunk == "members":
        monkeypatch.setattr(portfolio, "THREADED_FIRM_EVENTS", 1)
        chunk = 2048
    monkeypatch.setattr(portfolio, "CHUNK", chunk)
    monkeypatch.setattr(portfolio, "THREADED_SETS", 1 if chunk == 2 else portfolio.THREADED_SETS)
    monkeypatch.setattr(portfolio.kernels, "thread_count", lambda threads=None: 2)

    store = _rich_store(model, seed=7)
    sec = np.array([0, 1, 2, 3, 4, 5, 0, 2])
    p0 = np.array([EVENT, EVENT, EVENT, 50, 135, EVENT, EVENT - 20, EVENT + 10])
    windows = [(0, 0), (0, 1), (-1, 1), (0, 5), (2, 9)]
    res = engine.run(store, sec, p0, (-100, -11), windows, min_obs=20)
    assert res.tail_valid.any() and (res.span > 1).any()
    sets = [[0, 1, 2, 3, 4, 5], [0], [5], [1, 2], [0, 1, 2, 3, 4, 5], [3, 4], [6, 7, 0], [2, 1], [4]]
    rows = np.concatenate([np.array(s) for s in sets])
    cell = np.repeat(np.arange(len(sets)), [len(s) for s in sets])
    run = portfolio.portfolios(res, rows, cell, len(sets))
    ref = reference_cells(res, rows, cell, len(sets))
    u = run.of_cell
    assert u[0] == u[4] and u[3] == u[7] and len(np.unique(u)) == len(sets) - 2
    assert ref["ok"].sum() >= 5
    np.testing.assert_array_equal(run.ok[u], ref["ok"])
    for name in ("car", "car_se", "car_t", "car_p"):
        np.testing.assert_allclose(getattr(run, name)[u], ref[name], rtol=1e-12, atol=1e-15, err_msg=name)
    np.testing.assert_array_equal(np.where(run.ok, run.dof, np.nan)[u], ref["dof"])
    L = np.array([b - a + 1 for a, b in windows])
    C, W = ref["car"].shape
    sq = sample_quantile_p(ref["est_ar"], ref["car"].ravel(), np.tile(L, C), rows=np.repeat(np.arange(C), W))
    np.testing.assert_array_equal(run.sq_p[u], sq.reshape(C, W))


@pytest.mark.parametrize("model", ["market", "mean", "market-adjusted", "ff3"])
def test_portfolio_series_equals_its_loop_reference_bit_for_bit(model):
    """The series pass (1-D views, the constant column's sums copied from the counts) against
    the loop it replaced (tests/portfolio_series_reference.py): every output bit for bit, on
    sets of one to eight firm-events with estimation windows cut by the start of the data,
    event periods by its end, spreads and tail returns."""
    from analysis.inference import portfolio, portfolio_kernel
    from portfolio_series_reference import portfolio_series_loop

    store = _rich_store(model, seed=11)
    sec = np.array([0, 1, 2, 3, 4, 5, 0, 2])
    p0 = np.array([EVENT, EVENT, EVENT, 50, 135, EVENT, EVENT - 20, EVENT + 10])
    res = engine.run(store, sec, p0, (-100, -11), [(0, 0), (-1, 1), (0, 5)], min_obs=20)
    assert res.tail_valid.any() and (res.span > 1).any()
    rng = np.random.default_rng(5)
    sets = [np.sort(rng.choice(8, size=k, replace=False)) for k in rng.integers(1, 9, size=40)]
    members = np.concatenate(sets).astype(np.int64)
    ptr = np.concatenate([[0], np.cumsum([len(s) for s in sets])]).astype(np.int64)
    arrays = portfolio._member_arrays(res)
    T, p, U = int(res.days[-1] + 100 + 1), arrays["XTu"].shape[0], len(sets)
    outs = []
    for kernel in (portfolio_kernel.portfolio_series, portfolio_series_loop):
        out = {"ok": np.zeros((U, T), dtype=bool), "yp": np.empty((U, T)), "Xp": np.empty((U, p, T)),
               "xtx": np.empty((U, p, p)), "xty": np.empty((U, p))}
        kernel(ptr, members, **arrays, **out)
        outs.append(out)
    assert outs[1]["ok"][:, :arrays["e_len"]].all(axis=1).sum() < U  # some estimation days missing
    for name in outs[1]:
        assert outs[0][name].tobytes() == outs[1][name].tobytes(), name
