"""The (event, group, window) cells every test statistic is computed over.

A cell is the firms of one group of one event with a usable CAR over one window (fitted,
finite, positive se, and every session of the window covered: ``complete``). :class:`Cells`
holds the membership of all cells at once (pairs: firm-event row, cell) and the per-member
arrays the tests need, computed once: CAR, se(CAR), SCAR, estimation d.f., the
generalized-sign counts, and (on first use) the Kolari-Pynnönen mean pairwise correlation of
each cell's estimation-window ARs, from one compiled pass over the events
(:func:`kp_cell_correlations_aligned`: exact pairwise up to 200 members, from the cell's
covariance sums above, :mod:`analysis.inference.kp_kernel`; ``tests/kp_reference.py`` is the
independent numpy reference the tests hold it to).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from analysis.estimation import kernels
from analysis.estimation.engine import EngineResult
from analysis.estimation.store import ReturnStore
from analysis.inference import cell_kernels, kp_kernel
from analysis.inference.columns import take_column
from analysis.vocab import format_window

#: Pairs of firms sharing fewer calendar dates are left out of the KP mean correlation.
MIN_SHARED_DATES = 30


#: The first element of the store cache keys of :func:`_calendar_series`.
CALENDAR_KEY = "kp_calendar"


def _calendar_series(store: ReturnStore, padl: int, padr: int, tail: int):
    """Eligible y and regressors of every security on the store's union session calendar.

    Security s covers union-calendar ranks first[s] - padl .. last[s] + padr at
    cstart[s] ...; wc is 1 on days with an eligible return, and yc, Xc hold 0 elsewhere. A
    zero series of length ``tail`` follows the last security. Cached on the store per
    (padl, padr, tail).
    """
    key = (CALENDAR_KEY, padl, padr, tail)
    if key not in store._cache:
        rank = store.date_rank
        first = rank[store.start]
        last = rank[store.start + store.length - 1]
        seg = (last - first + 1) + padl + padr
        cstart = np.concatenate([[0], np.cumsum(seg)]).astype(np.int64)
        sec_of = np.repeat(np.arange(len(store.symbols)), store.length)
        pos = cstart[sec_of] + padl + rank - first[sec_of]
        w, y, XT = store.used_arrays
        yc = np.zeros(int(cstart[-1]) + tail)
        yc[pos] = y
        wc = np.zeros(len(yc))
        wc[pos] = w
        Xc = np.zeros((XT.shape[0], len(yc)))
        for k in range(XT.shape[0]):  # row by row: a 1-D scatter is about 6x faster than Xc[:, pos]
            Xc[k, pos] = XT[k]
        store._cache[key] = (cstart, first, yc, wc, Xc)
    return store._cache[key]


def release_calendar_series(store: ReturnStore) -> None:
    """Drop the store's cached calendar-aligned series of :func:`_calendar_series` (about 4
    float64 values per store row: 590 MiB at 10,000 firms x 1,843 sessions) once no more KP
    correlations are computed on it; a later call builds them again."""
    for key in list(store._cache):  # a snapshot: another thread may add keys meanwhile
        if isinstance(key, tuple) and key[0] == CALENDAR_KEY:
            store._cache.pop(key, None)


def kp_cell_correlations_aligned(
    event_code: np.ndarray,
    out: EngineResult,
    store: ReturnStore,
    cell_event: np.ndarray,
    member_rows: np.ndarray,
    member_cells: np.ndarray,
    min_shared: int = MIN_SHARED_DATES,
    threads: int | None = None,
    pairwise_max: int = kp_kernel.PAIRWISE_MAX,
    cell_window: np.ndarray | None = None,
) -> np.ndarray:
    """Mean pairwise AR correlation (Kolari & Pynnönen 2010) of every cell.

    Cells of at most ``pairwise_max`` members: pairs are correlated over the calendar dates
    both firm-events use in their fits (at least ``min_shared``). Larger cells: the
    shared-date-weighted mean from the cell's covariance sums of standardized ARs, linear in
    firms and equal to the pairwise mean where the members use the same dates
    (:mod:`analysis.inference.kp_kernel`). Instead of scattering each firm-event's estimation ARs into an (event,
    firm, calendar day) array, an event's block is a contiguous slice of each member's
    calendar-aligned eligible y and X (:func:`_calendar_series`); the ARs are recomputed there
    as y - x'theta and masked to the firm-event's own estimation window, and every pair's
    correlation over the days both use comes from one compiled loop
    (:func:`analysis.inference.kp_kernel.cell_correlations`), run on ``threads`` threads (default up
    to 2) over contiguous runs of events. Cells must be numbered in event order. ``cell_window``
    (C,): the cells' windows, when the members come window by window (:func:`build_cells`):
    the members are then grouped by cell on the threads too.
    """
    R, C = len(event_code), len(cell_event)
    threads = kernels.thread_count(threads)
    res = np.full(C, np.nan)
    if R == 0 or C == 0:
        return res
    spec = store.spec
    sec, p0, theta = out.sec, out.p0, out.theta
    e0, e1 = out.estimation
    rank = store.date_rank
    length = store.length[sec]
    empty = (p0 + e1 < 0) | (p0 + e0 >= length)
    lo = rank[store.start[sec] + np.clip(p0 + e0, 0, length - 1)]
    hi = rank[store.start[sec] + np.clip(p0 + e1, 0, length - 1)]
    n_events = int(event_code.max()) + 1
    # firm-events by event (the stable order; none to sort when they come so, as from a study's panel)
    order = np.arange(R) if (np.diff(event_code) >= 0).all() else np.argsort(event_code, kind="stable")
    evs = event_code[order]
    bnd = np.concatenate([[0], np.cumsum(np.bincount(event_code, minlength=n_events))])
    slot = np.empty(R, np.int64)
    slot[order] = np.arange(R) - bnd[evs]
    big = np.iinfo(np.int64).max
    has = np.diff(bnd) > 0
    emin = np.zeros(n_events, np.int64)
    emax = np.zeros(n_events, np.int64)
    emin[has] = np.minimum.reduceat(np.where(empty, big, lo)[order], bnd[:-1][has])
    emax[has] = np.maximum.reduceat(np.where(empty, -1, hi)[order], bnd[:-1][has])
    live = emin < big
    emin[~live] = 0
    emax[~live] = 0
    D = int((emax - emin).max()) + 1
    first = rank[store.start]
    last = rank[store.start + store.length - 1]
    off = emin[event_code] - first[sec]  # event block start within the security's calendar series
    full = ~empty
    padl = int(max(0, -off[full].min())) if full.any() else 0
    padr = int(max(0, (off + D - 1 - (last[sec] - first[sec]))[full].max())) if full.any() else 0
    padl, padr = -(-padl // 64) * 64, -(-padr // 64) * 64  # fewer cache entries
    cstart, _, yc, wc, Xc = _calendar_series(store, padl, padr, D)
    zero = int(cstart[len(store.symbols)])
    gstart = np.where(empty, zero, cstart[sec] + padl + off)
    lo_rel = np.where(empty, 1, lo - emin[event_code])
    hi_rel = np.where(empty, 0, hi - emin[event_code])
    use_k = np.array([name != "const" for name in spec.regressors])
    # members of each cell, in cell order, as slots (positions within their event)
    member_cells = np.asarray(member_cells, dtype=np.int64)
    runs = None if cell_window is None else cell_kernels.member_runs(member_cells, cell_window, threads)
    member_slot, member_cell_bnd = kp_kernel.members_by_cell(member_cells, np.asarray(member_rows, dtype=np.int64),
                                                             slot, C, runs)
    c_bnd = np.searchsorted(cell_event, np.arange(n_events + 1))
    args = (order, bnd, yc, wc, Xc, use_k, gstart, lo_rel, hi_rel, np.ascontiguousarray(theta, dtype=float),
            D, min_shared, c_bnd, member_cell_bnd, member_slot, int(pairwise_max), res)
    # events split into contiguous runs of about equal firm-events, one per thread (the
    # compiled loop releases the GIL); each run writes its own cells of res
    kernels.map_on_threads(lambda r: kp_kernel.cell_correlations(r[0], r[1], *args), kernels.group_runs(bnd, threads),
                           threads)
    return res


class cached:
    """A property computed on first read and kept in the instance (``functools.cached_property``
    without its lock: before Python 3.12 that lock is one per attribute, shared by every
    instance, so the calibration's worker threads, each on its own :class:`Cells`, waited on
    each other's ``r_kp``, ``moments``, ...). Two threads reading one instance's attribute at
    once may both compute it (the same value): the first one stored is kept."""

    def __init__(self, func):
        self.func = func
        self.__doc__ = func.__doc__
        self.attrname = func.__name__

    def __set_name__(self, owner, name):
        self.attrname = name

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        stored = obj.__dict__
        if self.attrname not in stored:
            value = self.func(obj)
            return stored.setdefault(self.attrname, value)
        return stored[self.attrname]


@dataclass(eq=False)
class Cells:
    """All (event, group, window) cells of a run, and what the tests need of their members.

    ``rows``/``cell`` are membership pairs: firm-event ``rows[k]`` (a row of the engine result)
    is in cell ``cell[k]``; members are sorted by window, then group. Per-cell arrays have
    length C = ``n_cells``; per-member arrays length K. Labels (event ids, group names,
    window texts) are in :attr:`keys`.
    """

    result: EngineResult
    store: ReturnStore
    event_code: np.ndarray  # (R,) event of each firm-event row
    rows: np.ndarray  # (K,) firm-event row of each member
    cell: np.ndarray  # (K,) cell of each member
    cell_event: np.ndarray  # (C,) event code of each cell
    cell_group: np.ndarray  # (C,) group code of each cell
    cell_window: np.ndarray  # (C,) window index (into result.windows) of each cell
    event_names: list = field(default_factory=list)
    group_names: list = field(default_factory=list)
    #: pseudo-event null distribution of each cell's mean CAR, (C, B); None: no draws
    placebo_null: Callable[["Cells"], np.ndarray] | None = None
    #: (cells, test, outcome) -> extra tests.csv columns calibrating the test at pseudo-event
    #: dates (:mod:`analysis.inference.calibration`); None: not calibrated
    calibration: Callable | None = None

    @classmethod
    def from_members(cls, cell, car, car_se, dof=None, est_pos=None, est_n=None, r_kp=None,
                     n_cells: int | None = None) -> "Cells":
        """Cells given directly by their members' arrays (hand-worked cases, simulations):
        cell (K,) of each member, CAR and se (K,), estimation d.f., positive and total
        estimation ARs (K,), and each cell's KP correlation (C,). Tests that need the engine
        result (rank, placebo) do not apply to such cells."""
        cell = np.asarray(cell, dtype=np.int64)
        C = int(cell.max()) + 1 if n_cells is None and len(cell) else int(n_cells or 0)
        out = cls(result=None, store=None, event_code=np.zeros(0, dtype=np.int64), rows=np.arange(len(cell)),
                  cell=cell, cell_event=np.arange(C), cell_group=np.zeros(C, dtype=np.int64),
                  cell_window=np.zeros(C, dtype=np.int64))
        given = {"car": car, "car_se": car_se, "dof": dof, "est_pos": est_pos, "est_n": est_n, "r_kp": r_kp}
        for name, value in given.items():
            if value is not None:
                out.__dict__[name] = np.asarray(value, dtype=float)
        return out

    @property
    def n_cells(self) -> int:
        return len(self.cell_event)

    @cached
    def n(self) -> np.ndarray:
        """(C,) firms in each cell (float)."""
        return np.bincount(self.cell, minlength=self.n_cells).astype(float)

    def sum(self, values: np.ndarray) -> np.ndarray:
        """(C,) sum of a per-member array over each cell's members."""
        return np.bincount(self.cell, weights=values, minlength=self.n_cells)

    @cached
    def member_window(self) -> np.ndarray:
        return self.cell_window[self.cell] if len(self.cell) else np.zeros(0, dtype=np.int64)

    @cached
    def car(self) -> np.ndarray:
        """(K,) each member's CAR over its cell's window (decimal)."""
        return self.result.car[self.rows, self.member_window]

    @cached
    def car_se(self) -> np.ndarray:
        """(K,) se(CAR) with estimation error (MacKinlay 1997)."""
        return self.result.car_se[self.rows, self.member_window]

    @cached
    def scar(self) -> np.ndarray:
        return self.car / self.car_se

    @cached
    def dof(self) -> np.ndarray:
        """(K,) estimation degrees of freedom M_i - k."""
        return self.result.dof[self.rows]

    @cached
    def est_pos(self) -> np.ndarray:
        """(K,) positive estimation-window ARs (generalized sign test)."""
        return self.result.est_pos[self.rows].astype(float)

    @cached
    def est_n(self) -> np.ndarray:
        """(K,) estimation-window ARs used (M_i)."""
        return self.result.m[self.rows].astype(float)

    @cached
    def moments(self) -> dict[str, np.ndarray]:
        """(C,) per-cell sums of the members' CAR, CAR^2, SCAR, SCAR^2, Patell variance terms
        (M - k) / (M - k - 2), positive CARs, positive and total estimation ARs (the names of
        :data:`analysis.inference.cell_kernels.MOMENTS`), from one compiled pass over the
        members that reads the engine's arrays in place (:func:`~analysis.inference.cell_kernels.cell_moments`;
        the same sums as :meth:`sum` of the per-member arrays). Cells given by their members
        (:meth:`from_members`) read those; a member array not given sums to NaN."""
        K = len(self.cell)
        if self.result is not None:
            r = self.result
            args = (self.rows, self.cell_window, r.car, r.car_se, r.dof, r.est_pos, r.m)
        else:
            given = [self.__dict__.get(name) for name in ("car", "car_se", "dof", "est_pos", "est_n")]
            car, se, dof, pos, m = (np.full(K, np.nan) if v is None else v for v in given)
            args = (np.arange(K), np.zeros(self.n_cells, dtype=np.int64), car[:, None], se[:, None], dof, pos, m)
        rows, win, car, se, dof, pos, m = args
        sums = cell_kernels.cell_moments(
            self.cell, np.asarray(rows, dtype=np.int64), np.asarray(win, dtype=np.int64),
            np.asarray(car, dtype=float), np.asarray(se, dtype=float), np.asarray(dof, dtype=float),
            np.asarray(pos, dtype=float), np.asarray(m, dtype=float), self.n_cells)
        return dict(zip(cell_kernels.MOMENTS, sums))

    @cached
    def mean_car(self) -> np.ndarray:
        """(C,) equal-weighted mean CAR of each cell (decimal)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.moments["car"] / self.n

    @cached
    def r_kp(self) -> np.ndarray:
        """(C,) mean pairwise correlation of the members' estimation-window ARs (KP 2010).
        Firm-events that repeat one fit (the pseudo-events of several events on one date,
        :meth:`EngineResult.expanded`): cells with the same fits in the same order share one
        (:func:`~analysis.inference.cell_kernels.fit_sets`; the estimation windows alone enter,
        not the event window) when their events take the same path of the kernel: an event of
        more than :data:`~analysis.inference.kp_kernel.PAIRWISE_MAX` firm-events sums each pair
        once, a smaller one both ways (another rounding), so such an event is computed with all
        its firm-events, as without sharing."""
        source = self.result.source if self.result is not None else None
        if source is None or self.n_cells == 0:
            return kp_cell_correlations_aligned(self.event_code, self.result, self.store, self.cell_event,
                                                self.rows, self.cell, cell_window=self.cell_window)
        size = np.bincount(self.event_code, minlength=int(self.cell_event.max()) + 1)
        big = size > kp_kernel.PAIRWISE_MAX
        # set u's first cell is first[u], ascending: the cells computed stay in event order
        of_set, first = cell_kernels.fit_sets(self.rows, self.cell, self.n_cells, source[1], big[self.cell_event])
        at = np.full(self.n_cells, -1, dtype=np.int64)
        at[first] = np.arange(len(first))
        keep = at[self.cell] >= 0
        wanted = np.zeros(len(self.event_code), dtype=bool)
        wanted[self.rows[keep]] = True  # the firm-events of those cells
        whole = np.zeros(len(size), dtype=bool)
        whole[self.cell_event[first]] = True
        wanted |= (whole & big)[self.event_code]  # and every firm-event of a large event among theirs
        need = np.flatnonzero(wanted)
        r = kp_cell_correlations_aligned(self.event_code[need], self.result.take(need), self.store,
                                         self.cell_event[first], np.searchsorted(need, self.rows[keep]),
                                         at[self.cell[keep]], cell_window=self.cell_window[first])
        return r[of_set]

    @property
    def keys(self) -> pd.DataFrame:
        """event_id, group, window of every cell (labels)."""
        return pd.DataFrame(self.key_columns())

    def key_columns(self) -> dict:
        """event_id, group, window of every cell as columns taken from each label's distinct
        values (:func:`take_column`: a string column is built in Arrow, no Python string per row);
        the dtypes a frame infers from the labels as objects."""
        labels = {"event_id": (self.event_names, self.cell_event), "group": (self.group_names, self.cell_group),
                  "window": ([format_window(w) for w in self.result.windows], self.cell_window)}
        return {name: take_column(pd.Series(np.asarray(values, dtype=object)), code)
                for name, (values, code) in labels.items()}


def usable(result: EngineResult) -> np.ndarray:
    """(R, W) bool: the firm-event's CAR over the window can enter a cell (finite CAR, positive
    se, every session of the window covered; incomplete windows are listed per firm only)."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(result.car) & np.isfinite(result.car_se) & (result.car_se > 0) & result.complete


def build_cells(
    result: EngineResult,
    store: ReturnStore,
    event_code: np.ndarray,
    group_code: np.ndarray,
    n_groups: int,
    with_all: bool = True,
    event_names=None,
    group_names=None,
    placebo_null=None,
    mask: np.ndarray | None = None,
) -> Cells:
    """Cells for every (event, group, window) with at least one usable firm.

    event_code: (R,) ints; group_code: (R,) ints in [0, n_groups); with ``with_all`` each row
    also joins group ``n_groups`` (= all). ``mask``: optional (R, W) bool, firm-event windows
    allowed in cells (e.g. pseudo-events: only the firms of the observed cell). Cells are
    numbered in (event, group, window) order.
    """
    event_code = np.asarray(event_code, dtype=np.int64)
    group_code = np.asarray(group_code, dtype=np.int64)
    R, W = result.car.shape
    G = n_groups + (1 if with_all else 0)
    ok = usable(result)
    if mask is not None:
        ok &= mask
    n_events = int(event_code.max()) + 1 if len(event_code) else 0
    # one compiled pass: members by window, then group (own, then all), then row; cells in key order
    rows, cell, uniq = cell_kernels.cell_members(np.ascontiguousarray(ok), event_code, group_code, int(n_groups),
                                                 bool(with_all), n_events)
    return Cells(result=result, store=store, event_code=event_code, rows=rows, cell=cell,
                 cell_event=uniq // (G * W), cell_group=(uniq // W) % G, cell_window=uniq % W,
                 event_names=list(event_names) if event_names is not None else [],
                 group_names=list(group_names) if group_names is not None else [],
                 placebo_null=placebo_null)
