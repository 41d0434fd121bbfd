"""Pooled tests across events, against scipy / statsmodels and hand-computed values."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects

from analysis.inference.pooled import MIN_EVENTS, POOLED_TESTS, not_applicable, pool

CAR = np.array([-0.052, -0.018, 0.011, -0.083, -0.029, -0.064, 0.004])
SE = np.array([0.021, 0.015, 0.032, 0.024, 0.011, 0.019, 0.027])


def test_pooled_mean_is_the_one_sample_t_test():
    ref = stats.ttest_1samp(CAR, 0.0)
    ci = ref.confidence_interval(0.95)
    r = pool("pooled_mean", CAR, SE)
    assert r.n_events == 7 and r.dof == 6
    assert r.estimate == pytest.approx(CAR.mean(), abs=1e-15)
    assert r.se == pytest.approx(CAR.std(ddof=1) / math.sqrt(7), rel=1e-12)
    assert r.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    assert (r.ci_low, r.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-12)
    assert math.isnan(r.tau2) and math.isnan(r.i2)


def test_pooled_mean_by_hand():
    # CAR -3%, -1%, -5%: mean -3%, sd 2%, se 2%/sqrt(3), t = -3 sqrt(3)/2 = -2.598..., 2 dof;
    # two-sided p of t(2) at 2.598: 2 * (1/2 - t/(2 sqrt(2 + t^2))) (closed form for 2 dof).
    r = pool("pooled_mean", [-0.03, -0.01, -0.05], [0.01, 0.01, 0.01])
    t = -3 * math.sqrt(3) / 2
    assert r.statistic == pytest.approx(t, rel=1e-12)
    assert r.p_value == pytest.approx(1 - abs(t) / math.sqrt(2 + t * t), rel=1e-10)
    # 97.5% quantile of t(2): sqrt(2) * q / sqrt(1 - q^2) with q = 2 * 0.975 - 1 = 0.95.
    crit = math.sqrt(2) * 0.95 / math.sqrt(1 - 0.95**2)
    assert r.ci_low == pytest.approx(-0.03 - crit * 0.02 / math.sqrt(3), rel=1e-12)


def test_pooled_bmp_is_a_t_test_on_the_standardized_cars():
    z = CAR / SE
    ref = stats.ttest_1samp(z, 0.0)
    r = pool("pooled_bmp", CAR, SE)
    assert r.estimate == pytest.approx(z.mean(), rel=1e-12)
    assert r.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    assert r.dof == 6
    ci = ref.confidence_interval(0.95)
    assert (r.ci_low, r.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-12)


def test_pooled_sign_is_the_exact_binomial_test():
    r = pool("pooled_sign", CAR, SE)
    assert r.statistic == 5 and r.n_events == 7
    assert r.p_value == pytest.approx(stats.binomtest(5, 7, 0.5).pvalue, rel=1e-12)
    # by hand: P(W <= 2) + P(W >= 5) for Bin(7, 1/2) = 2 * (1 + 7 + 21) / 128
    assert r.p_value == pytest.approx(58 / 128, rel=1e-12)
    assert r.estimate == pytest.approx(np.median(CAR))
    assert math.isnan(r.se) and math.isnan(r.dof)


def test_sign_p_half_is_the_exact_rational_value():
    """sign_p_half in integer arithmetic: the exact two-sided p correctly rounded (Fraction), for
    every k of n = 1..40; scipy's binomtest agrees to 1e-15 (its float sums are an ulp off for
    e.g. n = 15, k = 4: 0.11846923828124999 for 3882 / 32768 = 0.11846923828125)."""
    from fractions import Fraction

    from analysis.inference.pooled import sign_p_half

    for n in range(1, 41):
        for k in range(n + 1):
            exact = sum((Fraction(math.comb(n, j), 2**n) for j in range(n + 1)
                         if math.comb(n, j) <= math.comb(n, k)), Fraction(0))
            assert sign_p_half(k, n) == float(min(exact, Fraction(1))), (k, n)
            assert sign_p_half(k, n) == pytest.approx(stats.binomtest(k, n, 0.5).pvalue, rel=1e-15, abs=0)
    assert sign_p_half(4, 15) == 3882 / 32768 and sign_p_half(3, 6) == 1.0 and sign_p_half(0, 3) == 0.25
    assert sign_p_half(0, 1) == 1.0 and sign_p_half(2, 2) == 0.5
    for k, n in ((-1, 5), (6, 5), (0, 0)):
        with pytest.raises(ValueError):
            sign_p_half(k, n)


def test_pooled_sign_drops_zero_cars():
    r = pool("pooled_sign", [-0.01, -0.02, 0.0, -0.03, -0.04], np.nan)
    assert r.n_events == 4 and r.statistic == 4
    assert r.p_value == pytest.approx(2 / 16, rel=1e-12)


def test_pooled_re_matches_statsmodels_dersimonian_laird_with_hartung_knapp():
    res = combine_effects(CAR, SE**2, method_re="dl", use_t=True)
    r = pool("pooled_re", CAR, SE)
    assert r.tau2 == pytest.approx(res.tau2, rel=1e-10)
    assert r.i2 == pytest.approx(res.i2, rel=1e-10)
    assert r.estimate == pytest.approx(res.mean_effect_re, rel=1e-12)
    assert r.se == pytest.approx(res.sd_eff_w_re_hksj, rel=1e-10)
    low, high = res.conf_int(alpha=0.05, use_t=True)[3]  # "random effect wls" = HKSJ
    assert (r.ci_low, r.ci_high) == pytest.approx((low, high), rel=1e-10)
    assert r.p_value == pytest.approx(2 * stats.t.sf(abs(r.estimate / r.se), 6), rel=1e-10)
    assert r.tau2 > 0 and 0 < r.i2 < 1


def test_pooled_re_without_heterogeneity_has_zero_tau2():
    # identical CARs: Q = 0, so tau^2 = 0 and I^2 = 0; the HK se is 0.
    r = pool("pooled_re", [-0.02, -0.02, -0.02], [0.01, 0.02, 0.03])
    assert r.tau2 == 0 and r.i2 == 0 and r.estimate == pytest.approx(-0.02)
    # ... and no p-value: a test on a spread of zero is undefined, said in words
    assert math.isnan(r.p_value) and math.isnan(r.statistic) and r.se == 0
    assert "do not vary" in not_applicable(r)
    assert math.isnan(pool("pooled_mean", [-0.02, -0.02, -0.02], np.nan).p_value)


@pytest.mark.parametrize("test", POOLED_TESTS)
@pytest.mark.parametrize("n", [0, 1, 2])
def test_fewer_than_three_events_is_not_applicable(test, n):
    r = pool(test, CAR[:n], SE[:n])
    assert r.n_events == n
    assert all(math.isnan(v) for v in (r.estimate, r.se, r.statistic, r.p_value))
    assert f"at least {MIN_EVENTS}" in not_applicable(r)


def test_missing_cars_and_standard_errors_are_left_out():
    car = np.append(CAR, [np.nan, -0.5])
    se = np.append(SE, [0.01, np.nan])
    assert pool("pooled_mean", car, se).n_events == 8
    assert pool("pooled_bmp", car, se) == pool("pooled_bmp", CAR, SE)
    assert pool("pooled_re", car, se) == pool("pooled_re", CAR, SE)
    assert not_applicable(pool("pooled_mean", CAR, SE)) is None


def test_ci_level():
    r90 = pool("pooled_mean", CAR, SE, level=0.90)
    ci = stats.ttest_1samp(CAR, 0.0).confidence_interval(0.90)
    assert (r90.ci_low, r90.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-12)


def test_unknown_test_is_refused():
    with pytest.raises(ValueError, match="pooled_mean"):
        pool("mean", CAR, SE)


# ----------------------------------------------------------------------------- pooled.csv


def _tests_frame():
    """Portfolio rows of 4 events x (named, peer, supplier) at 0:1 and 0:0; ev4's named and peer
    cells are not attributable; a t_cs row that pooled.csv must ignore."""
    rows = []
    cars = {"named": [-0.05, -0.02, -0.04, -0.10], "peer": [-0.01, 0.00, -0.02, -0.03],
            "supplier": [0.01, -0.02, 0.005, 0.00]}
    for window, scale in (("0:1", 1.0), ("0:0", 0.5)):
        for g, values in cars.items():
            for k, car in enumerate(values):
                rows.append({"event_id": f"ev{k + 1}", "group": g, "window": window, "test": "portfolio",
                             "estimate": car * scale, "se": 0.01 + 0.002 * k, "p_value": 0.5,
                             "attributable": not (k == 3 and g != "supplier")})
    rows.append({"event_id": "ev1", "group": "named", "window": "0:1", "test": "t_cs", "estimate": 9.0, "se": 1.0,
                 "p_value": 0.5, "attributable": True})
    return pd.DataFrame(rows)


def test_pooled_frame_scopes_named_minus_peer_and_holm():
    from analysis.inference.pooled import POOLED_COLUMNS, pooled_frame

    p = pooled_frame(_tests_frame())
    assert list(p.columns[: len(POOLED_COLUMNS)]) == POOLED_COLUMNS
    row = p[(p["scope"] == "attributable") & (p["group"] == "named") & (p["window"] == "0:1")
            & (p["test"] == "pooled_mean")].iloc[0]
    ref = stats.ttest_1samp([-0.05, -0.02, -0.04], 0.0)
    assert row["n_events"] == 3 and row["event_ids"] == "ev1;ev2;ev3"
    assert row["p_value"] == pytest.approx(ref.pvalue, rel=1e-12)
    every = p[(p["scope"] == "all") & (p["group"] == "named") & (p["window"] == "0:1")
              & (p["test"] == "pooled_mean")].iloc[0]
    assert every["n_events"] == 4 and every["estimate"] == pytest.approx(-0.0525)
    assert np.isnan(every["p_holm"]) and not every["primary"]
    # named minus peer: ev1..ev3 (attributable), d = -0.04, -0.02, -0.02
    d = p[(p["scope"] == "attributable") & (p["test"] == "named_minus_peer") & (p["window"] == "0:1")].iloc[0]
    assert d["group"] == "named" and d["n_events"] == 3
    assert d["p_value"] == pytest.approx(stats.ttest_1samp([-0.04, -0.02, -0.02], 0.0).pvalue, rel=1e-12)
    # Holm over the two primary rows (named, supplier; attributable; 0:1; pooled_mean)
    prim = p[p["primary"]]
    assert sorted(prim["group"]) == ["named", "supplier"] and set(prim["window"]) == {"0:1"}
    ps = prim["p_value"].to_numpy()
    assert prim["p_holm"].to_numpy() == pytest.approx(
        np.maximum.accumulate(np.minimum(1, np.array([2, 1]) * np.sort(ps)))[np.argsort(np.argsort(ps))])
    assert p.loc[~p["primary"], "p_holm"].isna().all()


def test_pooled_frame_with_two_events_says_why():
    from analysis.inference.pooled import pooled_frame

    t = _tests_frame()
    p = pooled_frame(t[t["event_id"].isin(["ev1", "ev2"])])
    assert (p["n_events"] <= 2).all() and p["p_value"].isna().all()  # a zero CAR leaves the sign test
    assert p["note"].str.contains("needs at least 3").all()


@pytest.mark.shared_prices
def test_pooled_rows_recompute_from_the_portfolio_rows_of_the_full_catalog(full_catalog, tmp_path):
    """pooled_mean / pooled_bmp / pooled_sign of every group, window and scope, recomputed with
    scipy from the portfolio rows of tests.csv (in memory and as written), match to 1e-10. An
    observation 'a+b' (events whose windows share sessions) is the mean of their CARs and se."""
    full_catalog.to_csv(tmp_path)
    for tests, pooled, tol in ((full_catalog.tests, full_catalog.pooled, 1e-10),
                               (pd.read_csv(tmp_path / "tests.csv"), pd.read_csv(tmp_path / "pooled.csv"), 1e-8)):
        port = tests[tests["test"] == "portfolio"]
        checked = 0
        for r in pooled[pooled["test"].isin(["pooled_mean", "pooled_bmp", "pooled_sign"])].itertuples(index=False):
            cell = port[(port["group"] == r.group) & (port["window"] == r.window)]
            if r.scope == "attributable":
                cell = cell[cell["attributable"].astype(bool)]
            cell = cell[np.isfinite(cell["estimate"])].set_index("event_id")
            assert cell.index.is_unique
            obs = [o.split("+") for o in str(r.event_ids).split(";")] if isinstance(r.event_ids, str) else []
            assert r.n_events == len(obs)
            assert sorted(e for o in obs for e in o) == sorted(cell.index)
            if len(obs) < 3:
                assert np.isnan(r.p_value)
                continue
            est, ses = cell["estimate"].astype(float).to_dict(), cell["se"].astype(float).to_dict()
            car = np.array([np.mean([est[e] for e in o]) for o in obs])
            se = np.array([np.mean([ses[e] for e in o]) for o in obs])
            if r.test == "pooled_sign":
                ref_p, ref_stat = stats.binomtest(int((car < 0).sum()), len(car), 0.5).pvalue, (car < 0).sum()
            else:
                ref = stats.ttest_1samp(car if r.test == "pooled_mean" else car / se, 0.0)
                ref_p, ref_stat = ref.pvalue, ref.statistic
            assert r.p_value == pytest.approx(ref_p, rel=tol, abs=tol)
            assert r.statistic == pytest.approx(ref_stat, rel=tol, abs=tol)
            if r.test == "pooled_mean":
                assert r.estimate == pytest.approx(car.mean(), rel=tol, abs=tol)
            checked += 1
        assert checked >= 60
    # the NYT and Bloomberg reports of May 2019 share sessions (A-shares 22-24 May, the US 22-23 May),
    # as do EO 14032 and the first DoD 1260H list (3 Jun 2021): each pair is one observation
    prim = full_catalog.pooled[full_catalog.pooled["primary"]].set_index("group")
    for group in ("named", "supplier"):
        obs = prim.loc[group, "event_ids"].split(";")
        assert "nyt_hikvision_2019+bloomberg_five_2019" in obs and "eo14032_2021+dod_1260h_list_2021" in obs
    # the DoD 1260H named cell is not attributable: in scope all, not in the primary row
    prim = full_catalog.pooled[full_catalog.pooled["primary"]]
    assert len(prim) == 2
    named = prim[prim["group"] == "named"].iloc[0]
    assert "dod_1260h_list_2022" not in named["event_ids"].replace("+", ";").split(";")
    every = full_catalog.pooled[(full_catalog.pooled["scope"] == "all") & (full_catalog.pooled["group"] == "named")
                                & (full_catalog.pooled["window"] == "0:1")
                                & (full_catalog.pooled["test"] == "pooled_mean")].iloc[0]
    assert "dod_1260h_list_2022" in every["event_ids"].replace("+", ";").split(";")


def test_events_sharing_sessions_count_once_by_hand():
    """car.csv says b's window holds c's day 0 (and c's holds d's): b, c and d are one observation
    whose CAR is the mean of theirs, (-0.02 - 0.04 - 0.06) / 3 = -0.04, and se the mean se 0.02;
    a and e stay alone. pooled_mean over (-0.01, -0.04, 0.00): mean -0.05 / 3, t from scipy."""
    from analysis.inference.pooled import clusters, overlap_pairs, pooled_frame

    car = pd.DataFrame({"event_id": ["b", "b", "c", "x"], "group": ["named", "named", "named", "peer"],
                        "window": ["0:1"] * 4, "overlaps": ["c", "", "d", "a"]})
    pairs = overlap_pairs(car)
    assert pairs == {("named", "0:1"): {frozenset("bc"), frozenset("cd")}, ("peer", "0:1"): {frozenset("xa")}}
    many = pd.concat([car, car.assign(overlaps=[np.nan, "b", "d;b", "a"]), car.assign(group="peer")],
                     ignore_index=True)  # repeated rows, a missing text, an event's own id, several ids
    assert overlap_pairs(many) == {("named", "0:1"): {frozenset("bc"), frozenset("cd")},
                                   ("peer", "0:1"): {frozenset("xa"), frozenset("bc"), frozenset("cd")}}
    labels, y, s = clusters(["a", "b", "c", "d", "e"], [-0.01, -0.02, -0.04, -0.06, 0.0],
                            [0.01, 0.01, 0.02, 0.03, 0.01], pairs[("named", "0:1")])
    assert labels == ["a", "b+c+d", "e"]
    assert y == pytest.approx([-0.01, -0.04, 0.0]) and s == pytest.approx([0.01, 0.02, 0.01])
    tests = pd.DataFrame({"event_id": list("abcde"), "group": "named", "window": "0:1", "test": "portfolio",
                          "estimate": [-0.01, -0.02, -0.04, -0.06, 0.0], "se": [0.01, 0.01, 0.02, 0.03, 0.01]})
    row = pooled_frame(tests, car=car)
    row = row[(row["scope"] == "all") & (row["test"] == "pooled_mean")].iloc[0]
    ref = stats.ttest_1samp([-0.01, -0.04, 0.0], 0.0)
    assert row["n_events"] == 3 and row["event_ids"] == "a;b+c+d;e"
    assert row["estimate"] == pytest.approx(-0.05 / 3) and row["p_value"] == pytest.approx(ref.pvalue, rel=1e-12)
