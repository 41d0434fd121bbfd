"""Cross-sectional tests against hand-computed and independently computed values.

t_cs (Brown & Warner 1985), Patell (1976), BMP (Boehmer, Musumeci & Poulsen 1991), BMP with the
Kolari & Pynnönen (2010) correction, and Cowan's (1992) generalized sign test with a pooled p.
The mean pairwise correlation r is computed here with ``pandas.DataFrame.corr(min_periods=30)``
on estimation-window ARs indexed by calendar date (firms on different calendars, missing days).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.inference import battery  # noqa: F401  (registers the tests)
from analysis.inference.cells import CALENDAR_KEY, Cells, build_cells
from analysis.inference.registry import REGISTRY
from analysis.inference.spec import StudySpec
from kp_reference import kp_cell_correlations
from analysis.data.calendars import calendar

TESTS = ("t_cs", "patell", "bmp", "bmp_kp", "gen_sign")


def cell_tests(cell, n_cells, car, car_se, dof, est_pos, est_n, r_kp) -> dict[str, np.ndarray]:
    """The registered parametric tests on cells given by their members' arrays."""
    cells = Cells.from_members(cell, car, car_se, dof, est_pos, est_n, r_kp, n_cells=n_cells)
    out = {"n": cells.n, "mean_car": cells.mean_car}
    for name in TESTS:
        res = REGISTRY[name].run(cells)
        out[f"{name}_stat"], out[f"{name}_p"] = res.statistic, res.p_value
    return out


def close(actual, expected, rtol=1e-9, atol=1e-12):
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float),
                               rtol=rtol, atol=atol)


def norm_p(z):
    return math.erfc(abs(z) / math.sqrt(2.0))


# ----------------------------------------------------------------------------- hand case


def test_cell_tests_by_hand():
    # cell 0: three firms; cell 1: one firm (N < 2: not applicable)
    car = np.array([0.02, 0.04, -0.01, 0.03])
    se = np.array([0.01, 0.02, 0.01, 0.01])  # SCAR = 2, 2, -1 | 3
    dof = np.array([100.0, 50.0, 200.0, 100.0])  # M - k
    est_pos = np.array([55.0, 20.0, 110.0, 50.0])
    est_n = np.array([100.0, 50.0, 200.0, 100.0])
    out = cell_tests(np.array([0, 0, 0, 1]), 2, car, se, dof, est_pos, est_n, np.array([0.1, np.nan]))
    close(out["n"], [3, 1])
    close(out["mean_car"], [0.05 / 3, 0.03])
    # t_cs: deviations 1/300, 7/300, -8/300 -> sd = sqrt(114/90000 / 2) = 0.02516611..., t = 1.14707866...
    close(out["t_cs_stat"][0], 1.1470786693528088)
    # t(2): two-sided p = 1 - t / sqrt(2 + t^2)
    t = 1.1470786693528088
    close(out["t_cs_p"][0], 1 - t / math.sqrt(2 + t * t))
    # Patell: sum SCAR = 3; sum dof/(dof-2) = 100/98 + 50/48 + 200/198 = 3.0721757...
    close(out["patell_stat"][0], 1.7115840077176876)
    close(out["patell_p"][0], norm_p(1.7115840077176876))
    # BMP: mean SCAR 1, sd SCAR sqrt((1 + 1 + 4)/2) = sqrt(3): t = 1 / (sqrt(3)/sqrt(3)) = 1; p = 1 - 1/sqrt(3)
    close(out["bmp_stat"][0], 1.0)
    close(out["bmp_p"][0], 1 - 1 / math.sqrt(3))
    # KP: 1 * sqrt((1 - 0.1) / (1 + 2 * 0.1)) = sqrt(0.75)
    close(out["bmp_kp_stat"][0], math.sqrt(0.75))
    close(out["bmp_kp_p"][0], 1 - math.sqrt(0.75) / math.sqrt(2.75))
    # generalized sign: w = 2 positive CARs; pooled p = (55 + 20 + 110) / 350
    p = 185 / 350
    close(out["gen_sign_stat"][0], (2 - 3 * p) / math.sqrt(3 * p * (1 - p)))
    close(out["gen_sign_stat"][0], 0.47915887719338923)
    # N = 1: every test not applicable, no error
    for test in TESTS:
        assert np.isnan(out[f"{test}_stat"][1]) and np.isnan(out[f"{test}_p"][1]), test


def test_cell_tests_empty_input_does_not_fail():
    e = np.zeros(0)
    out = cell_tests(np.zeros(0, dtype=np.int64), 0, e, e, e, e, e, e)
    assert len(out["n"]) == 0


# ----------------------------------------------------------------------------- correlations


def _ar_panel(seed=7):
    """(n, L) AR matrix with NaNs and calendar-day numbers: firms on two calendars, a firm with
    missing days, and a firm sharing fewer than 30 dates with the others."""
    rng = np.random.default_rng(seed)
    days = np.arange(17000, 17000 + 200)  # calendar day numbers
    common = rng.normal(size=len(days))
    firms = []
    for i in range(5):
        ar = 0.4 * common + rng.normal(size=len(days))
        mask = np.ones(len(days), bool)
        if i in (0, 1):
            mask &= (days % 7) < 5  # calendar A
        else:
            mask &= (days % 7) != 3  # calendar B: different closed days
        if i == 2:
            mask[50:60] = False  # a suspension
        if i == 4:
            mask[:] = False
            mask[170:195] = True  # only 25 dates at all
        firms.append((np.where(mask, ar, np.nan), days))
    L = 180
    ar = np.full((5, L), np.nan)
    dates = np.zeros((5, L), dtype=np.int64)
    for i, (a, d) in enumerate(firms):
        keep = np.nonzero(np.isfinite(a))[0][-L:]
        ar[i, :len(keep)] = a[keep]
        dates[i, :len(keep)] = d[keep]
        dates[i, len(keep):] = 0  # padding: NaN ARs, any date
    return ar, dates


def _pandas_corr(ar, dates):
    cols = {}
    for i in range(ar.shape[0]):
        ok = np.isfinite(ar[i])
        cols[i] = pd.Series(ar[i][ok], index=dates[i][ok])
    return pd.DataFrame(cols).corr(min_periods=30).to_numpy(copy=True)


def test_kp_cell_correlations_match_pandas():
    ar, dates = _ar_panel()
    ar2, dates2 = _ar_panel(seed=8)
    # two events stacked: rows 0-4 event 0, rows 5-9 event 1
    A = np.vstack([ar, ar2])
    D = np.vstack([dates, dates2])
    ev = np.repeat([0, 1], 5)
    # cells: event 0 all firms; event 0 firms {0, 2, 4}; event 1 firms {1, 3}; event 1 firm {4} alone
    cells = [(0, [0, 1, 2, 3, 4]), (0, [0, 2, 4]), (1, [1, 3]), (1, [4])]
    member_rows = np.concatenate([[e * 5 + i for i in m] for e, m in cells])
    member_cells = np.concatenate([[c] * len(m) for c, (e, m) in enumerate(cells)])
    got = kp_cell_correlations(ev, A, D, np.array([e for e, _ in cells]),
                                            member_rows=member_rows, member_cells=member_cells)
    expect = []
    for e, members in cells:
        block = (ar, dates) if e == 0 else (ar2, dates2)
        c = _pandas_corr(block[0][members], block[1][members])
        off = c[~np.eye(len(members), dtype=bool)]
        off = off[np.isfinite(off)]
        expect.append(off.mean() if off.size else np.nan)
    np.testing.assert_allclose(got, expect, rtol=1e-10, equal_nan=True)
    assert np.isnan(got[3])


# ----------------------------------------------------------------------------- synthetic panel

EST = (-120, -11)
DAY0 = "2019-06-03"  # a session on both XNYS and XSHG
DAY0_AT = "2019-06-03T01:00-04:00"  # 13:00 Beijing: before both closes of 3 Jun (day 0 on both)
PANEL_WINDOWS = ("0:0", "-1:1", "0:5")


def _sessions(mic):
    s = calendar(mic).sessions  # the package's calendar (built under its warning filter)
    return pd.DatetimeIndex(s[(s >= "2018-09-03") & (s <= "2019-07-31")])


@pytest.fixture(scope="module")
def panel_data():
    """Synthetic prices: 3 XNYS suppliers (one with a 3-session halt in its estimation window),
    2 XSHG targets (one with only 25 estimation returns), 1 XNYS peer alone in its group."""
    rng = np.random.default_rng(20240601)
    all_days = pd.date_range("2018-09-01", "2019-08-01", freq="D")
    factor = pd.Series(rng.normal(0, 0.01, len(all_days)), index=all_days)  # common to both calendars
    sess = {"XNYS": _sessions("XNYS"), "XSHG": _sessions("XSHG")}
    bench_ret = {"XNYS": pd.Series(rng.normal(0.0003, 0.009, len(sess["XNYS"])), index=sess["XNYS"]),
                 "XSHG": pd.Series(rng.normal(0.0002, 0.012, len(sess["XSHG"])), index=sess["XSHG"])}
    prices = {"USB": 3000 * (1 + bench_ret["XNYS"]).cumprod(), "CNB": 4000 * (1 + bench_ret["XSHG"]).cumprod()}
    spec = {  # symbol: (exchange, benchmark, role, beta, event-day shift)
        "USA": ("XNYS", "USB", "supplier", 1.2, -0.03),
        "USBB": ("XNYS", "USB", "supplier", 0.8, 0.01),
        "USC": ("XNYS", "USB", "supplier", 1.5, -0.05),
        "CNA": ("XSHG", "CNB", "target", 1.1, -0.08),
        "CNB2": ("XSHG", "CNB", "target", 0.9, -0.02),
        "PEER": ("XNYS", "USB", "peer", 1.0, 0.0),
    }
    securities = {}
    for sym, (mic, bench, role, beta, shift) in spec.items():
        s = sess[mic]
        r = 0.0002 + beta * bench_ret[mic] + 0.8 * factor.reindex(s).to_numpy() + rng.normal(0, 0.015, len(s))
        d0 = s.get_loc(pd.Timestamp(DAY0))
        r.iloc[d0] += shift
        px = 50 * (1 + r).cumprod()
        if sym == "USC":
            px.iloc[d0 - 60: d0 - 57] = np.nan  # 3-session halt inside the estimation window
        if sym == "CNB2":
            px.iloc[d0 - 120: d0 - 36] = np.nan  # estimation returns only on days -35..-11
        prices[sym] = px
        securities[sym] = (mic, bench, role)
    return securities, prices, sess


@pytest.fixture(scope="module")
def panel_result(panel_data, tmp_path_factory):
    from analysis.study import EventStudy

    securities, prices, _ = panel_data
    d = tmp_path_factory.mktemp("panel")
    (d / "u.csv").write_text("symbol,name,role,exchange,benchmark\n" + "".join(
        f"{s},{s},{role},{mic},{b}\n" for s, (mic, b, role) in securities.items()))
    (d / "e.csv").write_text(f"event_id,announced_at,title,kind,source\npanel_event,{DAY0_AT},t,action,s\n")
    frames = {s: pd.DataFrame({"close": p, "adj_close": p, "volume": 1e6}).dropna().rename_axis("date")
              for s, p in prices.items()}
    return EventStudy(events=d / "e.csv", universe=d / "u.csv", prices=frames, estimation=EST,
                      windows=list(PANEL_WINDOWS), min_obs=20, placebo_draws=0).fit()


def expected_tests(models: dict, members: list[str], window: str) -> dict:
    """All five statistics and p-values for one cell, from first principles."""
    a, b = map(int, window.split(":"))
    w = {s: models[s].window(a, b) for s in members}
    car = np.array([w[s]["car"] for s in members])
    se = np.array([w[s]["se"] for s in members])
    dof = np.array([models[s].dof for s in members], dtype=float)
    n = len(members)
    scar = car / se
    out = {"n": n, "mean_car": car.mean()}
    if n < 2:  # not applicable: every statistic NaN
        return {**out, **{k: (np.nan, np.nan) for k in TESTS}, "r": np.nan}
    t = car.mean() / (car.std(ddof=1) / np.sqrt(n))
    out["t_cs"] = (t, 2 * stats.t.sf(abs(t), n - 1))
    z = scar.sum() / np.sqrt((dof / (dof - 2)).sum())
    out["patell"] = (z, norm_p(z))
    bmp = scar.mean() / (scar.std(ddof=1) / np.sqrt(n))
    out["bmp"] = (bmp, 2 * stats.t.sf(abs(bmp), n - 1))
    ars = pd.DataFrame({s: models[s].est_ar for s in members})  # indexed by calendar date
    c = ars.corr(min_periods=30).to_numpy(copy=True)
    off = c[~np.eye(n, dtype=bool)]
    off = off[np.isfinite(off)]
    r = off.mean() if off.size else np.nan
    kp = bmp * np.sqrt((1 - r) / (1 + (n - 1) * r))
    out["bmp_kp"] = (kp, 2 * stats.t.sf(abs(kp), n - 1))
    out["r"] = r
    pos = sum(int((models[s].est_ar > 0).sum()) for s in members)
    tot = sum(models[s].M for s in members)
    p = pos / tot
    g = ((car > 0).sum() - n * p) / np.sqrt(n * p * (1 - p))
    out["gen_sign"] = (g, norm_p(g))
    return out


def check_cell(tests: pd.DataFrame, event_id, group, window, exp):
    cell = tests[(tests["event_id"] == event_id) & (tests["group"] == group) & (tests["window"] == window)]
    cell = cell[cell["test"].isin(TESTS)].set_index("test")
    assert sorted(cell.index) == sorted(TESTS)
    assert (cell["n"] == exp["n"]).all()
    close(cell["mean_car"], exp["mean_car"], rtol=1e-8)
    for test in TESTS:
        stat, p = exp[test]
        if np.isnan(stat):
            assert np.isnan(cell.loc[test, "statistic"]), (group, test)
            continue
        close(cell.loc[test, "statistic"], stat, rtol=1e-7, atol=1e-10)
        close(cell.loc[test, "p_value"], p, rtol=1e-6, atol=1e-12)
    if np.isfinite(exp.get("r", np.nan)):
        close(cell.loc["bmp_kp", "r_kp"], exp["r"], rtol=1e-8)
    else:
        assert np.isnan(cell.loc["bmp_kp", "r_kp"])


@pytest.fixture(scope="module")
def panel_models(panel_data, reference_model):
    Reference = reference_model
    securities, prices, sess = panel_data
    return {s: Reference(prices[s], prices[b], sess[mic], DAY0, est=EST)
            for s, (mic, b, role) in securities.items()}


def test_panel_reference_has_the_intended_shape(panel_models):
    m = panel_models
    assert m["USA"].M == 110 and m["USC"].M == 106  # 3 halted sessions + the spanning return left out
    assert m["CNB2"].M == 25
    shared = pd.DataFrame({s: m[s].est_ar for s in m}).notna().astype(int)
    shared = shared.T @ shared
    assert (shared.loc["CNB2"].drop("CNB2") < 30).all()  # every pair with CNB2 is dropped from r
    assert 30 <= shared.loc["USA", "CNA"] < 110  # different calendars: fewer shared dates


@pytest.mark.parametrize("window", PANEL_WINDOWS)
def test_panel_tests_match_independent_computation(panel_result, panel_models, window):
    res = panel_result
    est = res.estimation.set_index("symbol")
    for s, m in panel_models.items():
        assert est.loc[s, "m"] == m.M
        close(est.loc[s, ["alpha", "beta", "sigma"]].to_numpy(dtype=float), [*m.params, m.sigma], rtol=1e-8)
    groups = {"supplier": ["USA", "USBB", "USC"], "target": ["CNA", "CNB2"],
              "all": ["USA", "USBB", "USC", "CNA", "CNB2", "PEER"]}
    for g, members in groups.items():
        check_cell(res.tests, "panel_event", g, window, expected_tests(panel_models, members, window))
    # the target pair shares < 30 dates: r (and so the KP statistic) is not available
    kp = res.tests[(res.tests["group"] == "target") & (res.tests["test"] == "bmp_kp")]
    assert kp["statistic"].isna().all()
    # one peer: N < 2 -> NaN statistics of the cross-sectional tests, no error (the portfolio
    # and sample-quantile tests apply to one firm)
    peer = res.tests[(res.tests["group"] == "peer") & (res.tests["window"] == window)]
    cross = peer[peer["test"].isin(TESTS)]
    assert (peer["n"] == 1).all() and cross["statistic"].isna().all() and cross["p_value"].isna().all()
    assert peer.loc[peer["test"] == "portfolio", "p_value"].notna().all()


# ----------------------------------------------------------------------------- real data


@pytest.mark.shared_prices
@pytest.mark.parametrize("window", ["0:0", "-1:1"])
def test_real_event_tests_match_independent_computation(run_study, ref, window):
    from analysis.data.catalog import load_universe

    event = "nyt_hikvision_2019"
    res = run_study(events=[event])
    uni = load_universe()
    sessions = {"000300.SS": ref.sessions("000300.SS"), "^GSPC": ref.sessions("^GSPC")}
    models = {r.symbol: ref.Model(ref.adj(r.symbol), ref.adj(r.benchmark), sessions[r.benchmark],
                                  "2019-05-22", est=(-250, -11))
              for r in uni.itertuples() if r.symbol in set(res.estimation["symbol"])}
    assert len(models) == len(uni) == 30
    # data/event_firms.csv: the NYT and Bloomberg reports named Hikvision and Dahua; their US
    # suppliers (data/supply_links.csv, IPVM via Reuters) are the supplier group, the others supplier_other
    named = ["002415.SZ", "002236.SZ"]
    linked = ["AMBA", "INTC", "NVDA", "WDC", "STX"]
    suppliers = list(uni.loc[uni["role"] == "supplier", "symbol"])
    by_group = {"named": named,
                "peer": [s for s in uni.loc[uni["role"] != "supplier", "symbol"] if s not in named],
                "supplier": [s for s in suppliers if s in linked],
                "supplier_other": [s for s in suppliers if s not in linked], "all": list(uni["symbol"])}
    for g, members in by_group.items():
        exp = expected_tests(models, members, window)
        if len(members) < 2:
            exp.update({k: (np.nan, np.nan) for k in TESTS}, r=np.nan)
        check_cell(res.tests, event, g, window, exp)


@pytest.mark.shared_prices
@pytest.mark.parametrize("primary_test", ["portfolio", "bmp_kp"])
def test_a_fit_keeps_no_kp_calendar_series_and_they_come_back_right(synthetic_study, make_prices, primary_test):
    """study.fit drops the store's cached calendar-aligned series once its last KP correlations are
    done (release_calendar_series: about 590 MiB at 10,000 firms, kept to the end before), also
    when the date-sensitivity re-run's primary test (bmp_kp) builds them again on the same store;
    cells built on the fitted store afterwards rebuild them, with r equal to the scatter
    reference."""
    rng = np.random.default_rng(8)
    s = calendar("XNYS").sessions
    dates = pd.DatetimeIndex(s[(s >= "2018-01-02") & (s <= "2019-12-31")].date)
    mkt = rng.normal(0, 0.01, len(dates))
    prices = {"IDX": make_prices(dates, mkt[1:])}
    securities = {}
    for k in range(6):
        prices[f"F{k}"] = make_prices(dates, 0.8 * mkt[1:] + rng.normal(0, 0.01, len(dates) - 1))
        securities[f"F{k}"] = ("XNYS", "IDX", "target" if k < 3 else "supplier")
    spec = StudySpec(primary_test=primary_test, placebo_draws=0, exclude_event_days=0)
    res = synthetic_study(securities, prices, {"e1": "2019-06-03", "e2": "2019-09-03"}, spec=spec)
    assert len(res.sensitivity)  # date-only events: the after-close re-run ran
    store, out = res.panel.store, res.engine_result
    assert not any(isinstance(k, tuple) and k[0] == CALENDAR_KEY for k in store._cache)
    ev = pd.factorize(res.panel.frame["event_id"])[0]
    roles = pd.factorize(res.panel.frame["role"])[0]
    cells = build_cells(out, store, ev, roles, 2)
    again = cells.r_kp
    assert any(isinstance(k, tuple) and k[0] == CALENDAR_KEY for k in store._cache)
    ref = kp_cell_correlations(ev, out.est_ar, out.est_window.take(store.date_rank), cells.cell_event,
                               member_rows=cells.rows, member_cells=cells.cell)
    assert np.isfinite(ref).all()
    np.testing.assert_allclose(again, ref, rtol=0, atol=1e-12)


def test_aligned_kp_correlation_matches_the_scatter_reference(full_catalog):
    """The engine path (calendar-aligned, no scatter) gives the same r as the scatter
    reference (itself checked against pandas above), on the real catalog where firms sit on
    two calendars, one event has suspensions and one firm's data end before an event."""
    res = full_catalog
    panel, out = res.panel, res.engine_result
    ev = pd.factorize(panel.frame["event_id"])[0]
    roles = pd.factorize(panel.frame["role"])[0]
    cells = build_cells(out, panel.store, ev, roles, int(roles.max()) + 1)
    ref = kp_cell_correlations(ev, out.est_ar, out.est_window.take(panel.store.date_rank),
                               cells.cell_event, member_rows=cells.rows, member_cells=cells.cell)
    assert np.isfinite(ref).sum() > 10
    np.testing.assert_allclose(cells.r_kp, ref, rtol=0, atol=1e-12, equal_nan=True)


# ----------------------------------------------------------------------------- exact sign test


def test_exact_sign_by_hand():
    """w = 4 of N = 4 positive, p = 1/2: P(W = 4) = P(W = 0) = 1/16, the only outcomes as
    unlikely -> p = 2/16 = 0.125. w = 3 of 4, p = 0.6: P(W = j) = [.0256, .1536, .3456,
    .3456, .1296]; those <= P(W = 3) = .3456: all -> p = 1. w = 0 of 4, p = 0.6: P(W = 0) =
    .0256, no other as small -> p = .0256. Cell 3 (one firm, w = 1, p = .5): p = 1."""
    car = np.array([0.01, 0.02, 0.03, 0.04, 0.01, 0.02, 0.03, -0.04, -0.01, -0.02, -0.03, -0.04, 0.02])
    cell = np.repeat([0, 1, 2, 3], [4, 4, 4, 1])
    est_n = np.full(13, 100.0)
    est_pos = np.where(cell == 0, 50.0, np.where(cell == 3, 50.0, 60.0))
    cells = Cells.from_members(cell, car, np.full(13, 0.01), np.full(13, 98.0), est_pos, est_n, n_cells=4)
    res = REGISTRY["sign_exact"].run(cells)
    close(res.p_value, [0.125, 1.0, 0.0256, 1.0], rtol=1e-9)
    close(res.statistic, [4 - 2, 3 - 2.4, 0 - 2.4, 1 - 0.5])


def test_exact_sign_matches_scipy_binomtest():
    from analysis.inference.parametric import binomial_two_sided_p

    rng = np.random.default_rng(1)
    n = rng.integers(1, 15, 300)
    k = np.array([rng.integers(0, m + 1) for m in n])
    p = rng.uniform(0.3, 0.7, 300)
    p[:5] = 0.5
    ours = binomial_two_sided_p(k, n, p)
    ref = [stats.binomtest(int(a), int(b), float(c)).pvalue for a, b, c in zip(k, n, p)]
    close(ours, ref, rtol=1e-9, atol=1e-15)


def test_overlap_flags_equal_a_row_by_row_scan():
    """flags.overlaps against a scan of every firm-event and window: the other catalog events
    whose day 0 on the same security lies in the window, ';'-joined in the catalog rows' order
    (catalog rows given out of event order, events repeated over securities)."""
    from analysis.inference import flags

    rng = np.random.default_rng(2)
    cat = pd.DataFrame({"event_id": ["b", "a", "b", "c", "a", "d", "c", "d", "e"],
                        "sec": [1, 0, 0, 0, 1, 0, 1, 1, 0], "p0": [100, 103, 101, 98, 96, 105, 99, 104, 120]})
    N = 60
    ids = rng.choice(["a", "b", "c", "x"], N)
    sec = rng.integers(0, 3, N)
    p0 = rng.integers(90, 115, N)
    lo, hi = np.array([0, -1, -5, 0]), np.array([0, 1, 5, 10])
    got = flags.overlaps(ids, sec, p0, lo, hi, cat)
    for i in range(N):
        for j in range(len(lo)):
            hits = [e for e, s, p in cat.itertuples(index=False)
                    if s == sec[i] and e != ids[i] and p0[i] + lo[j] <= p <= p0[i] + hi[j]]
            assert got[i, j] == ";".join(dict.fromkeys(hits)), (i, j)
    assert (got != "").sum() > 20 and any(";" in t for t in got.ravel())


def test_a_cell_below_min_n_gets_nan_and_its_reason():
    # cell 0: one firm (below every parametric test's 2, not the exact sign test's 1); cell 1: three
    cells = Cells.from_members([0, 1, 1, 1], [0.01, 0.02, -0.01, 0.03], [0.01] * 4, [98.0] * 4,
                               [120.0] * 4, [240.0] * 4, r_kp=[0.1, 0.1])
    out = REGISTRY["t_cs"].run(cells)
    assert np.isnan(out.statistic[0]) and np.isnan(out.p_value[0]) and np.isfinite(out.statistic[1])
    assert out.reason.tolist() == ["fewer than 2 firms", ""]
    assert REGISTRY["sign_exact"].run(cells).reason.tolist() == ["", ""]


def _panel_cells(panel_result):
    """Cells of the panel study's result, r_kp not computed yet."""
    res = panel_result
    ev = pd.factorize(res.panel.frame["event_id"])[0]
    roles, names = pd.factorize(res.panel.frame["role"])
    return build_cells(res.engine_result, res.panel.store, ev, roles, len(names), event_names=["panel_event"],
                       group_names=[*names, "all"])


def test_the_battery_computes_what_a_test_reads_on_a_thread_with_the_same_rows(panel_result, monkeypatch):
    """run_battery computes r_kp (BMPKolariPynnonen.reads) on another thread while the tests that
    do not read it run: the KP computation waits until the t-test has run on the main thread
    (which it would not reach if the battery waited for r_kp first); the frame is the one
    computed in registry order on one thread."""
    import threading

    import analysis.inference.cells as cells_module

    kp = type(REGISTRY["bmp_kp"])
    assert kp.reads == ("r_kp",)
    on_thread, overlapped = [], []
    t_cs_ran = threading.Event()
    real_kp, real_t = cells_module.kp_cell_correlations_aligned, REGISTRY["t_cs"].compute

    def spy(*args, **kwargs):
        on_thread.append(threading.current_thread() is not threading.main_thread())
        if on_thread[-1]:
            overlapped.append(t_cs_ran.wait(timeout=10))
        return real_kp(*args, **kwargs)

    def t_cs(cells):
        t_cs_ran.set()
        return real_t(cells)

    monkeypatch.setattr(cells_module, "kp_cell_correlations_aligned", spy)
    monkeypatch.setattr(REGISTRY["t_cs"], "compute", t_cs)
    ahead = battery.run_battery(_panel_cells(panel_result))
    assert on_thread == [True] and overlapped == [True]  # once, beside the other tests
    monkeypatch.setattr(kp, "reads", ())
    inline = battery.run_battery(_panel_cells(panel_result))
    assert on_thread == [True, False]
    pd.testing.assert_frame_equal(ahead, inline)
    assert list(dict.fromkeys(ahead["test"])) == [t for t in REGISTRY if t in set(ahead["test"])]
    assert np.isfinite(ahead.loc[ahead["test"] == "bmp_kp", "r_kp"]).any()


def test_an_error_computing_what_a_test_reads_is_raised_by_the_battery(panel_result, monkeypatch):
    """The error of the thread computing r_kp is raised by run_battery (computed again on the main
    thread, r_kp would succeed: the error must come from the thread)."""
    import threading

    import analysis.inference.cells as cells_module

    real = cells_module.kp_cell_correlations_aligned

    def broken_on_a_thread(*args, **kwargs):
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("kp failed")
        return real(*args, **kwargs)

    monkeypatch.setattr(cells_module, "kp_cell_correlations_aligned", broken_on_a_thread)
    with pytest.raises(RuntimeError, match="kp failed"):
        battery.run_battery(_panel_cells(panel_result))


def test_cells_cached_quantities_are_computed_once_and_take_no_shared_lock():
    """Cells' cached quantities: computed on first read, then kept (not computed again); and no
    lock shared between instances (functools.cached_property's before Python 3.12): a thread
    computing one Cells' quantity does not hold up another thread reading another Cells'."""
    import threading

    from analysis.inference import cells as cells_module

    calls = []
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    class Slow(Cells):
        @cells_module.cached
        def slow(self):
            calls.append(self)
            k = len(calls)
            if k == 1:
                started.set()
                release.wait(timeout=10)
                finished.set()
            return k

    a = Slow.from_members([0, 0, 1], [0.01, 0.02, 0.03], [0.01] * 3)
    b = Slow.from_members([0, 1], [0.01, 0.02], [0.01] * 2)
    worker = threading.Thread(target=lambda: a.slow)
    worker.start()
    assert started.wait(timeout=10)
    assert b.slow == 2 and not finished.is_set()  # while a's is still being computed on the other thread
    release.set()
    worker.join(timeout=10)
    assert a.slow == 1 and a.slow == 1 and b.slow == 2 and len(calls) == 2


@pytest.mark.parametrize("first", ["analysis.inference.ranks", "analysis.inference.placebo",
                                   "analysis.inference.parametric"])
def test_the_registry_keeps_tests_csv_order_whatever_module_is_imported_first(first):
    """tests.csv lists the portfolio, parametric, rank and placebo tests in that order also when
    an analyst imports one family's module before the others (a new process: imports once)."""
    import subprocess
    import sys

    code = (f"import {first}\nimport analysis.inference.battery\n"
            "from analysis.inference.registry import REGISTRY\nprint(' '.join(REGISTRY))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["portfolio", "sq", "t_cs", "patell", "bmp", "bmp_kp", "gen_sign", "sign_exact",
                                   "corrado", "grank", "placebo"]
