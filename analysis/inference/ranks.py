"""Nonparametric rank tests for (event, group, window) cells, vectorized over cells.

Two tests, both two-sided, both computed for every cell at once (the only Python loop is
over the handful of windows):

``corrado`` -- Corrado (1989) rank test in the multi-day form of Cowan (1992), with the
    Corrado & Zivney (1992) standardization for missing returns.

    Ranking sample of firm-event i for window [a, b]: its estimation-window ARs plus its
    event-window ARs on the days a..b (the window's own days, not the whole event period;
    this is the sample of Cowan 1992 and of Corrado 1989 for a one-day window, and it makes
    a window's statistic independent of which other windows are requested). Estimation days
    inside [a, b] (if the estimation window overlaps the event window) are taken once, as
    event days. A return that spans a suspension (``span > 1``) is a multi-session return
    and is treated as missing, as the engine does in the estimation window.

        K_it  = rank of AR_it among firm i's M_i non-missing ARs of the sample
                (ties get the average rank)
        U_it  = K_it / (1 + M_i)                          (Corrado & Zivney 1992)
        Ubar_t = mean of U_it over the N_t cell firms with an AR on day t
        S_U^2 = (1 / T) * sum_t (N_t / N) (Ubar_t - 1/2)^2
                over the T days of the sample on which some cell firm has an AR
        Z     = sqrt(L) * ( (1/L) sum_{t=a..b} sqrt(N_t / N) (Ubar_t - 1/2) ) / S_U
                over the L window days on which some cell firm has an AR;  N(0, 1)

    A day's mean rank deviation over N_t < N firms has variance N / N_t times that over
    all N firms, which is what S_U^2 estimates (each term of S_U^2 carries the same weight
    N_t / N); scaling each window day's deviation by sqrt(N_t / N) keeps Z at unit variance
    when firms are missing on window days (e.g. suspended on day 0; without it, 2 of 4
    firms missing on day 0 reject about 20% of the time at 5%).

    N = cell firms. (Cowan 1992, "Nonparametric event study tests", Review of Quantitative
    Finance and Accounting 2:343-358, rank test for a multiday window; Corrado 1989, JFE
    23:385-395; Corrado & Zivney 1992, JFQA 27:465-478; both reviewed in Kolari & Pynnönen
    2011.) Under the null the U_it are uniform on (0, 1) with mean 1/2; S_U estimates the
    standard deviation of a day's cross-sectional mean rank from the whole sample.

``grank`` -- generalized rank test of Kolari & Pynnönen (2011, "Nonparametric rank tests for
    event studies", Journal of Empirical Finance 18:953-971), robust to
    event-induced volatility and cross-correlation; a window of any length is collapsed
    into one cumulative event "day" 0.

        SAR_it  = AR_it / S_i  for the estimation days,  S_i^2 = the engine's sigma^2
                  (residual variance, M_i - k d.f.)
        SCAR_i  = CAR_i / se(CAR_i)  (the engine's CAR and its MacKinlay standard error,
                  with estimation error)
        SCAR*_i = SCAR_i / S_SCAR,  S_SCAR^2 = (1/(n-1)) sum_i (SCAR_i - mean SCAR)^2 over
                  the cell's n firms (cross-sectional restandardization, as in BMP)
        GSAR_i  = (SAR_i over the estimation days, SCAR*_i as day 0)
        U_it    = rank(GSAR_it) / (T_i + 1) - 1/2,  T_i = firm i's non-missing GSARs
                  (T_i = T when nothing is missing; ties get the average rank)
        Ubar_t  = mean of U_it over the n_t cell firms with a GSAR at t
        S_Ubar^2 = (1/T) sum_t (n_t / n) Ubar_t^2  over the T time points (estimation days
                  with some cell firm's SAR, plus day 0)
        Z       = Ubar_0 / S_Ubar
        t_grank = Z * sqrt((T - 2) / (T - 1 - Z^2));  Student t(T - 2)

    Estimation days inside [a, b] are left out of the GSAR series. The reported statistic
    is t_grank (if Z^2 >= T - 1 it is +-inf with p = 0). Dividing a cell's SCARs by one
    sample sd is a common noise on all its day-0 ranks, so in small cells the test is a
    little oversized (simulated: about 5.5% at the 5% level with 44 normal firms, 6% with
    32; see benchmarks/simulate_rejection.py).

Cells are the (event, group, window) cells of :func:`analysis.inference.cells.cross_sectional_tests`,
given as membership pairs (``cell_rows[k]`` is a firm-event row of cell ``cell_ids[k]``; the
``_rows``/``_cell`` arrays it returns) and each cell's window index. Rows whose fit is not
usable (``~out.ok``) or whose window CAR is not finite are left out. A cell with fewer than 2
firms (or a degenerate variance) gets NaN.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analysis.estimation import kernels
from analysis.estimation.engine import EngineResult, cumulate
from analysis.estimation.pvalues import normal_p_value, t_p_value
from analysis.inference.registry import CellTest, TestOutcome, register

RANK_TESTS = ("corrado", "grank")


def average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks (1-based) within each row of ``x`` (n, T) over its finite values; ties get the
    average of the ranks they span; NaN where ``x`` is not finite."""
    return sorted_rows(x).ranks


@dataclass(frozen=True)
class SortedRows:
    """Each row of a sample (n, T) sorted once, shared by every window and both tests.

    ranks: average ranks (1-based, ties averaged; NaN where missing); values: the row's values
    ascending, missing last; count: (n,) finite values per row.
    """

    ranks: np.ndarray
    values: np.ndarray
    count: np.ndarray


def sorted_rows(x: np.ndarray) -> SortedRows:
    """:class:`SortedRows` of ``x`` (n, T); +-inf count as missing.

    The rows are sorted by one vectorized ``numpy.sort`` of integer keys: the value rounded to
    float32 (rounding keeps the order, up to ties) with its bits mapped to an unsigned integer
    of the same order (sign bit flipped for x >= 0, all bits for x < 0; missing values get the
    largest key), its lowest ceil(log2 T) bits replaced by the column, so the sort also returns
    the order (32-bit keys sort about 3 times faster than 64-bit ones; 64-bit keys from the
    float64 bits when T > 2^12 would leave the float32 keys too few bits). Values whose keys
    tie (a relative difference below about T * 2^-24) may come out of order; one compiled pass
    (:func:`_finish_sorted`) restores the exact order by insertion among neighbours, then
    gives a run of t tied values starting at sorted position k the average rank k + (t + 1)/2
    (a value's rank is 1 + values below it + (ties - 1)/2).
    """
    x = np.ascontiguousarray(x, dtype=float)
    n, T = x.shape
    shift = max(1, int(T - 1).bit_length())
    key = np.empty((n, T), dtype=np.uint32 if shift <= 12 else np.uint64)
    values = np.empty((n, T))
    ranks = np.empty((n, T))
    count = np.zeros(n, dtype=np.int64)

    def part(rows: slice) -> None:  # rows apart from the others: on a thread of their own
        if shift <= 12:
            _sort_keys32(x[rows], shift, key[rows])
        else:
            _sort_keys(x[rows].view(np.uint64), shift, key[rows])
        key[rows].sort(axis=1)
        _finish_sorted(x[rows], key[rows], shift, values[rows], ranks[rows], count[rows])

    if x.size:
        kernels.map_on_threads(part, kernels.parts(n, min_size=kernels.THREADED_ROWS),
                               None if n >= kernels.THREADED_ROWS else 1)
    return SortedRows(ranks, values, count)


@kernels._compiled()
def _sort_keys32(x, shift, key):
    """The 32-bit sort keys of :func:`sorted_rows` from the values (n, T), through float32."""
    n, T = x.shape
    sign = np.uint32(1) << np.uint32(31)
    low = (np.uint32(1) << np.uint32(shift)) - np.uint32(1)
    f = np.empty(T, np.float32)
    for i in range(n):
        for t in range(T):
            f[t] = np.float32(x[i, t])
        bits = f.view(np.uint32)
        for t in range(T):
            key[i, t] = (_ordered(bits[t], sign, not math.isfinite(x[i, t])) & ~low) | np.uint32(t)


@kernels._compiled()
def _sort_keys(bits, shift, key):
    """The 64-bit sort keys of :func:`sorted_rows` from the values' bits (n, T)."""
    n, T = bits.shape
    sign = np.uint64(1) << np.uint64(63)
    low = (np.uint64(1) << np.uint64(shift)) - np.uint64(1)
    exp = np.uint64(0x7FF0000000000000)
    for i in range(n):
        for t in range(T):
            b = bits[i, t]
            key[i, t] = (_ordered(b, sign, (b & exp) == exp) & ~low) | np.uint64(t)


@kernels._compiled()
def _ordered(b, sign, missing):
    """A float's bits b as an unsigned integer of the same order (sign bit flipped for x >= 0,
    all bits for x < 0); a missing value (NaN, +-inf) gets the largest."""
    if missing:
        return ~(b ^ b)
    return ~b if b & sign else b | sign


@kernels._compiled()
def _finish_sorted(x, key, shift, values, ranks, count):
    """From the sorted keys (n, T) of :func:`sorted_rows`: values[i], row i's finite values
    exactly ascending (insertion among neighbours: they are nearly sorted), NaN after them;
    their count; and the average rank of every finite value (NaN where missing). A row whose
    keys were in exact order without ties (the usual case) gets its ranks 1..m in the same
    pass; one with a tie or a value out of order gets them from a second pass."""
    n, T = x.shape
    low = (1 << shift) - 1
    order = np.empty(T, np.int64)
    for i in range(n):
        m = 0
        again = False  # a tie or an insertion: ranks from the second pass
        for k in range(T):
            col = np.int64(key[i, k]) & low
            v = x[i, col]
            if not math.isfinite(v):
                break
            if k > 0 and values[i, k - 1] >= v:
                again = True
                j = k
                while j > 0 and values[i, j - 1] > v:  # rarely taken: only among tied keys
                    values[i, j] = values[i, j - 1]
                    order[j] = order[j - 1]
                    j -= 1
            else:
                j = k
            values[i, j] = v
            order[j] = col
            ranks[i, col] = k + 1.0
            m += 1
        for k in range(m, T):  # the missing values, last in the keys' order
            values[i, k] = np.nan
            ranks[i, np.int64(key[i, k]) & low] = np.nan
        count[i] = m
        if not again:
            continue
        k = 0
        while k < m:
            v = values[i, k]
            e = k + 1
            while e < m and values[i, e] == v:
                e += 1
            r = 0.5 * float(k + e + 1)  # positions k..e-1 hold ranks k+1..e
            for j in range(k, e):
                ranks[i, order[j]] = r
            k = e


def _take(a: np.ndarray, rows: np.ndarray, cols: np.ndarray | None = None) -> np.ndarray:
    """a[rows][:, cols] without copying when rows (sorted, unique) and cols take everything."""
    if not (len(rows) == a.shape[0] and (len(rows) == 0 or rows[-1] == len(rows) - 1)):
        a = a[rows]
    if cols is not None and not cols.all():
        a = a[:, cols]
    return a


def merge_ranks(E: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average ranks within each row of the joint sample [E | W]: (ranks of E's values, ranks
    of W's values), NaN where missing.

    E's rows are sorted once (:func:`sorted_rows`, shared by every window and by both tests);
    a window is merged in by one compiled pass over the sorted rows (:func:`_merge_sorted`).
    """
    E = np.ascontiguousarray(E, dtype=float)
    W = np.ascontiguousarray(W, dtype=float)
    srt = sorted_rows(E)
    out = np.empty((E.shape[0], E.shape[1] + W.shape[1]))
    _merge_sorted(E, srt.ranks, srt.values, srt.count, W, out, False)
    return out[:, :E.shape[1]].copy(), out[:, E.shape[1]:].copy()


@kernels._compiled()
def _grank_cells(E, base, rows, xs, ptr, u0, s2, T_out):
    """GRANK per cell without a (pairs, days) array: pairs ptr[c]..ptr[c+1] of cell c are
    firm rows ``rows`` of E (SARs, NaN = missing; base = their average ranks) with day-0 value
    ``xs`` (SCAR*). Writes Ubar_0 (u0), S_Ubar^2 (s2) and T (time points with some firm)."""
    C = ptr.shape[0] - 1
    n_rows, Le = E.shape
    T_i = np.zeros(n_rows)  # non-missing SARs of each row, plus day 0
    for i in range(n_rows):
        m = 0
        for t in range(Le):
            m += math.isfinite(E[i, t])
        T_i[i] = 1.0 + m
    tot = np.zeros(Le + 1)
    cnt = np.zeros(Le + 1)
    for c in range(C):
        tot[:] = 0.0
        cnt[:] = 0.0
        n = ptr[c + 1] - ptr[c]
        for k in range(ptr[c], ptr[c + 1]):
            x = xs[k]
            if not math.isfinite(x):
                continue
            i = rows[k]
            below, ties = _grank_add(E[i], base[i], x, T_i[i] + 1.0, tot, cnt)
            tot[Le] += (1.0 + float(below) + 0.5 * float(ties)) / (T_i[i] + 1.0) - 0.5
            cnt[Le] += 1.0
        u0[c], s2[c], T_out[c] = _grank_moments(tot, cnt, n)


@kernels._compiled()
def _grank_add(e, b, x, denom, tot, cnt):
    """One firm's estimation days into a GRANK cell: tot[t] += rank/denom - 1/2 and cnt[t] += 1
    where e[t] is finite (rank = b[t] + 1 if x < e[t], + 1/2 if x == e[t]); returns how many
    of them are below x and equal to x. Branch-free (adding 0.0 leaves tot unchanged: it is
    never -0.0), so the loop vectorizes; the sums per day are in the callers' order."""
    below = 0
    ties = 0
    for t in range(e.shape[0]):
        v = e[t]
        fin = math.isfinite(v)
        r = b[t] + (1.0 if x < v else 0.0) + (0.5 if x == v else 0.0)
        tot[t] += (r / denom - 0.5) if fin else 0.0
        cnt[t] += 1.0 if fin else 0.0
        below += v < x
        ties += v == x
    return below, ties


def corrado(est_ar: np.ndarray, win_ar: np.ndarray, rows: np.ndarray, cell: np.ndarray,
            n_cells: int, est_sorted: SortedRows | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Corrado-Cowan rank statistic and two-sided N(0, 1) p-value for every cell.

    est_ar: (R, Le) estimation-day ARs, win_ar: (R, L) ARs of the window's days (NaN =
    missing), both on common relative-day columns; rows, cell: (P,) membership pairs
    (firm-event row ``rows[k]`` belongs to cell ``cell[k]``); est_sorted: optional
    ``sorted_rows(est_ar)`` (computed when not given). Every row of ``est_ar`` is ranked, in a
    cell or not (give only the rows wanted). Returns (stat, p), each (n_cells,).
    """
    est_ar = np.asarray(est_ar, dtype=float)
    win_ar = np.asarray(win_ar, dtype=float)
    rows = np.asarray(rows, dtype=np.int64)
    cell = np.asarray(cell, dtype=np.int64)
    stat = np.full(n_cells, np.nan)
    if len(rows) == 0:
        return stat, stat.copy()
    E = np.ascontiguousarray(est_ar)
    srt = sorted_rows(E) if est_sorted is None else est_sorted
    Le = E.shape[1]
    Wv = np.ascontiguousarray(win_ar)
    U = np.empty((E.shape[0], Le + Wv.shape[1]))  # every row's U, once: a row may be in many cells
    _merge_sorted(E, srt.ranks, srt.values, srt.count, Wv, U, True)
    order = np.argsort(cell, kind="stable")
    ptr = np.searchsorted(cell[order], np.arange(n_cells + 1)).astype(np.int64)
    z = np.full(n_cells, np.nan)
    _corrado_cells(U, Le, rows[order], ptr, z)
    return z, normal_p_value(z)


@kernels._compiled()
def _window_rank(values, m, ws, q, x):
    """K of window value x in a row's joint sample: 1 + the values below it + (ties - 1)/2,
    among the row's m sorted estimation values (binary search) and its q window values ws."""
    lo = 0  # estimation values below x, then not above x (binary search)
    hi = m
    while lo < hi:
        mid = (lo + hi) >> 1
        if values[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    e_lt = lo
    hi = m
    while lo < hi:
        mid = (lo + hi) >> 1
        if values[mid] <= x:
            lo = mid + 1
        else:
            hi = mid
    return _joint_rank(e_lt, lo, ws, q, x)


@kernels._compiled()
def _joint_rank(e_lt, e_le, ws, q, x):
    """K of window value x from the row's estimation values below it (e_lt) and not above it
    (e_le), and its q window values ws: 1 + values below + (ties - 1)/2."""
    w_lt = 0
    w_le = 0
    for j in range(q):
        w_lt += ws[j] < x
        w_le += ws[j] <= x
    below = e_lt + w_lt
    ties = (e_le - e_lt) + (w_le - w_lt)
    return 1.0 + float(below) + 0.5 * float(ties - 1)


@kernels._compiled()
def _corrado_z(tot, cnt, Le, n):
    """Corrado-Cowan Z from a cell's sums of U and counts per day (Le estimation days, then
    the window days) and its n firms (module doc); NaN unless some window day has a rank and
    S_U^2 > 0."""
    D = tot.shape[0]
    T = 0.0
    s2 = 0.0
    for t in range(D):
        if cnt[t] > 0:
            T += 1.0
            dev = tot[t] / cnt[t] - 0.5
            s2 += cnt[t] / n * dev * dev
    s2 /= T if T > 0 else 1.0
    Lc = 0.0
    md = 0.0
    for t in range(Le, D):
        if cnt[t] > 0:
            Lc += 1.0
            md += (tot[t] / cnt[t] - 0.5) * math.sqrt(cnt[t] / n)
    if Lc > 0 and s2 > 0:
        return math.sqrt(Lc) * (md / Lc) / math.sqrt(s2)
    return np.nan


@kernels._compiled()
def _grank_moments(tot, cnt, n):
    """GRANK's (Ubar_0, S_Ubar^2, T) from a cell's sums of U and counts per time point (the
    estimation days, then day 0 last) and its n firms (module doc)."""
    T = 0.0
    acc = 0.0
    for t in range(tot.shape[0]):
        if cnt[t] > 0:
            T += 1.0
            ub = tot[t] / cnt[t]
            acc += cnt[t] / n * ub * ub
    last = tot.shape[0] - 1
    return (tot[last] / cnt[last] if cnt[last] > 0 else np.nan), (acc / T if T > 0 else np.nan), T


@kernels._compiled()
def _merge_sorted(E, ranks, values, count, Wv, U, divide):
    """K, the average rank of every value of each row's joint sample [E | Wv] (NaN where
    missing), from E's rows sorted (``ranks``, ``values``, ``count``: :class:`SortedRows`):
    an estimation day's rank is its rank within E plus the window values below it (1/2 per
    tie), one branch-free pass over the row per window value (a window is short); a window
    value's is 1 + the values of [E | Wv] below it + (ties - 1)/2, by binary search in the
    sorted row. Counts and halves are exact in floating point. ``divide``: U = K / (1 + M)
    instead (M = the row's values; Corrado & Zivney 1992)."""
    n, Le = E.shape
    L = Wv.shape[1]
    ws = np.empty(max(L, 1))
    acc = np.empty(Le)
    for i in range(n):
        m = count[i]
        q = 0
        for d in range(L):
            x = Wv[i, d]
            if math.isfinite(x):
                ws[q] = x
                q += 1
        den = float(m + q) + 1.0 if divide else 1.0
        e = E[i]
        for t in range(Le):
            acc[t] = ranks[i, t]  # NaN where E is missing, and stays NaN
        for d in range(q):
            w = ws[d]
            for t in range(Le):  # 1 if above w, 1/2 if equal (vectorizes)
                acc[t] += 0.5 * ((e[t] > w) + (e[t] >= w))
        for t in range(Le):
            U[i, t] = acc[t] / den
        for d in range(L):
            x = Wv[i, d]
            U[i, Le + d] = _window_rank(values[i], m, ws, q, x) / den if math.isfinite(x) else np.nan


@kernels._compiled()
def _corrado_cells(U, Le, rows, ptr, z_out):
    """Corrado-Cowan Z per cell from the members' U rows (module doc): members
    ptr[c]..ptr[c+1] of cell c are rows ``rows`` of U (columns: Le estimation days, then the
    window days; NaN = missing). Z stays NaN unless N >= 2, some window day has a rank and
    S_U^2 > 0."""
    C = ptr.shape[0] - 1
    D = U.shape[1]
    tot = np.zeros(D)
    cnt = np.zeros(D)
    for c in range(C):
        n = ptr[c + 1] - ptr[c]
        if n < 2:
            continue
        tot[:] = 0.0
        cnt[:] = 0.0
        for k in range(ptr[c], ptr[c + 1]):
            i = rows[k]
            for t in range(D):
                u = U[i, t]
                if math.isfinite(u):
                    tot[t] += u
                    cnt[t] += 1.0
        z_out[c] = _corrado_z(tot, cnt, Le, n)


def grank(est_sar: np.ndarray, scar: np.ndarray, rows: np.ndarray, cell: np.ndarray,
          n_cells: int, est_ranks: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Kolari-Pynnönen (2011) t_grank and its two-sided Student t(T - 2) p-value per cell.

    est_sar: (R, Le) standardized estimation-day ARs (NaN = missing); scar: (R,) SCAR_i =
    CAR_i / se(CAR_i) of the window; rows, cell: (P,) membership pairs. Pairs with a
    non-finite SCAR are left out. SCAR is restandardized within each cell. est_ranks:
    optional ``average_ranks(est_sar)`` (the same as the ranks of the unstandardized ARs).
    Returns (t_grank, p), each (n_cells,).
    """
    est_sar = np.asarray(est_sar, dtype=float)
    scar = np.asarray(scar, dtype=float)
    rows = np.asarray(rows, dtype=np.int64)
    cell = np.asarray(cell, dtype=np.int64)
    nan = np.full(n_cells, np.nan)
    keep = np.isfinite(scar[rows])
    rows, cell = rows[keep], cell[keep]
    if len(rows) == 0:
        return nan, nan.copy()
    x = scar[rows]
    n = np.bincount(cell, minlength=n_cells).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.bincount(cell, weights=x, minlength=n_cells) / n
        sd = np.sqrt(np.bincount(cell, weights=(x - mean[cell]) ** 2, minlength=n_cells) / (n - 1))
        xs = x / sd[cell]  # SCAR*
    E = np.ascontiguousarray(est_sar)
    base = average_ranks(E) if est_ranks is None else np.ascontiguousarray(est_ranks)
    # one GSAR series per (firm, cell) pair (SCAR* depends on the cell), ranked and averaged
    # per cell in one compiled pass (:func:`_grank_cells`)
    order = np.argsort(cell, kind="stable")
    ptr = np.searchsorted(cell[order], np.arange(n_cells + 1))
    u0, s2, T = np.full(n_cells, np.nan), np.full(n_cells, np.nan), np.zeros(n_cells)
    _grank_cells(E, base, rows[order],
                 np.ascontiguousarray(xs[order], dtype=float), ptr.astype(np.int64), u0, s2, T)
    return _grank_t(u0, s2, T, n, sd)


def rank_cells(est: np.ndarray, est_sorted: SortedRows, s: np.ndarray, win_ar: np.ndarray, scar: np.ndarray,
               rows: np.ndarray, cell: np.ndarray, n_cells: int, family: np.ndarray | None = None,
               cols: np.ndarray | None = None, est_row: np.ndarray | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Both rank tests for every cell, of one or several windows, in one compiled pass
    (:func:`_rank_families`): the numbers of :func:`corrado` and :func:`grank` (the same
    sums, each cell's members in ascending row order), without their (rows, days) arrays.

    est: (R, Le) estimation-day ARs (NaN = missing) and ``est_sorted = sorted_rows(est)``;
    s: (R,) residual sd, SAR = est / s; win_ar: (R, L) the ARs of the windows' days; rows,
    cell: (P,) membership pairs; scar: (P,) each pair's SCAR = CAR / se(CAR) over its cell's
    window; cols: optional (P, 2), the columns [first, last + 1) of win_ar that are the pair's
    window (default all L; a cell's pairs share one window); family: optional (n_cells,) label
    of cells that share rows (e.g. a pseudo-event's cells of every group and window): a
    family's rows are read and their SARs computed once for all its cells. Where some pair's
    SCAR is not finite (GRANK leaves such pairs out, Corrado keeps them) :func:`corrado` and
    :func:`grank` are called, window by window. ``est_row``: optional (R,) row of ``est`` (and
    ``est_sorted``) of each row of ``s`` and ``win_ar`` (firm-events that repeat one fit, as
    the pseudo-events of several events on one date: their estimation ARs sorted once); by
    default row r is row r.
    Returns {'corrado': (statistic, p), 'grank': (statistic, p)}, each (n_cells,).
    """
    rows = np.asarray(rows, dtype=np.int64)
    cell = np.asarray(cell, dtype=np.int64)
    scar = np.asarray(scar, dtype=float)
    win_ar = np.ascontiguousarray(win_ar, dtype=float)
    cols = (np.tile(np.array([0, win_ar.shape[1]], dtype=np.int64), (len(rows), 1)) if cols is None
            else np.asarray(cols, dtype=np.int64).reshape(len(rows), 2))
    if len(rows) == 0 or not np.isfinite(scar).all():
        if est_row is not None:
            est = est[est_row]
            est_sorted = SortedRows(est_sorted.ranks[est_row], est_sorted.values[est_row], est_sorted.count[est_row])
        return _rank_cells_apart(est, est_sorted, s, win_ar, scar, rows, cell, n_cells, cols)
    est_row = (np.arange(len(win_ar), dtype=np.int64) if est_row is None
               else np.ascontiguousarray(est_row, dtype=np.int64))
    n = np.bincount(cell, minlength=n_cells).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.bincount(cell, weights=scar, minlength=n_cells) / n
        sd = np.sqrt(np.bincount(cell, weights=(scar - mean[cell]) ** 2, minlength=n_cells) / (n - 1))
        xs = scar / sd[cell]  # SCAR*
    fam = np.arange(n_cells, dtype=np.int64) if family is None else np.asarray(family, dtype=np.int64)
    _, fam = np.unique(fam, return_inverse=True)
    by_fam = np.argsort(fam, kind="stable")
    first = np.searchsorted(fam[by_fam], fam[by_fam])
    slot = np.empty(n_cells, dtype=np.int64)
    slot[by_fam] = np.arange(n_cells) - first  # a cell's place within its family
    window = cols[:, 0] * (win_ar.shape[1] + 1) + cols[:, 1]
    order = np.lexsort((slot[cell], window, rows, fam[cell]))  # by family, row, window, cell
    pf = fam[cell][order]
    fptr = np.flatnonzero(np.r_[True, pf[1:] != pf[:-1], True]).astype(np.int64)
    z = np.full(n_cells, np.nan)
    u0, s2, T = np.full(n_cells, np.nan), np.full(n_cells, np.nan), np.zeros(n_cells)
    args = (np.ascontiguousarray(est, dtype=float), est_sorted.ranks, est_sorted.count, est_row,
            np.ascontiguousarray(s, dtype=float), win_ar, rows[order], np.ascontiguousarray(cols[order]),
            cell[order], slot[cell][order], np.ascontiguousarray(xs[order], dtype=float))
    # families apart (no cell in two): contiguous runs of them, of about equal pairs, on threads
    threads = kernels.thread_count() if len(win_ar) >= kernels.THREADED_ROWS else 1
    kernels.map_on_threads(lambda ab: _rank_families(*args, fptr[ab[0]:ab[1] + 1], int(slot.max()) + 1, n,
                                                     z, u0, s2, T), kernels.group_runs(fptr, threads), threads)
    return {"corrado": (z, normal_p_value(z)), "grank": _grank_t(u0, s2, T, n, sd)}


def _rank_cells_apart(est, est_sorted, s, win_ar, scar, rows, cell, n_cells, cols):
    """:func:`rank_cells` by :func:`corrado` and :func:`grank`, one window at a time."""
    res = {name: (np.full(n_cells, np.nan), np.full(n_cells, np.nan)) for name in RANK_TESTS}
    with np.errstate(divide="ignore", invalid="ignore"):
        sar = est / np.asarray(s, dtype=float)[:, None]
    for lo, hi in np.unique(cols, axis=0):
        m = (cols[:, 0] == lo) & (cols[:, 1] == hi)
        uc = _distinct(cell[m], n_cells)
        ci = np.searchsorted(uc, cell[m])
        row_scar = np.full(est.shape[0], np.nan)
        row_scar[rows[m]] = scar[m]
        done = {"corrado": corrado(est, win_ar[:, lo:hi], rows[m], ci, len(uc), est_sorted=est_sorted),
                "grank": grank(sar, row_scar, rows[m], ci, len(uc), est_ranks=est_sorted.ranks)}
        for name, (st, p) in done.items():
            res[name][0][uc], res[name][1][uc] = st, p
    return res


def _grank_t(u0, s2, T, n, sd) -> tuple[np.ndarray, np.ndarray]:
    """t_grank and its Student t(T - 2) p-value from each cell's Ubar_0, S_Ubar^2 and T (module
    doc); NaN where the cell has fewer than 2 firms or a degenerate variance."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = u0 / np.sqrt(s2)
        room = T - 1.0 - z**2
        t = np.where(room > 0, z * np.sqrt((T - 2.0) / room), np.sign(z) * np.inf)
    ok = (n >= 2) & np.isfinite(sd) & (sd > 0) & (T > 2) & (s2 > 0)
    t = np.where(ok, t, np.nan)
    p = np.where(ok, t_p_value(t, np.where(ok, T - 2.0, 1.0)), np.nan)
    return t, p


@kernels._compiled()
def _day_counts(e, x, before, after, above, not_below, d):
    """One window day of a row, value x (skipped when missing), against its estimation values
    e: after[t] = before[t] + (1 if e[t] > x, 1/2 if equal), and the values above x and not
    below it into above[d], not_below[d]. Branch-free selects and integer counts (the loop
    vectorizes); NaN compares false."""
    a = 0
    nb = 0
    if math.isfinite(x):
        for t in range(e.shape[0]):
            after[t] = before[t] + 0.5 * ((1.0 if e[t] > x else 0.0) + (1.0 if e[t] >= x else 0.0))
            a += e[t] > x
            nb += e[t] >= x
    else:
        for t in range(e.shape[0]):
            after[t] = before[t]
    above[d] = a
    not_below[d] = nb


@kernels._compiled()
def _rank_families(E, ranks, count, src, s, Wv, rows, cols, cell, slot, xs, fptr, F, n_cell, z_out, u0, s2, T_out):
    """Corrado-Cowan Z (z_out) and GRANK's Ubar_0, S_Ubar^2, T (u0, s2, T_out) per cell (module
    doc), with the arithmetic of :func:`_merge_sorted`, :func:`_corrado_cells` and
    :func:`_grank_cells`. Pairs fptr[f]..fptr[f+1] are family f's, ordered by row, window,
    then cell: row ``rows[k]`` (its estimation values row ``src[rows[k]]`` of E) is in cell ``cell[k]`` (``slot[k]`` < F: its place in the
    family), whose window is columns cols[k, 0] .. cols[k, 1] - 1 of Wv, with SCAR* ``xs[k]``.
    Each row's SARs are computed once per family, each window day's comparisons with its
    estimation values once (:func:`_day_counts`, summed over a window's days as a difference of
    running sums: halves, exact), its U once per window, and added to the sums of every cell
    it is in."""
    Le = E.shape[1]
    L = Wv.shape[1]
    tot = np.zeros((F, Le + L))
    cnt = np.zeros((F, Le + L))
    gtot = np.zeros((F, Le + 1))
    gcnt = np.zeros((F, Le + 1))
    used = np.full(F, -1, np.int64)  # the cell in each slot of the current family
    width = np.zeros(F, np.int64)  # its window's days
    u = np.empty(Le + L)
    sar = np.empty(Le)
    pre = np.zeros((L + 1, Le))  # pre[d, t]: the row's window-day values of days < d below e[t] (1/2 per tie)
    above = np.zeros(L, np.int64)  # per window day: the row's estimation values above its value
    not_below = np.zeros(L, np.int64)  # and not below it
    ws = np.empty(max(L, 1))
    wday = np.empty(max(L, 1), np.int64)
    for f in range(fptr.shape[0] - 1):
        for j in range(F):
            used[j] = -1
        row = -1
        lo = -1
        hi = -1
        Ti = 0.0
        for k in range(fptr[f], fptr[f + 1]):
            sl = slot[k]
            if used[sl] < 0:
                used[sl] = cell[k]
                width[sl] = cols[k, 1] - cols[k, 0]
                tot[sl, :] = 0.0
                cnt[sl, :] = 0.0
                gtot[sl, :] = 0.0
                gcnt[sl, :] = 0.0
            e = E[src[rows[k]]]
            if rows[k] != row:  # a new row: its SARs
                row = rows[k]
                lo = -1
                si = s[row]
                c = 0
                for t in range(Le):
                    sar[t] = e[t] / si
                    c += math.isfinite(sar[t])
                Ti = 1.0 + c
                for d in range(L):  # each window day once for every window of the row
                    _day_counts(e, Wv[row, d], pre[d], pre[d + 1], above, not_below, d)
            if cols[k, 0] != lo or cols[k, 1] != hi:  # a new window of the row: its U
                lo = cols[k, 0]
                hi = cols[k, 1]
                m = count[src[row]]
                q = 0
                for d in range(hi - lo):
                    x = Wv[row, lo + d]
                    u[Le + d] = np.nan
                    if math.isfinite(x):
                        ws[q] = x
                        wday[q] = d
                        q += 1
                den = float(m + q) + 1.0
                rk = ranks[src[row]]
                p_hi = pre[hi]
                p_lo = pre[lo]
                for t in range(Le):  # halves and whole numbers: exact in any order
                    u[t] = (rk[t] + (p_hi[t] - p_lo[t])) / den
                for d in range(q):
                    day = lo + wday[d]
                    u[Le + wday[d]] = _joint_rank(m - not_below[day], m - above[day], ws, q, ws[d]) / den
            tt = tot[sl]
            cc = cnt[sl]
            for t in range(Le + hi - lo):
                fin = math.isfinite(u[t])
                tt[t] += u[t] if fin else 0.0
                cc[t] += 1.0 if fin else 0.0
            x = xs[k]
            if math.isfinite(x):
                below, ties = _grank_add(sar, ranks[src[row]], x, Ti + 1.0, gtot[sl], gcnt[sl])
                gtot[sl, Le] += (1.0 + float(below) + 0.5 * float(ties)) / (Ti + 1.0) - 0.5
                gcnt[sl, Le] += 1.0
        for sl in range(F):
            c = used[sl]
            if c < 0:
                continue
            n = n_cell[c]
            D = Le + width[sl]
            if n >= 2:
                z_out[c] = _corrado_z(tot[sl, :D], cnt[sl, :D], Le, n)
            u0[c], s2[c], T_out[c] = _grank_moments(gtot[sl], gcnt[sl], n)


def rank_tests(
    out: EngineResult,
    cell_rows: np.ndarray,
    cell_ids: np.ndarray,
    cell_window: np.ndarray,
    n_cells: int,
    windows: list[tuple[int, int]] | None = None,
    cell_family: np.ndarray | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Corrado-Cowan and GRANK statistics for every cell, keyed by test name.

    out: the engine result for R firm-events. cell_rows, cell_ids: (P,) membership pairs --
    firm-event row ``cell_rows[k]`` (index into ``out``'s arrays) is in cell ``cell_ids[k]``
    (``arrays['_rows']`` and ``arrays['_cell']`` of ``cross_sectional_tests``); cell_window:
    (n_cells,) index into ``windows`` of each cell's window (``keys['window']``); windows:
    the (a, b) windows those indices refer to (default ``out.windows``; others must lie
    within ``out.days``, and their CARs are recomputed with :func:`analysis.estimation.engine.cumulate`, which raises ValueError otherwise);
    cell_family: optional (n_cells,) label of cells that share firm-events (their event, or
    pseudo-event), whose rows are then ranked once for all of them (:func:`rank_cells`).
    Returns {'corrado': (statistic, p_value), 'grank': (statistic, p_value)}, each (n_cells,).
    """
    windows = list(out.windows) if windows is None else [tuple(int(v) for v in w) for w in windows]
    cell_rows = np.asarray(cell_rows, dtype=np.int64)
    cell_ids = np.asarray(cell_ids, dtype=np.int64)
    cell_window = np.asarray(cell_window, dtype=np.int64)
    if [tuple(w) for w in out.windows] == windows and out.car is not None:
        car, car_se = out.car, out.car_se
    else:
        c = cumulate(out, windows)
        car, car_se = c["car"], c["car_se"]
    est_days = np.arange(out.estimation[0], out.estimation[1] + 1)
    day_ar = np.where(out.valid & (out.span == 1), out.ar, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.sqrt(out.sigma2)
    res = {name: (np.full(n_cells, np.nan), np.full(n_cells, np.nan)) for name in RANK_TESTS}
    pair_window = cell_window[cell_ids] if len(cell_ids) else np.zeros(0, dtype=np.int64)
    all_rows = _distinct(cell_rows, out.ar.shape[0])  # the rows in some cell: ranked once per set of days kept
    by_days: dict[bytes, tuple] = {}  # windows keeping the same estimation days: one pass for all of them
    for j, (a, b) in enumerate(windows):
        with np.errstate(invalid="ignore"):
            good = np.isfinite(car[:, j]) & np.isfinite(car_se[:, j]) & (car_se[:, j] > 0) & out.ok
        sel = (pair_window == j) & good[cell_rows]
        if sel.any():
            outside = (est_days < a) | (est_days > b)
            by_days.setdefault(outside.tobytes(), (outside, []))[1].append((j, sel))
    source = out.source  # firm-events that repeat one fit (pseudo-events on one date): sorted once
    if source is not None:
        fit_rows = _distinct(source[1][all_rows], len(source[0].ok))
        est_row = _position(fit_rows, source[1][all_rows], len(source[0].ok))
    R = out.ar.shape[0]
    for outside, parts in by_days.values():
        days = np.zeros(len(out.days), dtype=bool)  # the window days of these windows, as columns
        for j, _ in parts:
            days |= (out.days >= windows[j][0]) & (out.days <= windows[j][1])
        col_of_day = np.cumsum(days) - 1
        rows, cells, scar, cols = [], [], [], []
        for j, sel in parts:
            r = cell_rows[sel]
            rows.append(r)
            cells.append(cell_ids[sel])
            with np.errstate(divide="ignore", invalid="ignore"):
                scar.append(car[r, j] / car_se[r, j])
            a, b = windows[j]
            first = col_of_day[np.searchsorted(out.days, a)]
            cols.append(np.tile([first, first + b - a + 1], (len(r), 1)))
        rows, cells, scar, cols = (np.concatenate(x) for x in (rows, cells, scar, cols))
        # whole families (cells sharing rows) at a time, about RANK_CHUNK_ROWS rows each: the
        # (rows, estimation days) arrays of one chunk alive at once, not of every row; the
        # pseudo-events' shared fits of a calibration chunk are ranked at once
        pieces = ([(np.arange(len(rows)), all_rows)] if source is not None else
                  [(take, _distinct(rows[take], R)) for take in _family_chunks(rows, cells, cell_family, R)])
        for take, r_c in pieces:
            fits = (out.est_ar, r_c) if source is None else (source[0].est_ar, fit_rows)
            est = np.ascontiguousarray(_take(*fits, outside), dtype=float)
            win = np.ascontiguousarray(_take(day_ar, r_c, days), dtype=float)
            uc = _distinct(cells[take], n_cells)
            fam = None if cell_family is None else np.asarray(cell_family)[uc]
            got = rank_cells(est, sorted_rows(est), s[r_c], win, scar[take], _position(r_c, rows[take], R),
                             _position(uc, cells[take], n_cells), len(uc), fam, cols[take],
                             None if source is None else est_row)
            for name, (st, p) in got.items():
                res[name][0][uc], res[name][1][uc] = st, p
    return res


#: Rows ranked at a time by :func:`rank_tests` (whole families of cells): a row's (estimation
#: days) arrays take about 3 KB there (its ARs, sort keys, sorted values, ranks), so a chunk
#: holds about 200 MB; at or above kernels.THREADED_ROWS, so a chunk still splits over threads.
RANK_CHUNK_ROWS = 65_536


def _family_chunks(rows: np.ndarray, cells: np.ndarray, cell_family, n_rows: int) -> list:
    """The pairs (rows, cells) in chunks of whole families (``cell_family`` of the cells; one
    family a cell without it) of about :data:`RANK_CHUNK_ROWS` rows: a list of index arrays into
    the pairs, in family order (one family larger than that is a chunk of its own)."""
    if cell_family is None or len(rows) == 0:
        return [np.arange(len(rows))]
    fam = np.asarray(cell_family)[cells]
    codes, fam = np.unique(fam, return_inverse=True)
    if len(codes) < 2:
        return [np.arange(len(rows))]
    row_fam = np.full(n_rows, -1, dtype=np.int64)
    row_fam[rows] = fam  # a row's family (rows of several families count in one: sizes are a guide)
    size = np.bincount(row_fam[row_fam >= 0], minlength=len(codes))
    chunk = np.zeros(len(codes), dtype=np.int64)
    filled = 0
    for f in range(len(codes)):
        if filled and filled + size[f] > RANK_CHUNK_ROWS:
            chunk[f] = chunk[f - 1] + 1
            filled = 0
        else:
            chunk[f] = chunk[f - 1] if f else 0
        filled += size[f]
    of_pair = chunk[fam]
    order = np.argsort(of_pair, kind="stable")
    bounds = np.searchsorted(of_pair[order], np.arange(chunk[-1] + 2))
    return [order[bounds[c]:bounds[c + 1]] for c in range(chunk[-1] + 1)]


def _distinct(values: np.ndarray, size: int) -> np.ndarray:
    """np.unique of non-negative integers below ``size``, in O(size) (no sort)."""
    seen = np.zeros(size, dtype=bool)
    seen[values] = True
    return np.flatnonzero(seen)


def _position(distinct: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """The position of each of ``values`` in ``distinct`` (:func:`_distinct` of them, below
    ``size``): the values themselves when every integer below ``size`` is there (as for the
    pseudo cells, whose rows are all in cells), else by binary search."""
    return values if len(distinct) == size else np.searchsorted(distinct, values)


def _rank_results(cells) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Both rank tests for every cell, computed once per :class:`Cells` (they share ranks)."""
    cache = cells.__dict__.setdefault("_rank_results", {})
    if not cache:
        cache.update(rank_tests(cells.result, cells.rows, cells.cell, cells.cell_window, cells.n_cells,
                                cell_family=cells.cell_event))
    return cache


@register
class Corrado(CellTest):
    """Corrado (1989) rank test, multi-day form of Cowan (1992); N(0, 1) (see module doc)."""

    name = "corrado"
    null = "the event window's abnormal returns rank like any other days of the firms' estimation windows"
    label = "Corrado"
    description = "Corrado (1989) rank test"
    words = "Corrado rank test"
    plain = ("checks whether the event days' abnormal returns rank unusually high or low among each firm's own"
             " pre-event days")
    reference = "Corrado (1989); Cowan (1992); Corrado & Zivney (1992)"
    distribution = "N(0,1)"

    def compute(self, cells) -> TestOutcome:
        stat, p = _rank_results(cells)["corrado"]
        return TestOutcome(stat, p)


@register
class GeneralizedRank(CellTest):
    """Kolari & Pynnönen (2011) generalized rank test; Student t(T - 2) (see module doc)."""

    name = "grank"
    null = "the firms' standardized CARs rank like their standardized estimation-window abnormal returns"
    label = "GRANK t"
    description = "generalized rank test (Kolari & Pynnönen 2011)"
    words = "GRANK test"
    plain = ("ranks each firm's standardized CAR among its own standardized pre-event abnormal returns, "
             "allowing for the firms' cross-correlation")
    reference = "Kolari & Pynnönen (2011)"
    distribution = "t(T-2)"

    def compute(self, cells) -> TestOutcome:
        stat, p = _rank_results(cells)["grank"]
        return TestOutcome(stat, p)
