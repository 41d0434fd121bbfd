"""Cross-sectional test statistics, vectorized over (event, group, window) cells.

With N firms in a cell, CAR_i their cumulative abnormal returns, se_i = sqrt(Var(CAR_i))
(MacKinlay 1997, with estimation error) and SCAR_i = CAR_i / se_i:

- ``t_cs``   mean(CAR) / (sd(CAR) / sqrt(N)), sd with N - 1;  Student t(N - 1).
             (Brown & Warner 1985 cross-sectional t; MacKinlay 1997 sec. 5.)
- ``patell`` sum(SCAR_i) / sqrt(sum((M_i - k)/(M_i - k - 2)));  N(0, 1).  (Patell 1976.)
- ``bmp``    mean(SCAR) / (sd(SCAR) / sqrt(N));  Student t(N - 1).
             (Boehmer, Musumeci & Poulsen 1991.)
- ``bmp_kp`` bmp * sqrt((1 - r) / (1 + (N - 1) r)), r = mean pairwise Pearson correlation
             (i != j) of estimation-window ARs over the calendar dates each pair shares
             (pairs sharing fewer than 30 dates left out; cells of more than 200 firms:
             the shared-date-weighted mean from the cell's covariance sums, linear in
             firms, :mod:`analysis.inference.kp_kernel`);  Student t(N - 1).
             (Kolari & Pynnönen 2010, eq. 13.)
- ``gen_sign`` w = #{CAR_i > 0}; p = pooled share of positive estimation-window ARs of the
             cell's firms; Z = (w - N p) / sqrt(N p (1 - p));  N(0, 1).  (Cowan 1992.)
- ``sign_exact`` the same w and p with the exact binomial law Bin(N, p): two-sided p =
             sum of P(W = j) over every j with P(W = j) <= P(W = w) (the "minimum
             likelihood" rule of ``scipy.stats.binomtest``); statistic w - N p.
             (Cowan 1992 with the exact law; Clopper & Pearson 1934; Conover 1999 sec. 3.1.)

All p-values are two-sided. A cell with N < 2 reports its tests as not applicable (NaN).
Each test is a registered :class:`~analysis.inference.registry.CellTest`.
"""
from __future__ import annotations

import numpy as np

from analysis.estimation.pvalues import normal_p_value, t_p_value
from analysis.inference import cell_kernels
from analysis.inference.cells import Cells
from analysis.inference.registry import CellTest, TestOutcome, register


def _mean_over_sd(cells: Cells, x: str) -> np.ndarray:
    """(C,) mean(x) / (sd(x) / sqrt(N)) over each cell's members, sd with N - 1 d.f.; x names
    a member quantity of :attr:`Cells.moments` ("car" or "scar") whose sums (x, x^2) are there."""
    n = cells.n
    s1, s2 = cells.moments[x], cells.moments[x + "2"]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = s1 / n
        sd = np.sqrt(np.maximum(s2 - n * mean**2, 0.0) / (n - 1))
        return mean / (sd / np.sqrt(n))


@register
class CrossSectionalT(CellTest):
    """mean(CAR) / (sd(CAR) / sqrt(N)); Student t(N - 1)."""

    name = "t_cs"
    null = "the firms' CARs have mean zero (independent firms; the cross-sectional spread of the CARs is the variance)"
    label = "Cross-sect. t"
    description = "cross-sectional t-test"
    words = "cross-sectional t-test"
    plain = "compares the firms' mean CAR with how much their CARs differ from each other"
    reference = "Brown & Warner (1985); MacKinlay (1997), sec. 5"
    distribution = "t(N-1)"

    def compute(self, cells: Cells) -> TestOutcome:
        stat = _mean_over_sd(cells, "car")
        return TestOutcome(stat, t_p_value(stat, cells.n - 1))


@register
class Patell(CellTest):
    """sum(SCAR_i) / sqrt(sum((M_i - k) / (M_i - k - 2))); N(0, 1)."""

    name = "patell"
    null = "every firm's standardized CAR has mean zero and unit variance (independent firms, no event-induced variance)"
    label = "Patell Z"
    description = "Patell test"
    words = "Patell test"
    plain = "adds up each firm's CAR divided by its own pre-event volatility"
    reference = "Patell (1976)"
    distribution = "N(0,1)"

    def compute(self, cells: Cells) -> TestOutcome:
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = cells.moments["scar"] / np.sqrt(cells.moments["patell_var"])
        return TestOutcome(stat, normal_p_value(stat))


@register
class BMP(CellTest):
    """mean(SCAR) / (sd(SCAR) / sqrt(N)); Student t(N - 1)."""

    name = "bmp"
    null = "the firms' standardized CARs have mean zero (event-induced variance allowed; independent firms)"
    label = "BMP t"
    description = "BMP test (Boehmer, Musumeci & Poulsen 1991)"
    words = "BMP test"
    plain = ("averages each firm's CAR divided by its own pre-event volatility, judged against the spread of "
             "these across the firms at the event")
    reference = "Boehmer, Musumeci & Poulsen (1991)"
    distribution = "t(N-1)"

    def compute(self, cells: Cells) -> TestOutcome:
        stat = _mean_over_sd(cells, "scar")
        return TestOutcome(stat, t_p_value(stat, cells.n - 1))


@register
class BMPKolariPynnonen(CellTest):
    """BMP * sqrt((1 - r) / (1 + (N - 1) r)), r the cell's mean pairwise estimation-window AR
    correlation over shared calendar dates (pairs sharing < 30 dates left out); t(N - 1)."""

    name = "bmp_kp"
    null = "the firms' standardized CARs have mean zero (event-induced variance allowed; firms correlated as in the estimation window)"
    label = "KP-BMP t"
    description = "BMP test with the Kolari-Pynnönen (2010) adjustment"
    words = "KP-adjusted BMP test"
    plain = "the BMP test corrected for the correlation of firms whose event falls on the same day"
    reference = "Kolari & Pynnönen (2010), eq. 13"
    distribution = "t(N-1)"
    reads = ("r_kp",)

    def compute(self, cells: Cells) -> TestOutcome:
        r = np.asarray(cells.r_kp, dtype=float)
        n = cells.n
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = _mean_over_sd(cells, "scar") * np.sqrt((1 - r) / (1 + (n - 1) * r))
        return TestOutcome(stat, t_p_value(stat, n - 1), extra={"r_kp": r})


@register
class GeneralizedSign(CellTest):
    """Z = (w - N p) / sqrt(N p (1 - p)), w = #{CAR_i > 0}, p = pooled share of positive
    estimation-window ARs of the cell's firms; N(0, 1)."""

    name = "gen_sign"
    null = "the share of positive CARs equals the firms' estimation-window share of positive abnormal returns"
    label = "Gen. sign Z"
    description = "generalized sign test (Cowan 1992)"
    words = "generalized sign test"
    plain = ("counts the firms with a positive CAR against the count their pre-event share of positive days "
             "predicts")
    reference = "Cowan (1992)"
    distribution = "N(0,1)"

    def compute(self, cells: Cells) -> TestOutcome:
        n = cells.n
        w, p = _sign_counts(cells)
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = (w - n * p) / np.sqrt(n * p * (1 - p))
        return TestOutcome(stat, normal_p_value(stat))


def _sign_counts(cells: Cells) -> tuple[np.ndarray, np.ndarray]:
    """(C,) w = #{CAR_i > 0} and p = pooled share of positive estimation-window ARs of each cell."""
    m = cells.moments
    with np.errstate(divide="ignore", invalid="ignore"):
        return m["car_pos"], m["est_pos"] / m["est_n"]


def binomial_two_sided_p(k, n, p) -> np.ndarray:
    """Exact two-sided binomial p-values, vectorized: sum of Bin(n, p) probabilities of the
    outcomes no more likely than k (relative tolerance 1e-7, as ``scipy.stats.binomtest``);
    1 when k = n p. k, n (whole numbers), p broadcast; NaN where n < 1 or p is not in (0, 1).
    One compiled loop (:func:`analysis.inference.cell_kernels.binomial_two_sided_p`)."""
    k, n, p = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (k, n, p)))
    shape = k.shape
    out = cell_kernels.binomial_two_sided_p(np.ascontiguousarray(k.ravel()), np.ascontiguousarray(n.ravel()),
                                            np.ascontiguousarray(p.ravel()))
    return out.reshape(shape)


@register
class ExactSign(CellTest):
    """w = #{CAR_i > 0} against Bin(N, p), p = pooled share of positive estimation-window ARs of
    the cell's firms; exact two-sided p (``scipy.stats.binomtest``); statistic w - N p."""

    name = "sign_exact"
    null = "the count of positive CARs is binomial with the firms' estimation-window share of positive abnormal returns"
    label = "Exact sign"
    description = "exact binomial sign test (generalized sign test with its exact law)"
    words = "exact sign test"
    plain = "counts the firms with a positive CAR against its exact binomial law (pre-event share of positive days)"
    reference = "Cowan (1992); Clopper & Pearson (1934)"
    distribution = "Bin(N, p)"
    min_n = 1

    def compute(self, cells: Cells) -> TestOutcome:
        n = cells.n
        w, p = _sign_counts(cells)
        return TestOutcome(w - n * p, binomial_two_sided_p(w, n, p))
