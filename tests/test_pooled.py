"""Pooled tests across events, against scipy / statsmodels and hand-computed values."""
from __future__ import annotations

import math

import numpy as np
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
