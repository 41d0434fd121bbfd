"""The Student-t and normal p-values and the t quantile (analysis.estimation.pvalues): scipy.special
only, the same bits as scipy.stats and the closed forms where they exist."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from analysis.estimation.pvalues import normal_p_value, t_p_value, t_quantile

DOF = np.array([1.0, 2.0, 3.0, 4.5, 15.0, 119.0, 1e6])


@pytest.mark.parametrize("q", [0.8, 0.975, 0.995, 0.025, 0.5])
def test_t_quantile_is_scipy_stats_t_ppf_bit_for_bit(q):
    assert np.array_equal(t_quantile(q, DOF), stats.t.ppf(q, DOF))


def test_t_quantile_closed_forms():
    # t(1) is Cauchy: tan(pi (q - 1/2)); t(2): sqrt(2) (2q - 1) / sqrt(1 - (2q - 1)^2)
    assert float(t_quantile(0.975, 1)) == pytest.approx(math.tan(math.pi * 0.475), rel=1e-13)
    a = 2 * 0.8 - 1
    assert float(t_quantile(0.8, 2)) == pytest.approx(math.sqrt(2) * a / math.sqrt(1 - a * a), rel=1e-13)


def test_t_quantile_is_nan_outside_its_domain():
    out = t_quantile(np.array([0.975, 0.975, 0.975, 0.0, 1.0]), np.array([0.0, -1.0, np.nan, 5.0, 5.0]))
    assert np.isnan(out).all()


def test_p_values_are_scipy_stats_bit_for_bit():
    x = np.array([-7.0, -2.1, -0.3, 0.0, 0.4, 1.96, 6.5])
    d = np.array([2.0, 3.0, 10.0, 5.0, 118.0, 30.0, 4.0])
    assert np.array_equal(t_p_value(x, d), 2 * stats.t.sf(np.abs(x), d))
    assert np.array_equal(normal_p_value(x), 2 * stats.norm.sf(np.abs(x)))
    # t(1), closed form: 2 P(T > |x|) = 1 - 2 atan(|x|) / pi
    assert float(t_p_value(2.1, 1)) == pytest.approx(1 - 2 * math.atan(2.1) / math.pi, rel=1e-13)
