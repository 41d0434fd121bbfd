"""Calibrated p-values: every registered test run again at the placebo pseudo-event dates.

The placebo test's pseudo-event dates (:mod:`analysis.inference.placebo`: the same firms,
model, estimation window and event windows, day 0 moved to dates away from every catalog
event, one batched engine run) form pseudo cells keyed (event, draw, group, window) holding
the firms of the observed cell. Every registered test runs on all pseudo cells at once, and
each observed cell's row of ``tests.csv`` gets (Brown & Warner 1985 simulate size this way;
cf. Kolari & Pynnönen 2010 for what cross-correlation does to the nominal laws):

    p_calibrated = (1 + #{b : |T_b| >= |T_obs|}) / (1 + D)
    size_5pct    = #{b : p_b < 0.05} / D_p
    calibration_draws = D

with T_b, p_b the test's statistic and own p-value at pseudo-date b, D the pseudo-dates at
which the statistic exists (D_p: the p-value). p_calibrated is a two-sided Monte Carlo p-value
that holds whatever law the test assumes (exactly, under exchangeability of the dates);
size_5pct is the test's real rejection rate at a nominal 5% on these firms' own histories
(their correlation, tails and price limits included). The placebo test is its own calibration:
its p_calibrated is its p-value, and its size_5pct is the share of pseudo-dates whose mean CAR
is rejected against the other pseudo-dates (leave one out).
"""
from __future__ import annotations

import numpy as np

from analysis.inference.cells import Cells, build_cells, usable
from analysis.inference.placebo import PseudoRun

#: The columns calibration adds to every tests.csv row.
CALIBRATION_COLUMNS = ("p_calibrated", "size_5pct", "calibration_draws")
ALPHA = 0.05


def calibrate(observed: np.ndarray, null_stat: np.ndarray, null_p: np.ndarray) -> dict[str, np.ndarray]:
    """The calibration columns of C cells from their observed statistics (C,) and their
    statistics and p-values at the pseudo-dates (C, B; NaN where a draw has none)."""
    fin = np.isfinite(null_stat)
    D = fin.sum(axis=1)
    x = np.abs(np.asarray(observed, dtype=float))[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        p_cal = (1 + (fin & (np.abs(null_stat) >= x)).sum(axis=1)) / (1 + D)
        finp = np.isfinite(null_p)
        size = (finp & (null_p < ALPHA)).sum(axis=1) / finp.sum(axis=1)
    p_cal = np.where(np.isfinite(observed) & (D > 0), p_cal, np.nan)
    return {"p_calibrated": p_cal, "size_5pct": size, "calibration_draws": D.astype(float)}


def leave_one_out_size(null: np.ndarray) -> np.ndarray:
    """(C,) share of pseudo-dates b whose value, tested against the cell's other pseudo-dates
    with the placebo's empirical two-sided p (:func:`~analysis.inference.placebo.empirical_p`),
    gets p < 0.05: the placebo test's own size."""
    out = np.full(null.shape[0], np.nan)
    for c, row in enumerate(null):
        v = np.sort(row[np.isfinite(row)])
        B = len(v) - 1  # the others
        if B < 1:
            continue
        le = np.searchsorted(v, v, side="right") - 1  # others <= each value
        ge = len(v) - np.searchsorted(v, v, side="left") - 1  # others >= each value
        p = np.minimum(1.0, 2 * np.minimum((1 + le) / (B + 1), (1 + ge) / (B + 1)))
        out[c] = np.mean(p < ALPHA)
    return out


def pseudo_cells(run: PseudoRun, out, group_code: np.ndarray, n_groups: int, group_names=None,
                 draws: int | None = None) -> Cells:
    """Cells of the pseudo-events keyed (event * requested + draw, group, window): each
    pseudo-event's firms that are in the observed cell (and have a usable CAR there); only
    the first ``draws`` pseudo-dates of each event (default all)."""
    keep = np.arange(len(run.draw)) if draws is None else np.nonzero(run.draw < draws)[0]
    res = run.result.take(keep)  # only the pseudo-dates used: estimation ARs for those alone
    act = run.act[keep]
    W = run.n_windows
    mask = np.zeros(res.car.shape, dtype=bool)
    mask[:, :W] = usable(out)[act][:, :W]
    code = run.event[keep] * run.requested + run.draw[keep]
    return build_cells(res, res.store, code, np.asarray(group_code)[act], n_groups, with_all=True,
                       group_names=group_names, mask=mask)


class Calibration:
    """``cells.calibration``: the calibration columns of a test on the observed cells, from
    its run on the pseudo cells (built once, on first use, and shared by every test)."""

    def __init__(self, run: PseudoRun, out, group_code: np.ndarray, n_groups: int, group_names=None,
                 draws: int | None = None):
        self.run = run
        #: pseudo-dates per event the tests are run at (the first ``draws`` of the placebo's)
        self.draws = run.requested if draws is None else min(int(draws), run.requested)
        self.out = out
        self.group_code = np.asarray(group_code, dtype=np.int64)
        self.n_groups = n_groups
        self.group_names = group_names
        self._pseudo: Cells | None = None

    @property
    def pseudo(self) -> Cells:
        if self._pseudo is None:
            self._pseudo = pseudo_cells(self.run, self.out, self.group_code, self.n_groups, self.group_names,
                                        self.draws)
        return self._pseudo

    def null(self, cells: Cells, values: np.ndarray) -> np.ndarray:
        """(C, B) per-pseudo-cell ``values`` placed at their observed cell and draw."""
        pc = self.pseudo
        B = self.run.requested  # the pseudo cells' key: event * requested + draw
        C = cells.n_cells
        out = np.full((C, B), np.nan)
        if C == 0 or pc.n_cells == 0:
            return out
        n_ev = int(max(cells.cell_event.max(), (pc.cell_event // B).max())) + 1
        G = self.n_groups + 1
        Wr = len(self.run.result.windows)
        idx = np.full((n_ev, G, Wr), -1, dtype=np.int64)
        idx[cells.cell_event, cells.cell_group, cells.cell_window] = np.arange(C)
        obs = idx[pc.cell_event // B, pc.cell_group, pc.cell_window]
        keep = obs >= 0
        out[obs[keep], (pc.cell_event % B)[keep]] = values[keep]
        return out

    def __call__(self, cells: Cells, test, outcome) -> dict[str, np.ndarray]:
        if test.name == "placebo":
            return {"p_calibrated": outcome.p_value, "size_5pct": leave_one_out_size(cells.placebo_null(cells)),
                    "calibration_draws": np.asarray(outcome.extra.get("draws", np.full(cells.n_cells, np.nan)))}
        po = test.run(self.pseudo)
        return calibrate(outcome.statistic, self.null(cells, po.statistic), self.null(cells, po.p_value))
