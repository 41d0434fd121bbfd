"""Rank tests (analysis.inference.ranks) against small cases worked out by hand.

Every expected number below was computed on paper from the formulas in the docstrings; the
code under test only produces the value that is compared with it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.inference.cells import build_cells
from analysis.estimation import engine
from analysis.estimation import store as store_mod
from analysis.estimation.models import get_model
from analysis.inference.ranks import average_ranks, corrado, grank, merge_ranks, rank_tests

nan = np.nan


def test_average_ranks_ties_and_missing():
    """Ranks over a row's finite values, ties share the mean of their ranks, NaN stays NaN.

    Row [0.01, NaN, 0.01, -0.02, 0.01]: -0.02 -> 1; the three 0.01 share ranks 2, 3, 4 -> 3.
    Row [3, 2, 1, NaN, 0]: 0 -> 1, 1 -> 2, 2 -> 3, 3 -> 4.
    """
    x = np.array([[0.01, nan, 0.01, -0.02, 0.01], [3, 2, 1, nan, 0]])
    want = np.array([[3, nan, 3, 1, 3], [4, 3, 2, nan, 1]])
    np.testing.assert_array_equal(average_ranks(x), want)


@pytest.fixture(params=["one thread", "rows split over threads"])
def row_threads(request, monkeypatch):
    """Each test below twice: as the real catalog runs it, and with every row pass split over
    threads (as from kernels.THREADED_ROWS firm-events, e.g. 10,000 firms)."""
    from analysis.inference import ranks

    if request.param != "one thread":
        monkeypatch.setattr(ranks.kernels, "THREADED_ROWS", 1)
        monkeypatch.setattr(ranks.kernels, "thread_count", lambda threads=None: threads or 2)
    return request.param


def test_ranks_agree_with_scipy_on_random_rows_with_ties_and_gaps(row_threads):
    """average_ranks and merge_ranks equal scipy.stats.rankdata(method='average'), NaN omitted,
    on integer-valued rows (many ties) with missing values."""
    rng = np.random.default_rng(0)
    E = rng.integers(0, 6, (40, 15)).astype(float)
    W = rng.integers(0, 6, (40, 3)).astype(float)
    E[rng.random(E.shape) < 0.1] = nan
    W[rng.random(W.shape) < 0.2] = nan
    joint = np.concatenate([E, W], axis=1)
    want = stats.rankdata(joint, axis=1, nan_policy="omit")
    np.testing.assert_allclose(average_ranks(joint), want, equal_nan=True)
    rE, rW = merge_ranks(E, W)
    np.testing.assert_allclose(np.concatenate([rE, rW], axis=1), want, equal_nan=True)


def test_merge_ranks_adds_window_values_to_estimation_ranks():
    """Ranks in the joint sample [E | W] from E's own ranks.

    E = [0.01, -0.02, 0.00], W = [0.03, 0.00]: joint order -0.02 (1), 0.00 and 0.00 (tie,
    2.5 each), 0.01 (4), 0.03 (5) -> E ranks [4, 1, 2.5], W ranks [5, 2.5].
    """
    E = np.array([[0.01, -0.02, 0.00]])
    W = np.array([[0.03, 0.00]])
    rE, rW = merge_ranks(E, W)
    np.testing.assert_array_equal(rE, [[4, 1, 2.5]])
    np.testing.assert_array_equal(rW, [[5, 2.5]])


def test_corrado_day0_with_missing_value():
    """Corrado (1989) / Corrado-Zivney (1992) one-day rank test, a missing estimation AR.

    U_it = K_it / (1 + M_i); Ubar_t over firms with an AR on t;
    S_U^2 = (1/T) sum_t (N_t/N)(Ubar_t - 1/2)^2;  Z = sqrt(L)(mean_window Ubar_t - 1/2)/S_U.

    Firm A: est [0.01, -0.02, 0.03], day 0: 0.05 -> K [2, 1, 3 | 4], M 4 -> U [.4, .2, .6 | .8]
    Firm B: est [0.02, NaN, -0.01], day 0: 0.04 -> K [2, -, 1 | 3], M 3 -> U [.5, -, .25 | .75]
    Ubar = [.45, .2 (N_t = 1), .425 | .775]; deviations [-.05, -.3, -.075 | .275]
    S^2 = (1/4)(.0025 + (1/2)(.09) + .005625 + .075625) = .12875 / 4
    Z = .275 / sqrt(.0321875) = 1.53281...
    """
    est = np.array([[0.01, -0.02, 0.03], [0.02, nan, -0.01]])
    win = np.array([[0.05], [0.04]])
    stat, p = corrado(est, win, np.array([0, 1]), np.array([0, 0]), 1)
    z = 0.275 / np.sqrt(0.12875 / 4)
    assert stat[0] == pytest.approx(z, rel=1e-12)
    assert z == pytest.approx(1.53281, abs=1e-5)
    assert p[0] == pytest.approx(2 * stats.norm.sf(z), rel=1e-12)


def test_corrado_multiday_window():
    """Cowan (1992) multi-day form: Z = sqrt(L) (mean over window of Ubar_t - 1/2) / S_U.

    Firm A: est [0.01, -0.02, 0.00], window [0.03, 0.02] -> K [3, 1, 2 | 5, 4], U = K/6
    Firm B: est [-0.01, 0.02, 0.01], window [0.00, 0.03] -> K [1, 4, 3 | 2, 5], U = K/6
    Ubar - 1/2 in twelfths: [-2, -1, -1 | 1, 3];  S^2 = (1/5)(4 + 1 + 1 + 1 + 9)/144 = 1/45
    window mean deviation = (1/12 + 3/12)/2 = 1/6;  Z = sqrt(2) (1/6) / sqrt(1/45) = sqrt(90)/6
    """
    est = np.array([[0.01, -0.02, 0.00], [-0.01, 0.02, 0.01]])
    win = np.array([[0.03, 0.02], [0.00, 0.03]])
    stat, _ = corrado(est, win, np.array([0, 1]), np.array([0, 0]), 1)
    assert stat[0] == pytest.approx(np.sqrt(90) / 6, rel=1e-12)
    assert stat[0] == pytest.approx(1.581139, abs=1e-6)


def test_corrado_cells_and_single_firm_cell_is_nan():
    """Cells are aggregated separately; a cell with N < 2 firms reports NaN.

    Cell 0 holds the two firms of test_corrado_multiday_window (Z = sqrt(90)/6); cell 1 holds
    firm 0 alone.
    """
    est = np.array([[0.01, -0.02, 0.00], [-0.01, 0.02, 0.01]])
    win = np.array([[0.03, 0.02], [0.00, 0.03]])
    stat, p = corrado(est, win, np.array([0, 1, 0]), np.array([0, 0, 1]), 2)
    assert stat[0] == pytest.approx(np.sqrt(90) / 6, rel=1e-12)
    assert np.isnan(stat[1]) and np.isnan(p[1])


def test_grank_restandardized_scar():
    """Kolari & Pynnönen (2011) GRANK with the SCAR restandardized by its cross-sectional sd.

    SCAR*_i = SCAR_i / sd(SCAR); U_it = rank(GSAR_it)/(T + 1) - 1/2;
    S^2 = (1/T) sum_t (n_t/n) Ubar_t^2;  Z = Ubar_0 / S;  t = Z sqrt((T-2)/(T-1-Z^2)), t(T-2).

    SCAR = [1, .5, 0]: mean .5, sd .5 -> SCAR* = [2, 1, 0]. T = 4 (3 estimation days + day 0).
    Firm 1: [.5, -1, 1.5 | 2]   -> ranks [2, 1, 3 | 4] -> U [-.1, -.3, .1 | .3]
    Firm 2: [-.5, .8, .1 | 1]   -> ranks [1, 3, 2 | 4] -> U [-.3, .1, -.1 | .3]
    Firm 3: [1.2, -.3, -1.1 | 0] -> ranks [4, 2, 1 | 3] -> U [.3, -.1, -.3 | .1]
    Ubar = [-1, -3, -3 | 7]/30;  S^2 = (1/4)(1 + 9 + 9 + 49)/900 = 17/900
    Z = 7/sqrt(17);  t = Z sqrt(2 / (3 - 49/17)) = Z sqrt(17) = 7, 2 d.f.
    (Unstandardized, firm 1's day 0 (1.0 < 1.5) would rank 3rd, not 4th.)
    """
    sar = np.array([[0.5, -1.0, 1.5], [-0.5, 0.8, 0.1], [1.2, -0.3, -1.1]])
    t, p = grank(sar, np.array([1.0, 0.5, 0.0]), np.arange(3), np.zeros(3, dtype=int), 1)
    assert t[0] == pytest.approx(7.0, rel=1e-12)
    assert p[0] == pytest.approx(2 * stats.t.sf(7.0, 2), rel=1e-12)


def test_grank_missing_estimation_day():
    """GRANK with a missing SAR: U_it = rank/(T_i + 1) - 1/2 with T_i the firm's own count,
    and the day's Ubar weighted by n_t / n in S^2.

    As test_grank_restandardized_scar but firm 2's second SAR missing: T_2 = 3,
    firm 2: [-.5, -, .1 | 1] -> ranks [1, -, 2 | 3] -> U [-.25, -, 0 | .25].
    Ubar = [-.05/3, -.2 (n_t = 2), -.2/3 | .65/3]
    S^2 = (1/4)((.05/3)^2 + (2/3)(.04) + (.2/3)^2 + (.65/3)^2) = .705/36
    Z = (.65/3) / sqrt(.705/36) = 1.54828...;  t = Z sqrt(2 / (3 - Z^2)) = 2.82010..., 2 d.f.
    """
    sar = np.array([[0.5, -1.0, 1.5], [-0.5, nan, 0.1], [1.2, -0.3, -1.1]])
    t, p = grank(sar, np.array([1.0, 0.5, 0.0]), np.arange(3), np.zeros(3, dtype=int), 1)
    z = (0.65 / 3) / np.sqrt(0.705 / 36)
    want = z * np.sqrt(2 / (3 - z * z))
    assert t[0] == pytest.approx(want, rel=1e-12)
    assert want == pytest.approx(2.820096, abs=1e-6)
    assert p[0] == pytest.approx(2 * stats.t.sf(want, 2), rel=1e-12)


def test_grank_single_firm_cell_is_nan():
    """n < 2: no cross-sectional sd of SCAR, the statistic is not applicable (NaN)."""
    sar = np.array([[0.5, -1.0, 1.5]])
    t, p = grank(sar, np.array([1.0]), np.array([0]), np.array([0]), 1)
    assert np.isnan(t[0]) and np.isnan(p[0])


# --- end to end through the engine -----------------------------------------------------


def _store(rets: list[list[float]], spans: list[list[int]]) -> store_mod.ReturnStore:
    """Market-adjusted store with a zero market return, so AR = R exactly."""
    return store_mod.store_from_arrays(get_model("market-adjusted"), rets, spans=spans, start_date="2024-01-02")


def _run(windows):
    # positions 0..3 are relative days -3..0; estimation -3:-1
    rets = [
        [0.01, -0.01, 0.00, 0.02],   # event 0, firm A
        [0.00, 0.01, -0.01, 0.01],   # event 0, firm B
        [-0.01, 0.00, 0.01, 0.00],   # event 0, firm C
        [0.01, 0.02, -0.01, 0.03],   # event 1, alone
        [0.01, -0.01, 0.00, 0.02],   # event 2, firm A again
        [0.02, 0.00, nan, 0.05],     # event 2, firm E: day 0 return spans days -1 and 0
    ]
    spans = [[1, 1, 1, 1]] * 5 + [[1, 1, 0, 2]]
    store = _store(rets, spans)
    n = len(rets)
    out = engine.run(store, np.arange(n), np.full(n, 3), estimation=(-3, -1), windows=windows, min_obs=2)
    ev = np.array([0, 0, 0, 1, 2, 2])
    cells = build_cells(out, store, ev, np.zeros(n, dtype=np.int64), 1, with_all=False)
    keys = pd.DataFrame({"event": cells.cell_event, "window": cells.cell_window})
    res = rank_tests(out, cells.rows, cells.cell, cells.cell_window, cells.n_cells)
    return keys, res


def _cell(keys, event, window):
    m = (keys["event"] == event) & (keys["window"] == window)
    return int(np.flatnonzero(m.to_numpy())[0])


def test_rank_tests_through_engine_day0():
    """Both tests from engine output, window 0:0, market-adjusted model with Rm = 0 (AR = R).

    Event 0 (A, B, C; every sigma^2 = 1e-4, so SAR = AR / 0.01 and SCAR = day-0 AR / 0.01):
      A: [.01, -.01, 0 | .02] -> ranks [3, 1, 2 | 4]
      B: [0, .01, -.01 | .01] -> ranks [2, 3.5, 1 | 3.5]   (tie)
      C: [-.01, 0, .01 | 0]   -> ranks [1, 2.5, 4 | 2.5]   (tie)
    Corrado: U = K/5; Ubar - 1/2 = [-.1, -1/30, -1/30 | 1/6]; S^2 = (1/4)(36/900) = .01;
      Z = (1/6)/.1 = 5/3.
    GRANK: SCAR = [2, 1, 0], sd 1, so SCAR* = SCAR and the ranks are the same;
      U = K/5 - 1/2, the same deviations; Z = 5/3, t = (5/3) sqrt(2/(3 - 25/9)) = 5, 2 d.f.
    Event 1 has one firm: NaN.
    Event 2 (A and E): E's day-0 return spans two sessions, so the rank tests treat it as
      missing (its estimation day -1 is missing too):
      A: U = [.6, .2, .4 | .8];  E: [.02, 0, - | -] -> K [2, 1], M 2 -> U [2/3, 1/3, -, -]
      Ubar - 1/2 = [2/15, -7/30, -.1 (N_t 1) | .3 (N_t 1)]
      S^2 = (1/4)(16 + 49 + 4.5 + 40.5)/900 = 11/360;  day 0 has N_t = 1 of N = 2 firms, so
      its deviation is scaled by sqrt(1/2):  Z = .3 sqrt(1/2) / sqrt(11/360) = 1.21356.
    """
    keys, res = _run([(0, 0)])
    c0 = _cell(keys, 0, 0)
    assert res["corrado"][0][c0] == pytest.approx(5 / 3, rel=1e-9)
    assert res["corrado"][1][c0] == pytest.approx(2 * stats.norm.sf(5 / 3), rel=1e-9)
    assert res["grank"][0][c0] == pytest.approx(5.0, rel=1e-9)
    assert res["grank"][1][c0] == pytest.approx(2 * stats.t.sf(5.0, 2), rel=1e-9)
    c1 = _cell(keys, 1, 0)
    for test in ("corrado", "grank"):
        assert np.isnan(res[test][0][c1]) and np.isnan(res[test][1][c1])
    c2 = _cell(keys, 2, 0)
    assert res["corrado"][0][c2] == pytest.approx(0.3 * np.sqrt(0.5) / np.sqrt(11 / 360), rel=1e-9)
    assert res["corrado"][0][c2] == pytest.approx(1.21356, abs=1e-5)


def test_rank_tests_through_engine_window_overlapping_estimation():
    """Window -1:0 overlaps the estimation window -3:-1: day -1 is ranked once, as a window day.

    Event 0, Corrado: the ranking samples are the same four ARs, so Ubar - 1/2 =
      [-.1, -1/30 | -1/30, 1/6] and S^2 = .01 as in the day-0 case; window mean deviation =
      (-1/30 + 1/6)/2 = 1/15;  Z = sqrt(2) (1/15) / .1 = 0.942809...
    Event 0, GRANK: CAR = AR_-1 + AR_0 = [.02, 0, .01], se = .01 sqrt(2), SCAR* = [2, 0, 1];
      SARs of days -3, -2: A [1, -1], B [0, 1], C [-1, 0]; T = 3:
      A: [1, -1 | 2] -> ranks [2, 1, 3] -> U [0, -.25, .25]
      B: [0, 1 | 0]  -> ranks [1.5, 3, 1.5] -> U [-.125, .25, -.125]
      C: [-1, 0 | 1] -> ranks [1, 2, 3] -> U [-.25, 0, .25]
      Ubar = [-.125, 0 | .125]; S^2 = (1/3)(2 * .015625) = 1/96; Z = .125 sqrt(96) = sqrt(1.5)
      t = Z sqrt(1 / (2 - 1.5)) = sqrt(3), 1 d.f.
    """
    keys, res = _run([(0, 0), (-1, 0)])
    c = _cell(keys, 0, 1)
    assert res["corrado"][0][c] == pytest.approx(np.sqrt(2) * (1 / 15) / 0.1, rel=1e-9)
    assert res["grank"][0][c] == pytest.approx(np.sqrt(3.0), rel=1e-9)
    assert res["grank"][1][c] == pytest.approx(2 * stats.t.sf(np.sqrt(3.0), 1), rel=1e-9)
    # the day-0 cells are unchanged by asking for another window
    c0 = _cell(keys, 0, 0)
    assert res["corrado"][0][c0] == pytest.approx(5 / 3, rel=1e-9)
    assert res["grank"][0][c0] == pytest.approx(5.0, rel=1e-9)


def test_sorted_rows_exact_order_where_the_sort_keys_lose_low_bits():
    """sorted_rows sorts integer keys (float32 bits, or float64 bits when T > 4096) whose lowest
    ceil(log2 T) bits carry the column; values the keys cannot tell apart must still come out
    in exact order with scipy's average ranks. Rows: neighbours of 1.0 one ulp apart in
    reverse column order (one float32 key), values 1e-9 apart in reverse order, values beyond
    float32's range, -0.0 and +0.0 (a tie), +-inf and NaN (missing); T = 300 columns (9 bits
    of column) and T = 5000 (the 64-bit keys)."""
    from analysis.inference.ranks import sorted_rows

    ulps = [1.0]
    for _ in range(7):  # 1.0 + k ulp, k = 0..7: the same key but for the lowest 3 bits
        ulps.append(np.nextafter(ulps[-1], 2.0))
    row1 = np.array(ulps[::-1] + [1.0, -0.0, 0.0, np.inf, -np.inf, nan], dtype=float)  # descending
    rng = np.random.default_rng(3)
    row2 = rng.standard_normal(300)
    row2[::17] = 1e-300 * np.arange(len(row2[::17]))  # subnormal-scale neighbours and a zero
    row2[5::23] = row2[4::23][: len(row2[5::23])]  # exact ties
    row2[7] = nan
    row3 = 0.01 + 1e-9 * np.arange(300)[::-1]  # descending, 1e-9 apart: many float32 key ties
    row3[::50] = [1e300, -1e300, 3e38, 4e38, -4e38, 1e-50]  # beyond float32: inf or 0 in float32
    row4 = rng.standard_normal(5000)
    row4[100:140] = 2.0 + 1e-15 * np.arange(40)[::-1]
    row4[9] = np.inf
    for row in (row1, row2, row3, row4):
        got = sorted_rows(row[None, :])
        clean = np.where(np.isfinite(row), row, nan)
        want = stats.rankdata(clean, nan_policy="omit")
        np.testing.assert_array_equal(got.ranks[0], want)
        fin = np.sort(clean[np.isfinite(clean)])
        assert got.count[0] == len(fin)
        np.testing.assert_array_equal(got.values[0, :len(fin)], fin)
        assert np.isnan(got.values[0, len(fin):]).all()


def test_rank_cells_in_families_equal_the_two_tests_cell_by_cell(row_threads):
    """rank_cells (one pass per family of cells sharing rows) gives exactly the numbers of
    corrado and grank run separately (which the hand-computed cases above check), whatever
    the families: each cell alone, a pseudo-event's group cells with its all-firms cell, one
    family for everything. Rows with gaps, ties, missing window days; a one-firm cell; and a
    member with a non-finite SCAR (GRANK leaves it out: the separate functions are used)."""
    from analysis.inference.ranks import rank_cells, sorted_rows

    rng = np.random.default_rng(7)
    R, Le, L = 60, 40, 3
    est = rng.standard_t(3, size=(R, Le)) * 0.02
    est[rng.random((R, Le)) < 0.08] = nan
    est[:, 5] = est[:, 6]  # ties within rows
    win = rng.standard_t(3, size=(R, L)) * 0.02
    win[rng.random((R, L)) < 0.1] = nan
    win[3, 0] = est[3, 10]  # a window value tied with an estimation value
    s = rng.uniform(0.01, 0.03, R)
    scar = rng.normal(size=R)
    # 10 pseudo-events of 6 rows each: group cells (3 + 2 + 1 firms) and the all-firms cell
    rows, cell, family = [], [], []
    for ev in range(10):
        r = np.arange(6 * ev, 6 * ev + 6)
        for g, members in enumerate((r[:3], r[3:5], r[5:], r)):
            rows += list(members)
            cell += [4 * ev + g] * len(members)
            family.append(ev)
    rows, cell, family = np.array(rows), np.array(cell), np.array(family)
    n_cells = cell.max() + 1
    srt = sorted_rows(est)
    want_c = corrado(est, win, rows, cell, n_cells, est_sorted=srt)
    want_g = grank(est / s[:, None], scar, rows, cell, n_cells, est_ranks=srt.ranks)
    assert np.isfinite(want_c[0]).sum() >= 25 and np.isfinite(want_g[0]).sum() >= 25
    for fam in (None, family, np.zeros(n_cells, dtype=int)):
        got = rank_cells(est, srt, s, win, scar[rows], rows, cell, n_cells, fam)
        for want, name in ((want_c, "corrado"), (want_g, "grank")):
            np.testing.assert_array_equal(got[name][0], want[0])
            np.testing.assert_array_equal(got[name][1], want[1])
    # two windows in one pass: days 0..2 (the cells above) and days 1..1 (cells numbered after
    # them, with their own SCARs), each pair naming its window's columns
    scar2 = rng.normal(size=R)
    rows2, cell2 = np.r_[rows, rows], np.r_[cell, cell + n_cells]
    cols = np.r_[np.tile([0, 3], (len(rows), 1)), np.tile([1, 2], (len(rows), 1))]
    got = rank_cells(est, srt, s, win, np.r_[scar[rows], scar2[rows]], rows2, cell2, 2 * n_cells,
                     np.r_[family, family], cols)
    want_c2 = corrado(est, win[:, 1:2], rows, cell, n_cells, est_sorted=srt)
    want_g2 = grank(est / s[:, None], scar2, rows, cell, n_cells, est_ranks=srt.ranks)
    for name, first, second in (("corrado", want_c, want_c2), ("grank", want_g, want_g2)):
        np.testing.assert_array_equal(got[name][0], np.r_[first[0], second[0]])
        np.testing.assert_array_equal(got[name][1], np.r_[first[1], second[1]])
    scar[7] = np.inf  # GRANK drops that pair; Corrado keeps it
    got = rank_cells(est, srt, s, win, scar[rows], rows, cell, n_cells, family)
    np.testing.assert_array_equal(got["grank"][0], grank(est / s[:, None], scar, rows, cell, n_cells)[0])
    np.testing.assert_array_equal(got["corrado"][0], want_c[0])


def test_rank_cells_of_rows_that_repeat_a_fit_equal_the_rows_themselves():
    """Pseudo-events of several events on one date repeat a firm's fit: rank_cells given each
    row's fit (``est_row``: the estimation ARs sorted once per fit) gives the numbers of the
    same rows written out, bit for bit; also when a SCAR is not finite (the separate tests)."""
    from analysis.inference.ranks import rank_cells, sorted_rows

    rng = np.random.default_rng(11)
    F, Le, L = 25, 50, 4
    est_u = rng.standard_t(3, size=(F, Le)) * 0.02
    est_u[rng.random((F, Le)) < 0.08] = nan
    est_u[:, 3] = est_u[:, 4]  # ties
    win_u = rng.standard_t(3, size=(F, L)) * 0.02
    win_u[rng.random((F, L)) < 0.1] = nan
    s_u = rng.uniform(0.01, 0.03, F)
    est_row = rng.integers(0, F, 90)  # 90 rows, each a copy of one of 25 fits
    est, win, s = est_u[est_row], win_u[est_row], s_u[est_row]
    rows, cell, family = [], [], []
    for ev in range(15):  # 15 pseudo-events of 6 rows: two group cells and the all-firms cell
        r = np.arange(6 * ev, 6 * ev + 6)
        for g, members in enumerate((r[:4], r[4:], r)):
            rows += list(members)
            cell += [3 * ev + g] * len(members)
            family.append(ev)
    rows, cell, family = np.array(rows), np.array(cell), np.array(family)
    scar = rng.normal(size=len(rows))
    cols = np.tile([0, 3], (len(rows), 1))
    cols[cell % 3 == 1] = [1, 2]  # the second group's cells read another window
    for bad in (False, True):
        if bad:
            scar[5] = np.inf
        want = rank_cells(est, sorted_rows(est), s, win, scar, rows, cell, 45, family, cols)
        got = rank_cells(est_u, sorted_rows(est_u), s, win, scar, rows, cell, 45, family, cols, est_row=est_row)
        assert np.isfinite(want["corrado"][0]).sum() >= 30
        for name in ("corrado", "grank"):
            np.testing.assert_array_equal(got[name][0], want[name][0])
            np.testing.assert_array_equal(got[name][1], want[name][1])


def test_family_chunks_hold_whole_families_of_about_the_chunk_rows(monkeypatch):
    """_family_chunks: pairs grouped by their cells' family, a chunk closed when the next family
    would take it past RANK_CHUNK_ROWS rows (a larger family alone), every pair once."""
    import analysis.inference.ranks as rk

    monkeypatch.setattr(rk, "RANK_CHUNK_ROWS", 5)
    # families (of cells): 0 -> 3 rows, 1 -> 2 rows, 2 -> 7 rows, 3 -> 1 row; cells 0..4
    cell_family = np.array([0, 0, 1, 2, 3])
    rows = np.array([0, 1, 2, 0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
    cells = np.array([0, 0, 0, 1, 1, 2, 2, 3, 3, 3, 3, 3, 3, 3, 4])
    chunks = rk._family_chunks(rows, cells, cell_family, 13)
    # families 0 + 1: 3 + 2 = 5 rows (not over 5); family 2 alone (7); family 3 (1 row)
    assert [sorted(set(cell_family[cells[c]])) for c in chunks] == [[0, 1], [2], [3]]
    assert sorted(np.concatenate(chunks).tolist()) == list(range(len(rows)))
    assert [len(set(rows[c])) for c in chunks] == [5, 7, 1]
    assert len(rk._family_chunks(rows, cells, None, 13)) == 1  # no families: one chunk


def test_rank_tests_in_chunks_of_families_give_the_same_bits(monkeypatch):
    """rank_tests ranks whole families (events) at a time, about RANK_CHUNK_ROWS rows each: the
    statistics and p-values are those of one pass over every row, bit for bit (each family's
    cells read only its rows)."""
    import analysis.inference.ranks as rk

    rng = np.random.default_rng(11)
    n, T = 48, 60
    rets = (rng.standard_t(4, size=(n, T)) * 0.02).tolist()
    spans = [[1] * T for _ in range(n)]
    for i in range(0, n, 7):  # a suspension now and then: a missing day, then a 2-session return
        rets[i][30] = nan
        spans[i][30], spans[i][31] = 0, 2
    store = _store(rets, spans)
    # -8:-2 overlaps the estimation window -40:-5: its cells rank other estimation days (a second pass)
    windows = [(0, 0), (-1, 1), (0, 3), (-8, -2)]
    out = engine.run(store, np.arange(n), np.full(n, 50), estimation=(-40, -5), windows=windows, min_obs=20)
    ev = np.repeat(np.arange(8), 6)
    cells = build_cells(out, store, ev, np.tile([0, 0, 1, 1, 1, 0], 8), 2, with_all=True)
    args = (out, cells.rows, cells.cell, cells.cell_window, cells.n_cells)
    real = rk._family_chunks
    # families: the events; or every cell its own (a row in the cells of several families)
    for family in (cells.cell_event, np.arange(cells.n_cells)):
        monkeypatch.setattr(rk, "RANK_CHUNK_ROWS", 65_536)
        whole = rank_tests(*args, cell_family=family)
        seen = []
        monkeypatch.setattr(rk, "_family_chunks", lambda *a: seen.append(real(*a)) or seen[-1])
        monkeypatch.setattr(rk, "RANK_CHUNK_ROWS", 10)
        chunked = rank_tests(*args, cell_family=family)
        monkeypatch.setattr(rk, "_family_chunks", real)
        assert len(seen) == 2 and all(len(c) >= 4 for c in seen)  # two passes; 8 events of 6 rows, 10 a chunk
        assert np.isfinite(whole["corrado"][0]).sum() >= 20
        for name in ("corrado", "grank"):
            np.testing.assert_array_equal(chunked[name][0], whole[name][0])
            np.testing.assert_array_equal(chunked[name][1], whole[name][1])
