"""Independent reference for the Kolari-Pynnönen mean pairwise correlation (test-only).

Scatters each firm-event's estimation ARs into (event, firm, calendar day) arrays and
correlates every pair with dense algebra; :func:`analysis.inference.cells.kp_cell_correlations_aligned`
(the engine's compiled path) is held to it, and it is held to pandas' ``DataFrame.corr``.
"""
from __future__ import annotations

import numpy as np

MIN_SHARED_DATES = 30


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
    min_shared: int = MIN_SHARED_DATES,
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
