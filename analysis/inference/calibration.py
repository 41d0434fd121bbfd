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

import threading
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from analysis.estimation import kernels
from analysis.inference.cells import Cells, build_cells, usable
from analysis.inference.placebo import PseudoRun
from analysis.inference.registry import REGISTRY

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


def pseudo_cells(run: PseudoRun, out, group_code: np.ndarray, n_groups: int, keep: np.ndarray, res,
                 group_names=None) -> Cells:
    """Cells of the pseudo firm-events ``keep`` (indices into ``run``; ``res`` their engine
    result) keyed (event * requested + draw, group, window): each pseudo-event's firms that are
    in the observed cell (and have a usable CAR there)."""
    act = run.act[keep]
    W = run.n_windows
    mask = np.zeros(res.car.shape, dtype=bool)
    mask[:, :W] = usable(out)[act][:, :W]
    code = run.event[keep] * run.requested + run.draw[keep]
    return build_cells(res, res.store, code, np.asarray(group_code)[act], n_groups, with_all=True,
                       group_names=group_names, mask=mask)


class Calibration:
    """``cells.calibration``: the calibration columns of a test on the observed cells, from its
    run on the pseudo cells.

    Fed chunk by chunk (:meth:`add`, the ``on_chunk`` of
    :func:`~analysis.inference.placebo.placebo_null`): every registered test (but the placebo)
    runs on each chunk's pseudo cells, and only each cell's statistic and p-value per draw are
    kept, (events, groups, windows, draws) per test; the pseudo firm-events are dropped with
    their chunk, so memory does not grow with the pseudo firm-events.

    The tests of a chunk run on ``threads`` worker threads (default
    :func:`~analysis.estimation.kernels.thread_count`; the compiled kernels and numpy release
    the GIL) while the caller goes on to the next chunk: at most ``threads`` chunks wait or
    run, so memory stays bounded; each chunk writes only its own draws, so the result does
    not depend on the order the threads finish in. :meth:`null` waits for them all (and
    re-raises a worker's error).
    """

    def __init__(self, run: PseudoRun, out, group_code: np.ndarray, n_groups: int, group_names=None,
                 draws: int | None = None, threads: int | None = None):
        self.run = run
        #: pseudo-dates per event the tests are run at (the first ``draws`` of the run's)
        self.draws = run.requested if draws is None else min(int(draws), run.requested)
        self.out = out
        self.group_code = np.asarray(group_code, dtype=np.int64)
        self.n_groups = n_groups
        self.group_names = group_names
        n_ev = len(run.available)
        self._width = max(0, min(self.draws, int(run.available.max(initial=0))))  # draws that exist
        self._shape = (n_ev, n_groups + 1, run.n_windows, self._width)
        self._null: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._lock = threading.Lock()  # guards the creation of self._null's arrays
        self._threads = kernels.thread_count(threads)
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[Future] = []

    def add(self, keep: np.ndarray, res) -> None:
        """Run every test on the pseudo cells of pseudo firm-events ``keep`` (their engine
        result ``res``) whose draw is calibrated; keep each cell's statistic and p-value. On a
        worker thread when ``threads`` > 1 (the call returns once the chunk is queued)."""
        if not (self.run.draw[keep] < self.draws).any():
            return
        if self._threads <= 1:
            self._add(keep, res)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self._threads, thread_name_prefix="calibration")
        try:
            while len(self._pending) >= self._threads:  # bounded: the oldest chunk first
                self._pending.pop(0).result()
        except BaseException:
            self._stop()
            raise
        self._pending.append(self._pool.submit(self._add, keep, res))

    def wait(self) -> None:
        """Wait for every queued chunk (re-raising a worker's error) and stop the workers."""
        try:
            while self._pending:
                self._pending.pop(0).result()
        finally:
            self._stop()

    def _stop(self) -> None:
        """Drop the queued chunks (after an error) and stop the workers."""
        for future in self._pending:
            future.cancel()
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def _add(self, keep: np.ndarray, res) -> None:
        sel = self.run.draw[keep] < self.draws
        if not sel.all():
            keep, res = keep[sel], res.take(np.nonzero(sel)[0])
        pc = pseudo_cells(self.run, self.out, self.group_code, self.n_groups, keep, res, self.group_names)
        if pc.n_cells == 0:
            return
        B = self.run.requested
        ev, b = pc.cell_event // B, pc.cell_event % B
        for name, test in REGISTRY.items():
            if name == "placebo" or not test.available(pc):
                continue
            po = test.run(pc)
            with self._lock:
                if name not in self._null:
                    self._null[name] = (np.full(self._shape, np.nan), np.full(self._shape, np.nan))
                stat, p = self._null[name]
            stat[ev, pc.cell_group, pc.cell_window, b] = po.statistic
            p[ev, pc.cell_group, pc.cell_window, b] = po.p_value

    def null(self, cells: Cells, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(C, B) statistics and p-values of test ``name`` at the pseudo-dates of each observed
        cell (NaN where a draw has none)."""
        self.wait()
        C = cells.n_cells
        if name not in self._null or C == 0:
            empty = np.full((C, self._width), np.nan)
            return empty, empty.copy()
        stat, p = self._null[name]
        ix = (cells.cell_event, cells.cell_group, cells.cell_window)
        return stat[ix], p[ix]

    def __call__(self, cells: Cells, test, outcome) -> dict[str, np.ndarray]:
        if test.name == "placebo":
            return {"p_calibrated": outcome.p_value, "size_5pct": leave_one_out_size(cells.placebo_null(cells)),
                    "calibration_draws": np.asarray(outcome.extra.get("draws", np.full(cells.n_cells, np.nan)))}
        stat, p = self.null(cells, test.name)
        return calibrate(outcome.statistic, stat, p)
