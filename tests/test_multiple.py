"""Holm (1979) and Benjamini-Hochberg (1995) adjustments, by hand and against statsmodels."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from analysis.inference.multiple import adjust, bh, holm, primary_groups, verdict

NAN = np.nan


def test_holm_and_bh_by_hand():
    """p = [.01, .04, .03, .005, NaN]: m = 4, sorted .005, .01, .03, .04.
    Holm: 4(.005) = .02, 3(.01) = .03, 2(.03) = .06, 1(.04) = .04 -> running max .02 .03 .06 .06.
    BH: 4(.005)/1 = .02, 4(.01)/2 = .02, 4(.03)/3 = .04, 4(.04)/4 = .04 -> running min from the
    top: .02 .02 .04 .04."""
    p = np.array([0.01, 0.04, 0.03, 0.005, NAN])
    np.testing.assert_allclose(holm(p), [0.03, 0.06, 0.06, 0.02, NAN], rtol=1e-12)
    np.testing.assert_allclose(bh(p), [0.02, 0.04, 0.04, 0.02, NAN], rtol=1e-12)
    # a p-value at the cap: 3 * .5 = 1.5 -> 1
    np.testing.assert_allclose(holm([0.5, 0.6, 0.7]), [1.0, 1.0, 1.0])
    assert np.isnan(holm([NAN])).all() and len(bh([])) == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_holm_and_bh_match_statsmodels(seed):
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.uniform(0, 1, 30), rng.uniform(0, 0.01, 5), [0.02, 0.02]])
    rng.shuffle(p)
    np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1], rtol=1e-12)
    np.testing.assert_allclose(bh(p), multipletests(p, method="fdr_bh")[1], rtol=1e-12)


def test_adjust_primary_family_and_fallback():
    """Primary: portfolio rows of window 0:1 in groups named/supplier (target stands in for
    named when a run has no named group); q_bh per test over all its rows."""
    rows = [("e1", "target", "0:1", "portfolio", 0.01), ("e1", "supplier", "0:1", "portfolio", 0.04),
            ("e1", "all", "0:1", "portfolio", 0.001), ("e1", "target", "0:0", "portfolio", 0.02),
            ("e2", "target", "0:1", "portfolio", 0.03), ("e2", "supplier", "0:1", "portfolio", NAN),
            ("e1", "target", "0:1", "bmp_kp", 0.01), ("e1", "supplier", "0:1", "bmp_kp", 0.5)]
    t = pd.DataFrame(rows, columns=["event_id", "group", "window", "test", "p_value"])
    assert primary_groups(t["group"]) == ("target", "supplier")
    assert primary_groups(["named", "target", "supplier"]) == ("named", "supplier")
    out = adjust(t)
    assert list(out["primary"]) == [True, True, False, False, True, True, False, False]
    # family p = [.01, .04, .03] (NaN left out): Holm .03, .06, .06
    np.testing.assert_allclose(out["p_holm"], [0.03, 0.06, NAN, NAN, 0.06, NAN, NAN, NAN])
    # BH for portfolio rows over [.01, .04, .001, .02, .03] (m = 5): sorted .001 .01 .02 .03 .04
    # -> 5p/j = .005 .025 .0333 .0375 .04 -> running min from the top (already increasing)
    np.testing.assert_allclose(out["q_bh"][:6], [0.025, 0.04, 0.005, 0.1 / 3, 0.0375, NAN])
    # bmp_kp: .01 * 2 / 1 = .02, .5 * 2 / 2 = .5
    np.testing.assert_allclose(out["q_bh"][6:], [0.02, 0.5])
    assert [verdict(r) for r in out.to_dict("records")][:4] == [
        "significant (Holm)", "not significant (Holm)", "exploratory", "exploratory"]
    # another primary window
    out2 = adjust(t, primary_window="0:0")
    assert list(out2["primary"]) == [False, False, False, True, False, False, False, False]
    assert out2["p_holm"].iloc[3] == pytest.approx(0.02)
