"""Group firm-events into (event, group, window) cells and run the cross-sectional tests.

Groups: each ``role`` present in an event, and ``all``. Everything is vectorized over cells;
the Kolari-Pynnönen correlation of every cell comes from one compiled pass over the events
(:func:`kp_cell_correlations_aligned`); :func:`kp_cell_correlations` is the independent numpy
reference the tests hold it to.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from analysis.inference import parametric as inference
from analysis.estimation import kernels
from analysis.estimation.engine import EngineResult, ReturnStore

ALL = "all"


def event_slots(event_code: np.ndarray) -> tuple[np.ndarray, int]:
    """Position of each row within its event (rows grouped by event in any order)."""
    order = np.argsort(event_code, kind="stable")
    ev_sorted = event_code[order]
    first = np.searchsorted(ev_sorted, ev_sorted, side="left")
    slot = np.empty(len(event_code), dtype=np.int64)
    slot[order] = np.arange(len(event_code)) - first
    return slot, int(slot.max()) + 1 if len(slot) else 0


def kp_cell_correlations(
    event_code: np.ndarray,
    est_ar: np.ndarray,
    est_dates: np.ndarray,
    cell_event: np.ndarray,
    member_rows: np.ndarray | None = None,
    member_cells: np.ndarray | None = None,
    min_shared: int = inference.MIN_SHARED_DATES,
    chunk_cells: int = 40_000_000,
) -> np.ndarray:
    """Reference implementation (scatter into (event, firm, calendar day) arrays), kept for the
    tests that check :func:`kp_cell_correlations_aligned`, the one the engine uses.

    Mean pairwise AR correlation (Kolari & Pynnönen 2010) for every cell.

    event_code: (R,) event of each firm-event row; est_ar, est_dates: (R, L) estimation-window
    ARs (NaN = unused) and their calendar dates as increasing integer codes (day numbers or
    ranks of session dates). Cells: ``cell_event`` (C,) event of
    each cell; membership given as pairs (member_rows[k], member_cells[k]).
    Pairs are correlated over the calendar dates they share (>= ``min_shared`` of them).
    """
    R, L = est_ar.shape
    C = len(cell_event)
    out = np.full(C, np.nan)
    if R == 0 or C == 0:
        return out
    slot, nmax = event_slots(event_code)
    n_events = int(event_code.max()) + 1
    ok = np.isfinite(est_ar)
    big = np.iinfo(np.int64).max
    row_min = np.where(ok, est_dates, big).min(axis=1)
    ev_min = np.full(n_events, big)
    np.minimum.at(ev_min, event_code, row_min)
    ev_min[ev_min == big] = 0
    rel = np.where(ok, est_dates - ev_min[event_code][:, None], 0)
    D = int(rel.max()) + 1
    # membership matrix per cell over slots
    Mb = np.zeros((C, nmax))
    Mb[member_cells, slot[member_rows]] = 1.0
    per_event = max(1, chunk_cells // max(1, D * nmax))  # bounds each chunk's arrays
    for e0 in range(0, n_events, per_event):
        e1 = min(n_events, e0 + per_event)
        rows = np.nonzero((event_code >= e0) & (event_code < e1))[0]
        if len(rows) == 0:
            continue
        E = e1 - e0
        # firm-major (event, firm slot, calendar day) arrays, filled through one flat index
        Z = np.zeros(E * nmax * D)
        Mk = np.zeros(E * nmax * D)
        okr = ok[rows]
        lin = ((event_code[rows] - e0) * nmax + slot[rows])[:, None] * D + rel[rows]
        Z[lin[okr]] = est_ar[rows][okr]
        Mk[lin[okr]] = 1.0
        Z = Z.reshape(E, nmax, D)
        Mk = Mk.reshape(E, nmax, D)
        MkT = Mk.transpose(0, 2, 1)
        cnt = Mk @ MkT  # shared dates
        sx = Z @ MkT  # sx[i, j]: sum of i's ARs over dates shared with j
        sxx = (Z * Z) @ MkT
        sxy = Z @ Z.transpose(0, 2, 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = (cnt * sxy - sx * sx.transpose(0, 2, 1)) / np.sqrt(
                (cnt * sxx - sx * sx) * (cnt * sxx - sx * sx).transpose(0, 2, 1))
        valid = np.isfinite(corr) & (cnt >= min_shared)
        eye = np.eye(nmax, dtype=bool)[None]
        valid &= ~eye
        c0 = np.where(valid, corr, 0.0)
        vf = valid.astype(float)
        cells = np.nonzero((cell_event >= e0) & (cell_event < e1))[0]
        ce = cell_event[cells] - e0
        mb = Mb[cells]
        num = np.einsum("ci,cij,cj->c", mb, c0[ce], mb)
        den = np.einsum("ci,cij,cj->c", mb, vf[ce], mb)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[cells] = np.where(den > 0, num / den, np.nan)
    return out


def _calendar_series(store: ReturnStore, padl: int, padr: int, tail: int):
    """Eligible y and regressors of every security on the store's union session calendar.

    Security s covers union-calendar ranks first[s] - padl .. last[s] + padr at
    cstart[s] ...; wc is 1 on days with an eligible return, and yc, Xc hold 0 elsewhere. A
    zero series of length ``tail`` follows the last security. Cached on the store per
    (padl, padr, tail).
    """
    key = ("kp_calendar", padl, padr, tail)
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
        Xc[:, pos] = XT
        store._cache[key] = (cstart, first, yc, wc, Xc)
    return store._cache[key]


def kp_cell_correlations_aligned(
    event_code: np.ndarray,
    out: EngineResult,
    store: ReturnStore,
    cell_event: np.ndarray,
    member_rows: np.ndarray,
    member_cells: np.ndarray,
    min_shared: int = inference.MIN_SHARED_DATES,
    threads: int | None = None,
) -> np.ndarray:
    """:func:`kp_cell_correlations` for engine results, without scattering the ARs.

    Same statistic; instead of scattering each firm-event's estimation ARs into an (event,
    firm, calendar day) array, an event's block is a contiguous slice of each member's
    calendar-aligned eligible y and X (:func:`_calendar_series`); the ARs are recomputed there
    as y - x'theta and masked to the firm-event's own estimation window, and every pair's
    correlation over the days both use comes from one compiled loop
    (:func:`analysis.estimation.kernels.event_pair_correlations`), run on ``threads`` threads (default up
    to 2) over contiguous runs of events. Cells must be numbered in event order.
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
    order = np.argsort(event_code, kind="stable")
    evs = event_code[order]
    n_events = int(event_code.max()) + 1
    bnd = np.searchsorted(evs, np.arange(n_events + 1))
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
    mord = np.argsort(member_cells, kind="stable")
    member_slot = slot[member_rows[mord]]
    member_cell_bnd = np.searchsorted(member_cells[mord], np.arange(C + 1))
    c_bnd = np.searchsorted(cell_event, np.arange(n_events + 1))
    args = (order, bnd, yc, wc, Xc, use_k, gstart, lo_rel, hi_rel, np.ascontiguousarray(theta, dtype=float),
            D, min_shared, c_bnd, member_cell_bnd, member_slot, res)
    # events split into contiguous runs of about equal firm-events, one per thread (the
    # compiled loop releases the GIL); each run writes its own cells of res
    cuts = np.unique(np.searchsorted(bnd, np.linspace(0, R, threads + 1).round(), side="left").clip(0, n_events))
    cuts[0], cuts[-1] = 0, n_events
    runs = list(zip(cuts[:-1], cuts[1:]))
    if len(runs) > 1:
        with ThreadPoolExecutor(max_workers=len(runs)) as pool:
            list(pool.map(lambda r: kernels.event_pair_correlations(int(r[0]), int(r[1]), *args), runs))
    else:
        kernels.event_pair_correlations(0, n_events, *args)
    return res


def cross_sectional_tests(
    event_code: np.ndarray,
    group_code: np.ndarray,
    n_groups: int,
    out: EngineResult,
    store: ReturnStore,
    with_all: bool = True,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Parametric tests for every (event, group, window) cell.

    event_code: (R,) ints; group_code: (R,) ints in [0, n_groups) (e.g. role codes); when
    ``with_all`` each row also joins group ``n_groups`` (= all). Returns the cell keys
    (event, group, window index) and the test arrays of :func:`inference.cell_tests`.
    """
    R, W = out.car.shape
    G = n_groups + (1 if with_all else 0)
    rows_l, cells_l, win_l = [], [], []
    # incomplete windows (sessions without any return) are listed per firm but left out here
    finite = np.isfinite(out.car) & np.isfinite(out.car_se) & (out.car_se > 0) & out.complete
    for j in range(W):
        r = np.nonzero(finite[:, j])[0]
        groups = [group_code[r]] + ([np.full(len(r), n_groups)] if with_all else [])
        for g in groups:
            rows_l.append(r)
            cells_l.append((event_code[r] * G + g) * W + j)
            win_l.append(np.full(len(r), j))
    rows = np.concatenate(rows_l) if rows_l else np.zeros(0, dtype=np.int64)
    keys = np.concatenate(cells_l) if cells_l else np.zeros(0, dtype=np.int64)
    win = np.concatenate(win_l) if win_l else np.zeros(0, dtype=np.int64)
    n_keys = (int(event_code.max()) + 1) * G * W if len(event_code) else 0
    present = np.bincount(keys, minlength=n_keys) > 0  # dense key space: no sort (np.unique)
    uniq = np.nonzero(present)[0]
    cell = (np.cumsum(present) - 1)[keys]
    C = len(uniq)
    cell_event = uniq // (G * W)
    cell_group = (uniq // W) % G
    cell_window = uniq % W
    est_pos, est_n = out.est_pos, out.m.astype(float)
    r_kp = kp_cell_correlations_aligned(event_code, out, store, cell_event, rows, cell)
    arrays = inference.cell_tests(
        cell, C, out.car[rows, win], out.car_se[rows, win], out.dof[rows],
        est_pos[rows], est_n[rows], r_kp)
    keys_frame = pd.DataFrame({"event": cell_event, "group": cell_group, "window": cell_window})
    arrays["_rows"] = rows
    arrays["_cell"] = cell
    return keys_frame, arrays
