"""Compiled loops of the parametric tests: every cell's member sums in one pass, exact binomial p.

:func:`cell_moments` reads each member's CAR, se(CAR), estimation d.f. and sign counts straight
from the engine's (R, W) and (R,) arrays (no per-member copies) and adds them into per-cell sums
in member order, as ``numpy.bincount`` does (the same additions in the same order: the sums are
bit-identical to it). No fastmath: contraction to fused multiply-adds would change the roundings.

:func:`binomial_two_sided_p` is the "minimum likelihood" two-sided p-value of
``scipy.stats.binomtest`` (Conover 1999, sec. 3.1): the sum of Bin(n, p) probabilities of every
outcome j with P(W = j) <= P(W = k) (1 + 1e-7). The probabilities relative to the mode m,
u_j = P(W = j) / P(W = m), come from the ratio recurrence
P(W = j + 1) / P(W = j) = (n - j) / (j + 1) * p / (1 - p), and p = sum_selected u_j / sum_all u_j:
O(n) per cell, no special function, each u_j within about |j - m| roundings of the exact ratio.
"""
from __future__ import annotations

import math

import numpy as np

from analysis.estimation.kernels import _compiled, map_on_threads, thread_count

#: Rows of :func:`cell_moments`'s output, in order.
MOMENTS = ("car", "car2", "scar", "scar2", "patell_var", "car_pos", "est_pos", "est_n")


def fit_sets(rows: np.ndarray, cell: np.ndarray, n_cells: int, fit: np.ndarray | None = None,
             within: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`cell_sets` of the cells' firm-events ``rows``, or of the fits they repeat (``fit``:
    the fit of each firm-event, as :meth:`EngineResult.expanded` gives it) when every cell lists
    its fits in ascending order of its rows: cells with the same fits then list them in the same
    order, so a number computed from one cell's members in order (a sum) is that of every cell
    of its set, bit for bit. Else (a cell whose rows come in another order) sets of firm-events."""
    if fit is not None and len(rows):
        new_run = np.diff(cell) != 0
        if new_run.sum() + 1 == np.count_nonzero(np.bincount(cell, minlength=n_cells)) and \
                (np.diff(rows)[~new_run] > 0).all():  # each cell's pairs together, in row order
            ok = (np.diff(fit[rows])[~new_run] > 0).all()
        else:
            order = np.lexsort((rows, cell))
            ok = ((np.diff(fit[rows[order]]) > 0) | (np.diff(cell[order]) != 0)).all()
        if ok:
            return cell_sets(fit[rows], cell, n_cells, within)
    return cell_sets(rows, cell, n_cells, within)


def cell_sets(members: np.ndarray, cell: np.ndarray, n_cells: int,
              within: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(C,) index of each cell's set of members among the distinct sets, and (U,) one cell
    per set (the first), numbered in the order of their first cell. Membership pairs: member
    ``members[k]`` (non-negative ints: firm-events, or the fits they repeat) is in cell
    ``cell[k]``; ``within`` (C,): optional labels that also separate sets (e.g. the window).

    A set is identified by the sum of a random 64-bit key per member (wrapping), its size and
    its label: two different sets share an identifier with probability about 2^-64."""
    rng = np.random.default_rng(0)
    key = rng.integers(0, 2**63 - 1, size=int(members.max()) + 1 if len(members) else 1,
                       dtype=np.int64).view(np.uint64)
    h = np.zeros(n_cells, dtype=np.uint64)
    np.add.at(h, cell, key[members])
    n = np.bincount(cell, minlength=n_cells).astype(np.uint64)
    lab = np.zeros(n_cells, dtype=np.int64) if within is None else np.asarray(within, dtype=np.int64)
    srt = np.lexsort((lab, n, h))  # stable: the cells of a set in their order
    hs, ns, ls = h[srt], n[srt], lab[srt]
    new = np.ones(n_cells, dtype=bool)
    new[1:] = (hs[1:] != hs[:-1]) | (ns[1:] != ns[:-1]) | (ls[1:] != ls[:-1])
    first = srt[new]  # the first cell of each set
    of_cell = np.empty(n_cells, dtype=np.int64)
    of_cell[srt] = np.cumsum(new) - 1
    # number the sets in the order of their first cell (cells are in event order), so a
    # chunk of sets holds the firm-events of a few events only
    order = np.argsort(first, kind="stable")
    rank = np.empty(len(first), dtype=np.int64)
    rank[order] = np.arange(len(first))
    return rank[of_cell], first[order]


@_compiled()
def cell_moments(cell, rows, cell_window, car, car_se, dof, est_pos, est_n, n_cells):
    """(8, n_cells) per-cell sums over members k (member order) of :data:`MOMENTS`:
    CAR, CAR^2, SCAR = CAR / se, SCAR^2, (M - k) / (M - k - 2) (NaN where M - k <= 2: Patell's
    variance), 1 where CAR > 0, positive and total estimation ARs. Member k is firm-event
    rows[k] over its cell's window cell_window[cell[k]]: car, car_se (R, W); dof, est_pos, est_n (R,)."""
    out = np.zeros((8, n_cells))
    for k in range(cell.shape[0]):
        c = cell[k]
        r = rows[k]
        j = cell_window[c]
        x = car[r, j]
        s = x / car_se[r, j]
        d = dof[r]
        out[0, c] += x
        out[1, c] += x * x
        out[2, c] += s
        out[3, c] += s * s
        out[4, c] += d / (d - 2.0) if d > 2.0 else np.nan
        out[5, c] += 1.0 if x > 0.0 else 0.0
        out[6, c] += est_pos[r]
        out[7, c] += est_n[r]
    return out


#: Fewest members worth splitting over threads (:func:`member_runs`).
THREADED_MEMBERS = 1 << 16


def member_runs(cell, cell_window, threads: int) -> list[tuple[int, int]]:
    """Consecutive runs (k0, k1) of members, about equal, such that no cell has members in two
    runs (for work on threads per run): cut where the window changes when the members come
    window by window (as :func:`cell_members` orders them); one run otherwise, or for fewer than
    :data:`THREADED_MEMBERS` members or one thread."""
    K = len(cell)
    starts = _window_starts(cell, cell_window) if threads > 1 else None
    if starts is None or len(starts) == 0 or K < THREADED_MEMBERS:
        return [(0, K)]
    cuts = [0] + [int(starts[np.argmin(np.abs(starts - K * q / threads))]) for q in range(1, threads)] + [K]
    cuts = sorted(set(cuts))
    return list(zip(cuts[:-1], cuts[1:]))


@_compiled()
def _window_starts(cell, cell_window):
    """Members where the window changes (k > 0 with window[k] != window[k - 1]), or None when the
    members' windows are not in non-decreasing order."""
    K = cell.shape[0]
    starts = np.empty(K, np.int64)
    n = 0
    prev = cell_window[cell[0]] if K > 0 else 0
    for k in range(1, K):
        w = cell_window[cell[k]]
        if w < prev:
            return None
        if w != prev:
            starts[n] = k
            n += 1
        prev = w
    return starts[:n]


@_compiled()
def binomial_two_sided_p(k, n, p):
    """(C,) exact two-sided p of k successes in n trials under Bin(n, p) (module doc); 1 when
    k = n p; NaN where n < 1, p is not in (0, 1) or k is not finite. k, n: whole numbers as floats."""
    C = k.shape[0]
    out = np.full(C, np.nan)
    for c in range(C):
        nn, pp, kk = n[c], p[c], k[c]
        if not (nn >= 1.0 and pp > 0.0 and pp < 1.0 and math.isfinite(kk)):
            continue
        if kk == nn * pp:
            out[c] = 1.0
            continue
        N = int(nn)
        K = int(kk)
        ratio = pp / (1.0 - pp)
        mode = min(N, max(0, int(math.floor((nn + 1.0) * pp))))
        # u_K first (the threshold), walking from the mode
        u = 1.0
        if K > mode:
            for j in range(mode, K):
                u *= (N - j) / (j + 1.0) * ratio
        else:
            for j in range(mode, K, -1):
                u *= j / ((N - j + 1.0) * ratio)
        limit = u * (1.0 + 1e-7)
        total = 1.0
        chosen = 1.0 if 1.0 <= limit else 0.0
        u = 1.0
        for j in range(mode, N):  # above the mode
            u *= (N - j) / (j + 1.0) * ratio
            if u == 0.0:
                break
            total += u
            if u <= limit:
                chosen += u
        u = 1.0
        for j in range(mode, 0, -1):  # below the mode
            u *= j / ((N - j + 1.0) * ratio)
            if u == 0.0:
                break
            total += u
            if u <= limit:
                chosen += u
        out[c] = min(1.0, chosen / total)
    return out


def cell_members(ok, event_code, group_code, n_groups, with_all, n_events, threads=None):
    """Membership of the (event, group, window) cells: (rows, cell, keys) with rows (K,) the
    firm-event row and cell (K,) the cell of each member, and keys (C,) the cells' codes
    (event * G + group) * W + window, G = n_groups (+ 1 with ``with_all``: group n_groups =
    all), cells numbered in key order. Members come by window, then group layer (own group,
    then all), then row. ok (R, W) bool: the row's CAR over the window enters a cell. The
    members of each window are written on ``threads`` threads (default up to 2), in two
    about equal runs of windows."""
    W = ok.shape[1]
    cell_of, keys, per_window = _cell_keys(ok, event_code, group_code, n_groups, with_all, n_events)
    start = np.concatenate([[0], np.cumsum(per_window)])
    rows = np.empty(int(start[-1]), np.int64)
    cell = np.empty(int(start[-1]), np.int64)
    threads = thread_count(threads)
    cut = int(np.argmin(np.abs(start - start[-1] / 2))) if threads > 1 and start[-1] >= THREADED_MEMBERS else 0
    runs = [(0, cut), (cut, W)] if 0 < cut < W else [(0, W)]

    def fill(r):
        _fill_members(r[0], r[1], start, ok, event_code, group_code, n_groups, with_all, cell_of, rows, cell)

    map_on_threads(fill, runs, len(runs))
    return rows, cell, keys


@_compiled()
def _cell_keys(ok, event_code, group_code, n_groups, with_all, n_events):
    """(cell_of, keys, per_window) of :func:`cell_members`: the cell of every key
    (event * G + group) * W + window, the keys of the cells present (in key order), and the
    members of each window (W,)."""
    R, W = ok.shape
    G = n_groups + (1 if with_all else 0)
    layers = 2 if with_all else 1
    present = np.zeros(n_events * G * W, np.bool_)
    per_window = np.zeros(W, np.int64)
    for r in range(R):
        for j in range(W):
            if ok[r, j]:
                present[(event_code[r] * G + group_code[r]) * W + j] = True
                if with_all:
                    present[(event_code[r] * G + n_groups) * W + j] = True
                per_window[j] += layers
    cell_of = np.empty(present.shape[0], np.int64)
    C = 0
    for key in range(present.shape[0]):
        cell_of[key] = C
        if present[key]:
            C += 1
    keys = np.empty(C, np.int64)
    for key in range(present.shape[0]):
        if present[key]:
            keys[cell_of[key]] = key
    return cell_of, keys, per_window


@_compiled()
def _fill_members(j0, j1, start, ok, event_code, group_code, n_groups, with_all, cell_of, rows, cell):
    """The members of windows j0 .. j1 - 1 written from position start[j0] (:func:`cell_members`)."""
    R, W = ok.shape
    G = n_groups + (1 if with_all else 0)
    layers = 2 if with_all else 1
    k = start[j0]
    for j in range(j0, j1):
        for layer in range(layers):
            for r in range(R):
                if ok[r, j]:
                    g = group_code[r] if layer == 0 else n_groups
                    rows[k] = r
                    cell[k] = cell_of[(event_code[r] * G + g) * W + j]
                    k += 1
