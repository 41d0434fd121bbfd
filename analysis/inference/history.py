"""Tail-robust p-values from a firm's (or a portfolio's) whole price history: ``p_history``.

For a firm-event i with fitted normal-return model theta_i (its event's fit, over its
estimation window), the abnormal return on every session t of the security's whole history is

    AR_i,t = y_t - x_t' theta_i

(in sample inside the estimation window, out of sample outside it; a missing return has none,
a return spanning a suspension is one AR on the session it is recorded). A window of L
sessions starting at t sums S_t = sum_{u=t..t+L-1} AR_u over the returns it holds (at least
one). The reference windows are every such window of the window's own length L that overlaps
neither the event window [a, b] nor -K..+K sessions around any catalog event's day 0 for the
security (K = the study's exclusion, ``exclude_event_days``; with K = 0 the day 0 itself). With
n of them,

    p_history = (1 + #{t : |S_t| >= |CAR|}) / (1 + n)         (two-sided)
    p_history_floor = 1 / (1 + n)                              (the smallest p it can give)

the rank of the observed move among all comparable moves of the same security (a
permutation-style p-value: exact when the windows are exchangeable, and whatever the tails of
the returns; cf. Gelbach, Helland & Klick 2013 for the same idea over the estimation window).

A portfolio (a tests.csv cell: event, group, window) uses the same rule on its members'
equal-weighted AR series on the union of their session dates: each date's portfolio AR is the
mean of the members' AR_i,t over the members with a return that date (each from its own
theta_i); a date is excluded when it is within K sessions of a catalog day 0 for any member;
the event window is every date from the earliest to the latest member's day a..b session; the
observed value is the row's portfolio CAR (``estimate`` of the portfolio test).

The windows are counted from prefix sums in one compiled pass (O(days) per query; a sum too
close to the observed value to call from the prefix sums is summed again day by day, so the
counts are those of the sequential sums: :func:`_count`). A firm's window sums are
sum y - theta' sum x, the sums of y and x built once per security and window length for all
its firm-events (:func:`firm_window_counts`); the portfolio series are built per member set
by calendar rank (:func:`union_sums`): memory does not grow with firms x days.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.estimation.kernels import _compiled, map_on_threads
from analysis.estimation.panel import event_day_mask
from analysis.estimation.store import ReturnStore
from analysis.vocab import parse_window

#: The columns p_history adds to the firm rows of car.csv and the portfolio rows of tests.csv.
HISTORY_COLUMNS = ("p_history", "n_history", "p_history_floor")


#: Series from which the p_history passes go on two threads: :func:`firm_p_history`'s firm-event
#: series (at least this many in each half) and the portfolio pass's member rows (two halves of
#: the calendar).
THREAD_MIN_SERIES = 2000
#: Float64 unit roundoff: bounds the rounding of a window sum taken from prefix sums.
_EPS = 2.0 ** -52


@_compiled()
def _prefix(x, flag, xa, fa, m, P, H, F):
    """Prefix sums over positions 0..m-1 of series x[xa:] (flags flag[fa:]): P (float) of the
    returns (NaN as 0), H of the returns, F of the flags, each P[0] = 0; returns sum |x|."""
    P[0] = 0.0
    H[0] = 0
    F[0] = 0
    total = 0.0
    for t in range(m):
        v = x[xa + t]
        if np.isnan(v):
            P[t + 1] = P[t]
            H[t + 1] = H[t]
        else:
            P[t + 1] = P[t] + v
            H[t + 1] = H[t] + 1
            total += abs(v)
        F[t + 1] = F[t] + (1 if flag[fa + t] else 0)
    return total


@_compiled()
def _count(x, xa, P, H, F, m, L, lo, hi, thr, total):
    """(n, k) of one query over a series with prefix sums P, H, F (:func:`_prefix`): windows
    j..j+L-1 that hold no flag, do not overlap lo..hi and hold a return; k: |sum| >= |thr|.
    A window's sum is P[j+L] - P[j]; where that lies within ``tol`` of the threshold it is
    summed again return by return (the sequential sum the count is defined by), so the count
    is exactly the sequential one: the prefix difference and the sequential sum each differ
    from the exact sum by at most (m + L + 2) eps sum|x| (recursive summation), within tol."""
    thr = abs(thr)
    tol = 8.0 * (m + L + 2) * _EPS * total
    n = 0
    k = 0
    for j in range(m - L + 1):
        if j <= hi and j + L - 1 >= lo:
            continue
        if F[j + L] != F[j] or H[j + L] == H[j]:
            continue
        n += 1
        s = abs(P[j + L] - P[j])
        if abs(s - thr) <= tol:  # too close to call from the prefix sums: the sequential sum
            tot = 0.0
            for u in range(xa + j, xa + j + L):
                v = x[u]
                if not np.isnan(v):
                    tot += v
            s = abs(tot)
        if s >= thr:
            k += 1
    return n, k


@_compiled()
def window_exceedances(x, flag, seg_start, seg_len, q_seg, q_len, q_lo, q_hi, q_obs):
    """For each query q over series ``q_seg[q]`` (flat x[seg_start : seg_start + seg_len],
    NaN = no return; ``flag`` True = a session no reference window may hold): the reference
    windows of ``q_len[q]`` consecutive positions j..j+L-1 of the series that hold no flagged
    position, do not overlap positions q_lo[q]..q_hi[q] (the event window, positions within
    the series) and hold at least one return. Returns n (Q,) their number and k (Q,) how many
    have |sum of their returns| >= |q_obs[q]| (a NaN q_obs gives k = 0). O(series length)
    per query (prefix sums, :func:`_count`)."""
    Q = q_seg.shape[0]
    n = np.zeros(Q, np.int64)
    k = np.zeros(Q, np.int64)
    big = 0
    for s in range(seg_len.shape[0]):
        big = max(big, seg_len[s])
    P = np.empty(big + 1)
    H = np.empty(big + 1, np.int64)
    F = np.empty(big + 1, np.int64)
    done = -1
    total = 0.0
    for q in range(Q):
        s = q_seg[q]
        a = seg_start[s]
        m = seg_len[s]
        if s != done:  # queries come grouped by series (else the prefix sums are rebuilt)
            total = _prefix(x, flag, a, a, m, P, H, F)
            done = s
        n[q], k[q] = _count(x, a, P, H, F, m, q_len[q], q_lo[q], q_hi[q], q_obs[q], total)
    return n, k


@_compiled()
def _history_ar(y, X, span, u, theta, s):
    """AR_t = y_t - x_t' theta_s at store position u (NaN: no return or not finite)."""
    acc = 0.0
    for c in range(X.shape[1]):
        acc += X[u, c] * theta[s, c]
    v = y[u] - acc
    if span[u] == 0 or not np.isfinite(v):
        return np.nan
    return v


@_compiled()
def _window_sums(y, X, span, flag, a, m, L, jv, WY, WX):
    """The reference windows of length L of security positions a .. a + m - 1 (returns: the
    positions with span > 0 and y and every regressor finite; ``flag`` (T,) excluded sessions):
    their starts j (no flagged position, at least one return) in jv[:nv], and the sums over
    their returns of y in WY[:nv] and of each regressor in WX[:, :nv] (from prefix sums).
    Returns nv and (sum |y|, sum |x_c| per regressor c) over the security's returns."""
    p = X.shape[1]
    Py = np.zeros(m + 1)
    PX = np.zeros((p, m + 1))
    H = np.zeros(m + 1, np.int64)
    F = np.zeros(m + 1, np.int64)
    absy = 0.0
    absx = np.zeros(p)
    for t in range(m):
        u = a + t
        ok = span[u] != 0 and np.isfinite(y[u])
        for c in range(p):
            ok = ok and np.isfinite(X[u, c])
        F[t + 1] = F[t] + (1 if flag[u] else 0)
        if ok:
            Py[t + 1] = Py[t] + y[u]
            absy += abs(y[u])
            for c in range(p):
                PX[c, t + 1] = PX[c, t] + X[u, c]
                absx[c] += abs(X[u, c])
            H[t + 1] = H[t] + 1
        else:
            Py[t + 1] = Py[t]
            for c in range(p):
                PX[c, t + 1] = PX[c, t]
            H[t + 1] = H[t]
    nv = 0
    for j in range(m - L + 1):
        if F[j + L] == F[j] and H[j + L] > H[j]:
            jv[nv] = j
            WY[nv] = Py[j + L] - Py[j]
            for c in range(p):
                WX[c, nv] = PX[c, j + L] - PX[c, j]
            nv += 1
    return nv, absy, absx


@_compiled()
def _series_count(y, X, span, flag, a, m, theta, s, L, lo, hi, thr):
    """(n, k) of one query the day-by-day way (:func:`_prefix`, :func:`_count` over the whole
    AR series; the path of a series whose coefficients are not finite)."""
    x = np.empty(m)
    for t in range(m):
        x[t] = _history_ar(y, X, span, a + t, theta, s)
    P = np.empty(m + 1)
    H = np.empty(m + 1, np.int64)
    F = np.empty(m + 1, np.int64)
    total = _prefix(x, flag, 0, a, m, P, H, F)
    return _count(x, 0, P, H, F, m, L, lo, hi, thr, total)


@_compiled()
def firm_window_counts(y, X, span, flag, g_start, g_len, g_ptr, theta, q_ptr, q_len, q_lo, q_hi, q_obs):
    """:func:`window_exceedances` over whole-history AR series AR_t = y_t - x_t' theta[s]
    (NaN where the return spans no session or is not finite), ``flag`` (T,) on the store.
    Securities g: store positions g_start[g] .. g_start[g] + g_len[g] - 1, their series
    g_ptr[g] .. g_ptr[g + 1] - 1; series s has queries q_ptr[s] .. q_ptr[s + 1] - 1.

    A window's AR sum is sum y - theta' sum x: the window sums of y and x (:func:`_window_sums`)
    are built once per security and window length and serve all its series. Where that value
    lies within ``tol`` of the threshold the window is summed again AR by AR (the sequential
    sum the count is defined by, as :func:`_count`): with A = sum|y| + sum_c |theta_c| sum|x_c|
    over the security's returns, the window-sum value and the sequential sum each differ from
    the exact sum by at most about (2 m + 4 p + L) u A (u: unit roundoff), within tol =
    8 (m + L + p + 2) eps A. Coefficients not finite, or A not below 1e300, take the
    day-by-day path (:func:`_series_count`)."""
    Q = q_len.shape[0]
    p = X.shape[1]
    n = np.zeros(Q, np.int64)
    k = np.zeros(Q, np.int64)
    big = 1
    for g in range(g_len.shape[0]):
        big = max(big, g_len[g])
    jv = np.empty(big + 1, np.int64)
    WY = np.empty(big + 1)
    WX = np.empty((p, big + 1))
    buf = np.empty(big + 1)
    for g in range(g_len.shape[0]):
        a = g_start[g]
        m = g_len[g]
        s0, s1 = g_ptr[g], g_ptr[g + 1]
        qa, qb = q_ptr[s0], q_ptr[s1]
        for q in range(qa, qb):
            n[q] = -1  # not counted yet
        for q0 in range(qa, qb):
            if n[q0] >= 0:
                continue
            L = q_len[q0]  # the next window length of this security not counted yet
            nv, absy, absx = _window_sums(y, X, span, flag, a, m, L, jv, WY, WX)
            for s in range(s0, s1):
                A = absy
                fin = True
                for c in range(p):
                    fin = fin and np.isfinite(theta[s, c])
                    A += abs(theta[s, c]) * absx[c]
                direct = not (fin and A < 1e300)
                if not direct:
                    for i in range(nv):
                        buf[i] = WY[i]
                    for c in range(p):
                        tc = theta[s, c]
                        for i in range(nv):
                            buf[i] -= tc * WX[c, i]
                for q in range(q_ptr[s], q_ptr[s + 1]):
                    if q_len[q] != L:
                        continue
                    if direct:
                        n[q], k[q] = _series_count(y, X, span, flag, a, m, theta, s, L, q_lo[q], q_hi[q], q_obs[q])
                        continue
                    i0 = np.searchsorted(jv[:nv], q_lo[q] - L + 1)  # windows j in lo-L+1 .. hi overlap lo..hi
                    i1 = np.searchsorted(jv[:nv], q_hi[q] + 1)
                    i1 = max(i1, i0)
                    thr = abs(q_obs[q])
                    tol = 8.0 * (m + L + p + 2) * _EPS * A
                    cnt = 0
                    near = 0
                    for i in range(i0):
                        d = abs(buf[i])
                        cnt += 1 if d >= thr else 0
                        near += 1 if abs(d - thr) <= tol else 0
                    for i in range(i1, nv):
                        d = abs(buf[i])
                        cnt += 1 if d >= thr else 0
                        near += 1 if abs(d - thr) <= tol else 0
                    if near:  # too close to call: those windows summed AR by AR
                        for i in range(nv):
                            if (i0 <= i < i1) or not abs(abs(buf[i]) - thr) <= tol:
                                continue
                            tot = 0.0
                            for u in range(a + jv[i], a + jv[i] + L):
                                v = _history_ar(y, X, span, u, theta, s)
                                if not np.isnan(v):
                                    tot += v
                            cnt += (1 if abs(tot) >= thr else 0) - (1 if abs(buf[i]) >= thr else 0)
                    n[q] = nv - (i1 - i0)
                    k[q] = cnt
    return n, k


@_compiled()
def union_sums(y, X, span, excl, start, length, theta, rank, r_lo, r_hi, block, by_sec, m_ptr, m_set, total, count,
               present, flagged):
    """Sums of member sets' whole-history ARs per calendar rank (``rank`` (T,)), over the ranks
    r_lo .. r_hi - 1 (the rows of the (R, n_sets) outputs it writes; two calls on disjoint
    ranges may run at once). Member i: store positions start[i] .. start[i] + length[i] - 1
    (ranks increasing), coefficients theta[i], in the sets m_set[m_ptr[i] .. m_ptr[i + 1] - 1].
    Members are taken in blocks by_sec[block[b] .. block[b + 1] - 1] that share their positions
    (one security's firm-events; or one member per block): a block's sessions are walked once,
    each member's AR computed at each (:func:`_history_ar`) and added to each of its sets. A
    set's sums take its members in block order, sessions in order. Adds to ``total`` the ARs and
    to ``count`` their number, sets ``present`` where any member has a session and ``flagged``
    where one is ``excl``; the four are (R, n_sets), rank by rank."""
    for b in range(block.shape[0] - 1):
        i0 = by_sec[block[b]]
        a = start[i0]
        lo = 0
        hi = length[i0]
        while lo < hi:  # the first session of rank >= r_lo (ranks increase along a security)
            mid = (lo + hi) // 2
            if rank[a + mid] < r_lo:
                lo = mid + 1
            else:
                hi = mid
        for t in range(lo, length[i0]):
            u = a + t
            r = rank[u]
            if r >= r_hi:
                break
            ex = excl[u]
            tot = total[r]  # the sets' sums at rank r: one row, so a session's members write near one another
            cnt = count[r]
            pre = present[r]
            fla = flagged[r]
            for k in range(block[b], block[b + 1]):
                i = by_sec[k]
                v = _history_ar(y, X, span, u, theta, i)
                ok = not np.isnan(v)
                for q in range(m_ptr[i], m_ptr[i + 1]):
                    g = m_set[q]
                    pre[g] = True
                    if ex:
                        fla[g] = True
                    if ok:
                        tot[g] += v
                        cnt[g] += 1.0


def p_from_counts(n: np.ndarray, k: np.ndarray, obs: np.ndarray) -> dict[str, np.ndarray]:
    """The history columns from counts: p = (1 + k) / (1 + n), floor 1 / (1 + n); NaN where
    the observed value is NaN or there is no reference window."""
    n = np.asarray(n, dtype=float)
    ok = np.isfinite(np.asarray(obs, dtype=float)) & (n > 0)
    return {"p_history": np.where(ok, (1.0 + k) / (1.0 + n), np.nan),
            "n_history": np.where(ok, n, np.nan),
            "p_history_floor": np.where(ok, 1.0 / (1.0 + n), np.nan)}


def excluded_sessions(store: ReturnStore, catalog_p0: dict | None, k: int) -> np.ndarray:
    """(T,) bool: sessions within -k..+k of a catalog event's day 0 for their security (the
    day 0 itself when k = 0); none without a catalog."""
    if not catalog_p0:
        return np.zeros(len(store.dates), dtype=bool)
    return event_day_mask(store, catalog_p0, int(k))


def firm_p_history(store: ReturnStore, catalog_p0, k: int, sec, p0, theta, lo, hi, car,
                   series=None) -> dict[str, np.ndarray]:
    """The history columns of Q firm rows: security ``sec``, day-0 position ``p0``, model
    ``theta`` (Q, p), window lo..hi (relative sessions, (Q,)) and observed ``car`` (Q,).
    ``series`` (Q,) ints: rows with the same value are the same firm-event (same security and
    theta: one history series for all its windows); default one series per row. The series
    are counted security by security inside :func:`firm_window_counts` (memory: one
    security's window sums)."""
    sec = np.asarray(sec, dtype=np.int64)
    Q = len(sec)
    if Q == 0:
        return p_from_counts(np.zeros(0), np.zeros(0), np.zeros(0))
    series = np.arange(Q) if series is None else np.asarray(series)
    _, first, q_seg = np.unique(series, return_index=True, return_inverse=True)
    by_sec = np.argsort(sec[first], kind="stable")  # series renumbered grouped by security
    rank = np.empty(len(first), np.int64)
    rank[by_sec] = np.arange(len(first))
    q_seg = rank[q_seg.astype(np.int64).ravel()]
    first = first[by_sec]
    usec = sec[first]
    order = np.argsort(q_seg, kind="stable")  # queries grouped by series
    q_ptr = np.searchsorted(q_seg[order], np.arange(len(usec) + 1)).astype(np.int64)
    cut = np.flatnonzero(np.diff(usec)) + 1
    g_first = np.concatenate([[0], cut]).astype(np.int64)  # each security's first series
    g_ptr = np.concatenate([g_first, [len(usec)]]).astype(np.int64)
    gsec = usec[g_first]
    flag = excluded_sessions(store, catalog_p0, k)
    lo, hi, p0 = (np.asarray(v, dtype=np.int64)[order] for v in (lo, hi, p0))
    car = np.asarray(car, dtype=float)
    y, X, span = store.y, np.ascontiguousarray(store.X), store.span
    g_start, g_len = store.start[gsec].astype(np.int64), store.length[gsec].astype(np.int64)
    s_theta = np.ascontiguousarray(np.asarray(theta, dtype=float)[first])
    q_len, q_lo, q_hi, q_obs = hi - lo + 1, p0 + lo, p0 + hi, car[order]

    def part(a: int, b: int):  # securities a..b-1 and their series' queries
        sa, sb = g_ptr[a], g_ptr[b]
        qa, qb = q_ptr[sa], q_ptr[sb]
        return firm_window_counts(y, X, span, flag, g_start[a:b], g_len[a:b], g_ptr[a:b + 1] - sa,
                                  s_theta[sa:sb], q_ptr[sa:sb + 1] - qa, q_len[qa:qb], q_lo[qa:qb], q_hi[qa:qb],
                                  q_obs[qa:qb])

    S, G = len(usec), len(gsec)
    half = int(np.searchsorted(g_ptr, S // 2))  # the securities holding about half the series
    if S >= 2 * THREAD_MIN_SERIES and 0 < half < G:  # two parts on two threads (the pass releases the GIL)
        halves = map_on_threads(lambda ab: part(*ab), [(0, half), (half, G)])
        n_o, k_o = np.concatenate([h[0] for h in halves]), np.concatenate([h[1] for h in halves])
    else:
        n_o, k_o = part(0, G)
    n = np.empty(Q, np.int64)
    cnt = np.empty(Q, np.int64)
    n[order], cnt[order] = n_o, k_o
    return p_from_counts(n, cnt, car)


def portfolio_p_history(store: ReturnStore, catalog_p0, k: int, out, rows, cell, n_cells: int,
                        cell_lo, cell_hi, obs) -> dict[str, np.ndarray]:
    """The history columns of C portfolio cells: membership pairs (firm-event ``rows[j]`` of
    the engine result ``out`` is in cell ``cell[j]``), each cell's window ``cell_lo..cell_hi``
    (relative sessions, (C,)) and observed portfolio CAR ``obs`` (C,). Cells with the same
    members share one series (the union of their session dates)."""
    rows = np.asarray(rows, dtype=np.int64)
    cell = np.asarray(cell, dtype=np.int64)
    obs = np.asarray(obs, dtype=float)
    if n_cells == 0:
        return p_from_counts(np.zeros(0), np.zeros(0), np.zeros(0))
    excl = excluded_sessions(store, catalog_p0, k)
    order = np.argsort(cell, kind="stable")
    bnd = np.searchsorted(cell[order], np.arange(n_cells + 1))
    sets: dict[tuple, int] = {}
    members: list[np.ndarray] = []  # each distinct member set, rows in order
    q_seg = np.full(n_cells, -1, np.int64)
    for c in range(n_cells):
        m = np.sort(rows[order[bnd[c]:bnd[c + 1]]])
        if len(m):
            q_seg[c] = sets.setdefault(tuple(m), len(sets))
            if q_seg[c] == len(members):
                members.append(m)
    built = _union_series(store, excl, out, members)  # (dates, portfolio AR, flagged) per set
    q_lo = np.zeros(n_cells, np.int64)
    q_hi = np.full(n_cells, -1, np.int64)
    for c in np.flatnonzero(q_seg >= 0):
        m = members[q_seg[c]]
        dates = built[q_seg[c]][0]
        sec = out.sec[m]
        last = store.length[sec] - 1
        a = store.start[sec] + np.clip(out.p0[m] + int(cell_lo[c]), 0, last)
        b = store.start[sec] + np.clip(out.p0[m] + int(cell_hi[c]), 0, last)
        q_lo[c] = np.searchsorted(dates, store.dates[a].min())
        q_hi[c] = np.searchsorted(dates, store.dates[b].max())
    series = [b[1] for b in built]
    flags = [b[2] for b in built]
    lens = np.array([len(s) for s in series], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64) if len(lens) else np.zeros(0, np.int64)
    x = np.concatenate(series) if series else np.zeros(0)
    fl = np.concatenate(flags) if flags else np.zeros(0, dtype=bool)
    live = q_seg >= 0
    n = np.zeros(n_cells)
    cnt = np.zeros(n_cells)
    if live.any():
        L = (np.asarray(cell_hi) - np.asarray(cell_lo) + 1).astype(np.int64)
        nn, kk = window_exceedances(x, fl, starts, lens, q_seg[live], L[live], q_lo[live], q_hi[live], obs[live])
        n[live], cnt[live] = nn, kk
    return p_from_counts(n, cnt, np.where(live, obs, np.nan))


def _union_series(store: ReturnStore, excl: np.ndarray, out, members: list[np.ndarray]) -> list[tuple]:
    """(dates, portfolio AR, flagged) of each member set (firm-event rows of ``out``, in order)
    on the union of its members' session dates: the mean AR over the members with a return
    that date; flagged where any member's session that date is within K sessions of a catalog
    day 0. One pass over the distinct members (:func:`union_sums`)."""
    if not members:
        return []
    rows = np.unique(np.concatenate(members))  # every member once, in order
    pos = np.searchsorted(rows, np.concatenate(members))
    of_set = np.repeat(np.arange(len(members)), [len(m) for m in members])
    by_row = np.argsort(pos, kind="stable")
    m_ptr = np.searchsorted(pos[by_row], np.arange(len(rows) + 1)).astype(np.int64)
    sec = out.sec[rows]
    calendar, rank = store.calendar
    R, G = len(calendar), len(members)
    total, count = np.zeros((R, G)), np.zeros((R, G))  # rank by rank (union_sums)
    present, flagged = np.zeros((R, G), dtype=bool), np.zeros((R, G), dtype=bool)
    args = (store.y, np.ascontiguousarray(store.X), store.span, excl, store.start[sec],
            store.length[sec].astype(np.int64), np.ascontiguousarray(np.asarray(out.theta, dtype=float)[rows]), rank)
    tail = (m_ptr, of_set[by_row].astype(np.int64), total, count, present, flagged)
    # many firm-events of one security (one per event): its sessions walked once for all of them,
    # when that keeps every set's order of additions, the members' row order (union_sums adds a
    # set's members block by block): its securities increase with its rows; else a block per row
    set_sec = out.sec[np.concatenate([np.sort(m) for m in members])]
    set_id = np.repeat(np.arange(G), [len(m) for m in members])
    same_set = set_id[1:] == set_id[:-1]
    by_sec = np.arange(len(rows), dtype=np.int64)
    block = np.arange(len(rows) + 1, dtype=np.int64)
    if len(np.unique(sec)) < len(rows) and bool((np.diff(set_sec)[same_set] > 0).all()):
        by_sec = np.argsort(sec, kind="stable").astype(np.int64)
        block = np.flatnonzero(np.r_[True, np.diff(sec[by_sec]) != 0, True]).astype(np.int64)

    def run(r_lo: int, r_hi: int) -> None:
        union_sums(*args, r_lo, r_hi, block, by_sec, *tail)

    if len(rows) >= THREAD_MIN_SERIES:  # the earlier and the later half of the calendar on two threads
        map_on_threads(lambda ab: run(*ab), [(0, R // 2), (R // 2, R)])
    else:
        run(0, R)
    with np.errstate(invalid="ignore", divide="ignore"):
        port = np.where(count > 0, total / np.maximum(count, 1), np.nan).T
    present, flagged = present.T, flagged.T
    return [(calendar[present[g]], port[g][present[g]], flagged[g][present[g]]) for g in range(len(members))]


def with_tests_history(tests, cells, catalog_p0, k: int, test: str = "portfolio"):
    """``tests`` (tests.csv rows of ``cells``) with the history columns on the rows of the
    portfolio test (observed value: their ``estimate``, the portfolio CAR; NaN elsewhere)."""
    out = tests.copy()
    for col in HISTORY_COLUMNS:
        out[col] = np.nan
    if cells.n_cells == 0 or out.empty or "estimate" not in out.columns:
        return out
    keys = cells.keys
    at = {key: c for c, key in enumerate(zip(keys["event_id"], keys["group"], keys["window"]))}
    sel = np.nonzero((out["test"] == test).to_numpy())[0]
    obs = np.full(cells.n_cells, np.nan)
    cell_of = np.array([at.get(key, -1) for key in zip(out["event_id"].to_numpy()[sel], out["group"].to_numpy()[sel],
                                                       out["window"].to_numpy()[sel])], dtype=np.int64)
    obs[cell_of[cell_of >= 0]] = out["estimate"].to_numpy(dtype=float)[sel][cell_of >= 0]
    wins = np.array(cells.result.windows, dtype=np.int64).reshape(-1, 2)
    cols = portfolio_p_history(cells.store, catalog_p0, k, cells.result, cells.rows, cells.cell, cells.n_cells,
                               wins[cells.cell_window, 0], wins[cells.cell_window, 1], obs)
    for col in HISTORY_COLUMNS:
        v = out[col].to_numpy(dtype=float).copy()
        v[sel[cell_of >= 0]] = cols[col][cell_of[cell_of >= 0]]
        out[col] = v
    return out


def with_car_history(car, frame, out, store: ReturnStore, catalog_p0, k: int):
    """``car`` (car.csv rows: event_id, symbol, window 'a:b', car) with the history columns,
    each row from its firm-event's fit (``frame``: the panel's rows, aligned with the engine
    result ``out``)."""
    res = car.copy()
    if res.empty:
        for col in HISTORY_COLUMNS:
            res[col] = np.nan
        return res
    panel_keys = pd.MultiIndex.from_arrays([frame["event_id"].to_numpy(object), frame["symbol"].to_numpy(object)])
    if not panel_keys.is_unique:  # the last panel row of a key, as a dict would
        keep = ~panel_keys.duplicated(keep="last")
        panel_keys, rows = panel_keys[keep], np.flatnonzero(keep)
    else:
        rows = np.arange(len(panel_keys))
    at = panel_keys.get_indexer(pd.MultiIndex.from_arrays([res["event_id"].to_numpy(object),
                                                            res["symbol"].to_numpy(object)]))
    if (at < 0).any():
        raise KeyError("car rows without a panel row")
    r = rows[at].astype(np.int64)
    codes, names = pd.factorize(res["window"].to_numpy(object))
    ab = np.array([parse_window(w) for w in names], dtype=np.int64).reshape(-1, 2)[codes]
    cols = firm_p_history(store, catalog_p0, k, out.sec[r], out.p0[r], out.theta[r], ab[:, 0], ab[:, 1],
                          res["car"].to_numpy(dtype=float), series=r)
    for col in HISTORY_COLUMNS:
        res[col] = cols[col]
    return res
