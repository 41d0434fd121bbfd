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
             (pairs sharing fewer than 30 dates left out);  Student t(N - 1).
             (Kolari & Pynnönen 2010, eq. 13.)
- ``gen_sign`` w = #{CAR_i > 0}; p = pooled share of positive estimation-window ARs of the
             cell's firms; Z = (w - N p) / sqrt(N p (1 - p));  N(0, 1).  (Cowan 1992.)

All p-values are two-sided. A cell with N < 2 reports its tests as not applicable (NaN).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from analysis.estimation.pvalues import normal_p_value, t_p_value

PARAMETRIC_TESTS = ("t_cs", "patell", "bmp", "bmp_kp", "gen_sign")
MIN_SHARED_DATES = 30

def cell_tests(
    cell: np.ndarray,
    n_cells: int,
    car: np.ndarray,
    car_se: np.ndarray,
    dof: np.ndarray,
    est_pos: np.ndarray,
    est_n: np.ndarray,
    r_kp: np.ndarray,
) -> dict[str, np.ndarray]:
    """Parametric tests for every cell at once.

    cell: (R,) cell index of each firm row (rows already restricted to finite CARs);
    car, car_se: (R,); dof: (R,) M_i - k; est_pos, est_n: (R,) positive / total
    estimation-window ARs; r_kp: (n_cells,) mean pairwise AR correlation of each cell.
    Returns arrays (n_cells,) ``n, mean_car`` and ``<test>_stat``/``<test>_p``.
    """
    bc = lambda w: np.bincount(cell, weights=w, minlength=n_cells)  # noqa: E731
    n = np.bincount(cell, minlength=n_cells).astype(float)
    scar = car / car_se
    s1, s2 = bc(car), bc(car * car)
    z1, z2 = bc(scar), bc(scar * scar)
    out: dict[str, np.ndarray] = {"n": n}
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = s1 / n
        out["mean_car"] = mean
        sd = np.sqrt(np.maximum(s2 - n * mean**2, 0.0) / (n - 1))
        applicable = n >= 2
        t_cs = np.where(applicable, mean / (sd / np.sqrt(n)), np.nan)
        out["t_cs_stat"] = t_cs

        patell_var = bc(np.where(dof > 2, dof / (dof - 2), np.nan))
        patell = np.where(applicable, z1 / np.sqrt(patell_var), np.nan)
        out["patell_stat"] = patell
        out["patell_p"] = normal_p_value(patell)

        zmean = z1 / n
        zsd = np.sqrt(np.maximum(z2 - n * zmean**2, 0.0) / (n - 1))
        bmp = np.where(applicable, zmean / (zsd / np.sqrt(n)), np.nan)
        out["bmp_stat"] = bmp

        r = np.asarray(r_kp, dtype=float)
        adj = np.sqrt((1 - r) / (1 + (n - 1) * r))
        kp = bmp * adj
        out["bmp_kp_stat"] = kp
        # the three Student t(N - 1) p-values in one call (split over threads)
        p3 = t_p_value(np.stack([t_cs, bmp, kp]), n - 1)
        out["t_cs_p"], out["bmp_p"], out["bmp_kp_p"] = p3
        out["r_kp"] = r

        w = bc((car > 0).astype(float))
        p = bc(est_pos) / bc(est_n)
        gs = np.where(applicable, (w - n * p) / np.sqrt(n * p * (1 - p)), np.nan)
        out["gen_sign_stat"] = gs
        out["gen_sign_p"] = normal_p_value(gs)
    return out


def long_tests(cells: pd.DataFrame, arrays: dict[str, np.ndarray], tests=PARAMETRIC_TESTS) -> pd.DataFrame:
    """Tidy test table: one row per (cell, test) with statistic and p-value."""
    frames = []
    for test in tests:
        f = cells.copy()
        f["n"] = arrays["n"].astype(int)
        f["mean_car"] = arrays["mean_car"]
        f["test"] = test
        f["statistic"] = arrays[f"{test}_stat"]
        f["p_value"] = arrays[f"{test}_p"]
        frames.append(f)
    return pd.concat(frames, ignore_index=True)
