"""The compiled cell passes (analysis.inference.cell_kernels) against independent numpy/scipy code."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from analysis.inference import cell_kernels
from analysis.inference.parametric import binomial_two_sided_p


def _members_reference(ok, event_code, group_code, n_groups, with_all):
    """The membership as build_cells computed it before the compiled pass (numpy, per window)."""
    R, W = ok.shape
    G = n_groups + (1 if with_all else 0)
    rows_l, keys_l = [], []
    for j in range(W):
        r = np.nonzero(ok[:, j])[0]
        for g in [group_code[r]] + ([np.full(len(r), n_groups)] if with_all else []):
            rows_l.append(r)
            keys_l.append((event_code[r] * G + g) * W + j)
    rows, keys = np.concatenate(rows_l), np.concatenate(keys_l)
    present = np.bincount(keys, minlength=(int(event_code.max()) + 1) * G * W) > 0
    return rows, (np.cumsum(present) - 1)[keys], np.nonzero(present)[0]


@pytest.mark.parametrize("threaded", [False, True])
def test_cell_members_match_the_numpy_membership(threaded, monkeypatch):
    """One pass, and (THREADED_MEMBERS lowered) the windows split in two runs on two threads."""
    if threaded:
        monkeypatch.setattr(cell_kernels, "THREADED_MEMBERS", 100)
    rng = np.random.default_rng(3)
    for with_all in (True, False):
        ok = rng.random((3000, 4)) > 0.3
        ev, grp = rng.integers(0, 200, 3000), rng.integers(0, 3, 3000)
        got = cell_kernels.cell_members(ok, ev, grp, 3, with_all, 200, threads=2)
        for a, b in zip(got, _members_reference(ok, ev, grp, 3, with_all)):
            assert np.array_equal(a, b)


@pytest.mark.parametrize("by_window", [False, True])
def test_member_runs_share_no_cell(by_window, monkeypatch):
    """Members window by window (as build_cells orders them) split in two runs at a change of
    window (THREADED_MEMBERS lowered so that 2,000 members split); in any other order, one run."""
    monkeypatch.setattr(cell_kernels, "THREADED_MEMBERS", 100)
    rng = np.random.default_rng(4)
    K, C, W = 2000, 70, 3
    cell_window, cell = rng.integers(0, W, C), rng.integers(0, C, K)
    if by_window:
        cell = cell[np.argsort(cell_window[cell], kind="stable")]
    runs = cell_kernels.member_runs(cell, cell_window, 2)
    assert len(runs) == (2 if by_window else 1) and runs[0][0] == 0 and runs[-1][1] == K
    assert all(a[1] == b[0] for a, b in zip(runs, runs[1:]))
    if by_window:  # no cell on both sides of the cut, which is about halfway
        cut = runs[0][1]
        assert not set(cell[:cut]) & set(cell[cut:]) and abs(cut - K / 2) < K / 4
    assert cell_kernels.member_runs(cell, cell_window, 1) == [(0, K)]


def test_cell_moments_are_the_bincount_sums_of_the_member_values():
    rng = np.random.default_rng(4)
    R, W, K, C = 500, 3, 2000, 70
    car, se = rng.normal(0, 0.05, (R, W)), rng.uniform(0.01, 0.1, (R, W))
    dof = rng.integers(1, 240, R).astype(float)
    pos, m = rng.integers(0, 120, R).astype(float), rng.integers(120, 240, R).astype(float)
    rows, cell_window, cell = rng.integers(0, R, K), rng.integers(0, W, C), rng.integers(0, C, K)
    got = dict(zip(cell_kernels.MOMENTS, cell_kernels.cell_moments(cell, rows, cell_window, car, se, dof, pos, m, C)))
    win = cell_window[cell]
    x, s, d = car[rows, win], car[rows, win] / se[rows, win], dof[rows]
    with np.errstate(divide="ignore"):
        patell = np.where(d > 2, d / (d - 2), np.nan)
    want = {"car": x, "car2": x * x, "scar": s, "scar2": s * s, "patell_var": patell,
            "car_pos": (x > 0).astype(float), "est_pos": pos[rows], "est_n": m[rows]}
    for name, values in want.items():
        np.testing.assert_array_equal(got[name], np.bincount(cell, weights=values, minlength=C), err_msg=name)


def test_exact_sign_p_matches_scipy_binomtest_for_large_cells():
    rng = np.random.default_rng(5)
    n = np.concatenate([rng.integers(15, 400, 150), [1000, 2500, 5000]])
    k = np.array([rng.integers(0, m + 1) for m in n])
    k[-3:] = [480, 1300, 2600]
    p = rng.uniform(0.1, 0.9, len(n))
    p[:10] = 0.5
    ours = binomial_two_sided_p(k, n, p)
    ref = [stats.binomtest(int(a), int(b), float(c)).pvalue for a, b, c in zip(k, n, p)]
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-14)
    assert np.isnan(binomial_two_sided_p(1, 0, 0.5)) and np.isnan(binomial_two_sided_p(1, 3, 1.0))
