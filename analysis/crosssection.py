"""Group firm-events into (event, group, window) cells and run the cross-sectional tests.

Groups: each ``role`` present in an event, and ``all``. Everything is vectorized over cells;
the Kolari-Pynnönen correlation is computed for all events at once on padded
(event, calendar day, firm) arrays, in chunks of events to bound memory.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from analysis import inference
from analysis.engine import EngineResult, ReturnStore

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
    cstart[s] ...; days it has no eligible return hold 0. A zero series of length ``tail``
    follows the last security. Cached on the store per (padl, padr, tail).
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
        w = store.eligible
        yc = np.zeros(int(cstart[-1]) + tail)
        yc[pos] = np.where(w, store.y, 0.0)
        wc = np.zeros(len(yc), dtype=bool)
        wc[pos] = w
        Xc = np.zeros((store.X.shape[1], len(yc)))
        Xc[:, pos] = np.where(w[:, None], store.X, 0.0).T
        store._cache[key] = (cstart, first, yc, wc, Xc)
    return store._cache[key]


def kp_cell_correlations_aligned(
    event_code: np.ndarray,
    out: EngineResult,
    store: ReturnStore,
    cell_event: np.ndarray,
    cell_local: np.ndarray,
    n_local: int,
    member_rows: np.ndarray,
    member_cells: np.ndarray,
    min_shared: int = inference.MIN_SHARED_DATES,
    chunk_events: int = 128,
    threads: int | None = None,
) -> np.ndarray:
    """:func:`kp_cell_correlations` for engine results, without scattering the ARs.

    Same statistic; instead of scattering each firm-event's estimation ARs into an (event,
    firm, calendar day) array, an event's block is a contiguous slice of each member's
    calendar-aligned eligible y and X (:func:`_calendar_series`), gathered row by row; the
    ARs are recomputed there as y - x'theta (the same arithmetic as the engine's est_ar) and
    masked to the firm-event's own estimation window. Sum x, sum x^2 and the shared counts
    come from one batched matmul [Z; Z*Z; M] M', sum xy from Z Z'; cell means are batched
    (event, cell, firm) matmuls. ``cell_local`` (C,) numbers the cells within their event
    (0 .. n_local - 1); cells must be numbered in event order.
    """
    R, C = len(event_code), len(cell_event)
    threads = threads if threads is not None else min(2, os.cpu_count() or 1)
    res = np.full(C, np.nan)
    if R == 0 or C == 0:
        return res
    spec = store.spec
    p = store.X.shape[1]
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
    n = int(np.diff(bnd).max())
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
    view = np.lib.stride_tricks.sliding_window_view
    Vy, Vw = view(yc, D), view(wc, D)
    VX = [None if name == "const" else view(Xc[k], D) for k, name in enumerate(spec.regressors)]
    GE = view(np.r_[np.zeros(D, bool), np.ones(D, bool)], D)  # GE[D - a][d] = d >= a
    LE = view(np.r_[np.ones(D, bool), np.zeros(D, bool)], D)  # LE[D - b - 1][d] = d <= b
    eye = np.eye(n, dtype=bool)[None]
    mord = np.argsort(cell_event[member_cells], kind="stable")
    m_bnd = np.searchsorted(cell_event[member_cells][mord], np.arange(n_events + 1))
    c_bnd = np.searchsorted(cell_event, np.arange(n_events + 1))
    def chunk(ea: int) -> None:  # events [ea, ea + chunk_events); writes disjoint cells of res
        eb = min(n_events, ea + chunk_events)
        E = eb - ea
        rows = order[bnd[ea]:bnd[eb]]
        if len(rows) == 0:
            return
        at = (event_code[rows] - ea) * n + slot[rows]  # (event, slot); empty slots read zeros
        gs = np.full(E * n, zero, np.int64)
        gs[at] = gstart[rows]
        lr = np.ones(E * n, np.int64)
        hr = np.zeros(E * n, np.int64)
        lr[at] = lo_rel[rows]
        hr[at] = hi_rel[rows]
        th = np.zeros((E * n, p))
        th[at] = theta[rows]
        th = th.reshape(E, n, p)
        A = np.empty((E, n, 3, D))  # row 3i + q of event e: q = 0 Z_i, 1 Z_i^2, 2 M_i
        Z, M = A[:, :, 0], A[:, :, 2]
        Z.reshape(E * n, D)[...] = Vy[gs]
        for k in range(p):
            if VX[k] is None:  # the constant: a shift leaves the correlation over shared days unchanged
                continue
            x = VX[k][gs].reshape(E, n, D)
            x *= th[:, :, k:k + 1]
            Z -= x
        used = GE[D - lr] & LE[D - hr - 1]
        used &= Vw[gs]
        M[...] = used.reshape(E, n, D)
        Z *= M
        np.multiply(Z, Z, out=A[:, :, 1])
        P = (A.reshape(E, 3 * n, D) @ M.transpose(0, 2, 1)).reshape(E, n, 3, n)
        sx, sxx, cnt = P[:, :, 0], P[:, :, 1], P[:, :, 2]
        sxy = Z @ Z.transpose(0, 2, 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            vx = cnt * sxx - sx * sx
            corr = (cnt * sxy - sx * sx.transpose(0, 2, 1)) / np.sqrt(vx * vx.transpose(0, 2, 1))
        ok = np.isfinite(corr) & (cnt >= min_shared) & ~eye
        CV = np.empty((E, n, 2 * n))
        CV[:, :, :n] = np.where(ok, corr, 0.0)
        CV[:, :, n:] = ok
        sl = mord[m_bnd[ea]:m_bnd[eb]]
        mc, mr = member_cells[sl], member_rows[sl]
        Mb = np.zeros((E, n_local, n))
        Mb[cell_event[mc] - ea, cell_local[mc], slot[mr]] = 1.0
        T2 = Mb @ CV
        num = (T2[:, :, :n] * Mb).sum(axis=2)
        den = (T2[:, :, n:] * Mb).sum(axis=2)
        cs = np.arange(c_bnd[ea], c_bnd[eb])
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(den > 0, num / den, np.nan)
        res[cs] = r[cell_event[cs] - ea, cell_local[cs]]

    starts = range(0, n_events, chunk_events)
    if threads > 1 and n_events > chunk_events:
        with ThreadPoolExecutor(max_workers=threads) as pool:  # numpy releases the GIL
            list(pool.map(chunk, starts))
    else:
        for ea in starts:
            chunk(ea)
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
    r_kp = kp_cell_correlations_aligned(event_code, out, store, cell_event, uniq % (G * W), G * W, rows, cell)
    arrays = inference.cell_tests(
        cell, C, out.car[rows, win], out.car_se[rows, win], out.dof[rows],
        est_pos[rows], est_n[rows], r_kp)
    keys_frame = pd.DataFrame({"event": cell_event, "group": cell_group, "window": cell_window})
    arrays["_rows"] = rows
    arrays["_cell"] = cell
    return keys_frame, arrays
