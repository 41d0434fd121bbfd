"""Compiled (numba) loops for the passes that touch every day of every firm-event.

The estimation pass reads each of the ~240 estimation days of every firm-event once; in numpy
it takes several full (N, 240) temporaries (gather, multiply, compare, square, reduce). The
event-period pass builds each firm-event's daily rows in a one-row buffer and sums them over
the windows at once, so no (N, days) array is made unless asked for (:func:`event_period`).
Compiled, each is one loop with nothing allocated per firm-event, and releases the GIL (``nogil``) so the
callers' threads run them side by side. Results are cached on disk (``cache=True``): only the
first run on a machine pays the compilation (a few seconds).

Formulas are the callers' (cited there): the residual pass gives M, SSR (MacKinlay 1997,
sigma^2 = SSR / (M - k)) and the positive-AR count of the generalized sign test (Cowan 1992);
the pair pass gives the Pearson correlation of two firms' estimation-window ARs over the
calendar dates they share (Kolari & Pynnönen 2010).
"""
from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np
from numba import njit


def thread_count(threads: int | None = None) -> int:
    """``threads``, or by default the machine's cores up to 2 (what the engine's loops,
    numpy and scipy's ufuncs use side by side; they release the GIL)."""
    return threads if threads is not None else min(2, os.cpu_count() or 1)


def map_on_threads(fn, jobs, threads: int | None = None) -> list:
    """``[fn(job) for job in jobs]``, up to :func:`thread_count` (``threads``) jobs at a time on
    threads (for work that releases the GIL: compiled loops, numpy), results in the jobs' order;
    inline with one thread or one job. The calling thread takes jobs too, beside n - 1 started
    threads (one thread fewer to start per call, and no core waiting idle for the others). A
    job's error is raised here once the jobs under way have ended (no further job starts)."""
    jobs = list(jobs)
    n = min(thread_count(threads), len(jobs))
    if n < 2:
        return [fn(job) for job in jobs]
    results = [None] * len(jobs)
    queue = iter(range(len(jobs)))
    lock = threading.Lock()
    failed = []

    def take() -> None:  # jobs from the shared queue until it is empty (or a job failed)
        while not failed:
            with lock:
                k = next(queue, None)
            if k is None:
                return
            try:
                results[k] = fn(jobs[k])
            except BaseException:
                failed.append(True)
                raise

    with ThreadPoolExecutor(max_workers=n - 1) as pool:
        started = [pool.submit(take) for _ in range(n - 1)]
        try:
            take()
        finally:
            wait(started)
        for f in started:
            f.result()
    return results


#: Rows (firm-events) from which a pass that computes each row alone is split over threads (the
#: split changes none of its numbers): the observed firm-events of a large study; a pseudo-event
#: chunk of the calibration (whose tests already run beside the engine) stays on one thread.
THREADED_ROWS = 20_000


def parts(n: int, threads: int | None = None, min_size: int = 0) -> list[slice]:
    """Positions 0 .. n - 1 in :func:`thread_count` (``threads``) contiguous parts of about equal
    size, one per thread (for :func:`map_on_threads`); one part when n < ``min_size``."""
    k = thread_count(threads) if n >= min_size else 1
    cuts = np.linspace(0, n, k + 1).round().astype(int)
    return [slice(a, b) for a, b in zip(cuts[:-1], cuts[1:])]


def group_runs(bounds: np.ndarray, threads: int | None = None) -> list[tuple[int, int]]:
    """Runs (g0, g1) of consecutive whole groups, one per thread (:func:`thread_count`), of about
    equal size: group g holds positions bounds[g] .. bounds[g + 1] - 1 (``bounds`` (G + 1,)
    non-decreasing from 0); a run ends where a group ends, so no group is split."""
    G = len(bounds) - 1
    cuts = np.unique(np.searchsorted(bounds, np.linspace(0, bounds[-1], thread_count(threads) + 1).round(),
                                     side="left").clip(0, G))
    cuts[0], cuts[-1] = 0, G
    return [(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:])]


def ranges(first: np.ndarray, count: np.ndarray) -> np.ndarray:
    """The positions first[i] .. first[i] + count[i] - 1 of every i, concatenated in order (int64):
    e.g. the rows of CSR groups ``first = ptr[g]``, ``count = ptr[g + 1] - ptr[g]``."""
    first, count = np.asarray(first, dtype=np.int64), np.asarray(count, dtype=np.int64)
    return np.repeat(first - (np.cumsum(count) - count), count) + np.arange(int(count.sum()), dtype=np.int64)


def by_position(base: np.ndarray) -> np.ndarray:
    """The order in which the per-firm-event loops take N firm-events starting at flat store
    positions ``base`` (N,): by position, so that firm-events of one security at nearby dates
    follow one another and read the store's rows from the CPU cache (the firm-events of an event
    lie far apart in the store). Each firm-event's numbers do not depend on the order."""
    return np.argsort(base, kind="stable")


#: Reassociation lets LLVM vectorize the sums (SIMD); NaN and infinity keep IEEE semantics.
FASTMATH = {"reassoc", "contract", "nsz", "arcp"}


def _compiled(**options):
    """``numba.njit(nogil=True, cache=True, **options)``; without a writable cache location
    (read-only install and no writable home) numba refuses ``cache=True``, and each process
    compiles for itself instead."""
    def wrap(func):
        try:
            return njit(nogil=True, cache=True, **options)(func)
        except RuntimeError:
            return njit(nogil=True, **options)(func)
    return wrap


@_compiled(fastmath=FASTMATH)
def residual_moments(y, XT, w, base, seg_lo, seg_hi, n_days, theta, demean, order):
    """Estimation-window residuals AR_t = y_t - x_t' theta_i, reduced per firm-event.

    y (T,), XT (p, T), w (T,): the store's flat arrays with w = 1 on the rows a fit may use
    and y, X zeroed elsewhere (so the residual there is exactly 0). Firm-event i covers flat
    positions base[i] .. base[i] + n_days - 1, clipped to [seg_lo[i], seg_hi[i]) (its
    security's data). theta (N, p). ``order`` (N,): the firm-events in the order they are
    taken (by base, so the store's rows come from the CPU cache: :func:`by_position`).
    Returns m (N,) returns used, ssr (N,) sum of squared ARs (about their mean when
    ``demean``: the market-adjusted model's sample variance), pos (N,) ARs > 0.
    """
    N = base.shape[0]
    p = XT.shape[0]
    m = np.zeros(N, np.int64)
    ssr = np.zeros(N)
    pos = np.zeros(N)
    r = np.empty(n_days)
    for i in order:
        t0 = max(base[i], seg_lo[i])
        L = min(base[i] + n_days, seg_hi[i]) - t0
        if L <= 0:
            continue
        yy = y[t0:t0 + L]
        for t in range(L):
            r[t] = yy[t]
        for k in range(p):
            c = theta[i, k]
            xk = XT[k, t0:t0 + L]
            for t in range(L):
                r[t] -= c * xk[t]
        ww = w[t0:t0 + L]
        cnt = 0.0
        s1 = 0.0
        npos = 0.0
        for t in range(L):
            cnt += ww[t]
            s1 += r[t]
            npos += 1.0 if r[t] > 0.0 else 0.0
        s2 = 0.0
        if demean and cnt > 0.0:  # about the mean, over the used rows only
            mean = s1 / cnt
            for t in range(L):
                d = (r[t] - mean) * ww[t]
                s2 += d * d
        else:
            for t in range(L):
                s2 += r[t] * r[t]
        m[i] = int(cnt)
        ssr[i] = s2
        pos[i] = npos
    return m, ssr, pos


@_compiled()
def residual_rows(y, XT, const, eligible, first, theta, out):
    """Estimation-window ARs of full rows: out[i, t] = y[j] - x_j' theta_i at flat position
    j = first[i] + t, NaN where the return is not ``eligible``. The subtraction runs regressor
    by regressor in the columns' order (theta_ik alone for a ``const`` column, x_jk * theta_ik
    otherwise: the arithmetic and order of :func:`analysis.estimation.engine.estimation_residuals`'
    numpy form, no fastmath, so equal bit for bit)."""
    N, Le = out.shape
    p = XT.shape[0]
    for i in range(N):
        b = first[i]
        for t in range(Le):
            j = b + t
            if eligible[j]:
                v = y[j]
                for k in range(p):
                    if const[k]:
                        v -= theta[i, k]
                    else:
                        v -= XT[k, j] * theta[i, k]
                out[i, t] = v
            else:
                out[i, t] = np.nan


@_compiled(error_model="numpy")  # x / 0 gives inf or NaN, as in numpy
def inverse2(xtx, singular_ratio):
    """(X'X)^-1 of N 2 x 2 matrices as LAPACK's LU solve (``numpy.linalg.inv``) computes it,
    operation for operation (no pivoting: 1/a11, l = a21 (1/a11), u22 = a22 - l a12, then the
    two triangular solves; bit-identical to it on this machine's numpy, see the tests), and
    fit_ok = |det| > singular_ratio * a11 a22 with det = a11 u22. Returns (inv (N, 2, 2),
    fit_ok (N,), clear (N,)): clear is False where this shortcut does not apply (a pivot
    |a21| > |a11|, anything not finite, |det| within 1e-6 of the singularity bound); the
    caller solves those rows the general way."""
    N = xtx.shape[0]
    inv = np.empty((N, 2, 2))
    fit_ok = np.empty(N, np.bool_)
    clear = np.empty(N, np.bool_)
    for i in range(N):
        a11 = xtx[i, 0, 0]
        a12 = xtx[i, 0, 1]
        a21 = xtx[i, 1, 0]
        a22 = xtx[i, 1, 1]
        r = 1.0 / a11
        lo = a21 * r
        u22 = a22 - lo * a12
        det = abs(a11 * u22)
        bound = singular_ratio * max(a11 * a22, 1e-300)
        fit_ok[i] = det > bound
        clear[i] = (abs(a21) <= abs(a11) and math.isfinite(det) and math.isfinite(a12) and math.isfinite(a22)
                    and abs(det - bound) > 1e-6 * bound)
        x22 = 1.0 / u22
        x21 = -lo * x22
        inv[i, 0, 0] = (1.0 - a12 * x21) * r
        inv[i, 0, 1] = (-a12 * x22) * r
        inv[i, 1, 0] = x21
        inv[i, 1, 1] = x22
    return inv, fit_ok, clear


@_compiled(inline="always")
def _fitted(i, t, y, XT, span, theta):
    """(valid, x_t' theta_i) of store row t for firm-event i: valid when y and every regressor are
    finite and the return covers >= 1 session (an event-period row, :func:`event_period`)."""
    fitted = 0.0
    finite = True
    for k in range(XT.shape[0]):
        x = XT[k, t]
        if not math.isfinite(x):
            finite = False
        fitted += x * theta[i, k]
    return finite and span[t] >= 1 and math.isfinite(y[t]) and math.isfinite(fitted), fitted


@_compiled(inline="always")
def _tail_row(i, base, seg_lo, seg_hi, days, y, XT, offset, span, next_return, theta, x):
    """Firm-event i's tail return (:func:`tail_rows`): (day, valid, sessions, ar, ret, normal);
    x (p,) gets its regressor row (0 when not valid)."""
    L = days.shape[0]
    p = XT.shape[0]
    for k in range(p):
        x[k] = 0.0
    t_hi = base[i] + L - 1  # the last day of the event period
    t = next_return[t_hi] if seg_lo[i] <= t_hi < seg_hi[i] else -1
    if t < 0:
        return 0, False, 0, np.nan, np.nan, np.nan
    day = t - (base[i] - days[0])
    sp = span[t]
    if day - sp + 1 > days[L - 1]:  # it covers no day of the event period
        return day, False, 0, np.nan, np.nan, np.nan
    fitted = XT[0, t] * theta[i, 0]
    finite = math.isfinite(XT[0, t])
    for k in range(1, p):
        fitted += XT[k, t] * theta[i, k]
        finite = finite and math.isfinite(XT[k, t])
    yt = y[t]
    if not (finite and math.isfinite(yt) and math.isfinite(fitted) and sp >= 1):
        return day, False, sp, np.nan, np.nan, np.nan
    for k in range(p):
        x[k] = XT[k, t]
    return day, True, sp, yt - fitted, yt + offset[t], fitted + offset[t]


@_compiled()
def tail_rows(base, seg_lo, seg_hi, days, y, XT, offset, span, next_return, theta,
              tail_day, tail_valid, tail_span, tail_ar, tail_ret, tail_normal, tail_Xv):
    """The tail return of N firm-events whose event period is the L consecutive relative days
    ``days`` from flat position base[i] (in [seg_lo[i], seg_hi[i]), its security's data):
    the first return after the last day when its coverage [d - span + 1, d] reaches back into
    the event period (the return at resumption of a suspension running past it;
    ``next_return``: the store's flat index of the first return after each position, -1 none).
    Valid as an event-period row is (finite y and regressors, span >= 1); AR = y - x'theta,
    normal = x'theta + offset, ret = y + offset, tail_Xv = x (0 when not valid). tail_day: its
    relative day (0 when there is no return after the period); tail_span: 0 when it does not
    reach back. Every element of the outputs is written."""
    for i in range(base.shape[0]):
        day, ok, sp, a_r, r_r, n_r = _tail_row(i, base, seg_lo, seg_hi, days, y, XT, offset, span, next_return,
                                               theta, tail_Xv[i])
        tail_day[i] = day
        tail_valid[i] = ok
        tail_span[i] = sp
        tail_ar[i] = a_r
        tail_ret[i] = r_r
        tail_normal[i] = n_r


@_compiled()
def event_period(y, XT, offset, span, base, seg_lo, seg_hi, theta, ar, ret, normal, span_out, valid, Xv):
    """Event-period rows of N firm-events, written into the (N, L[, p]) output arrays.

    Firm-event i covers flat positions base[i] + d, d = 0 .. L - 1; positions outside
    [seg_lo[i], seg_hi[i]) are outside its security's data. A day is ``valid`` when it is
    inside, y and every regressor are finite and the return covers >= 1 session; then
    normal = x' theta + offset (rf for excess-return models), AR = y - x' theta,
    ret = y + offset, Xv = x (the row summed over the sessions the return spans) and
    span_out = sessions covered. Other days get NaN (ar, ret, normal), 0 (Xv) and
    span_out = the store's span inside the data, else 0. Every element of the outputs is
    written (they may come in uninitialized).
    """
    p = XT.shape[0]
    for i in range(ar.shape[0]):
        for d in range(ar.shape[1]):
            ar[i, d] = np.nan
            ret[i, d] = np.nan
            normal[i, d] = np.nan
            span_out[i, d] = 0
            valid[i, d] = False
            for k in range(p):
                Xv[i, d, k] = 0.0
            t = base[i] + d
            if t < seg_lo[i] or t >= seg_hi[i]:
                continue
            span_out[i, d] = span[t]
            ok, fitted = _fitted(i, t, y, XT, span, theta)
            if not ok:
                continue
            valid[i, d] = True
            ar[i, d] = y[t] - fitted
            normal[i, d] = fitted + offset[t]
            ret[i, d] = y[t] + offset[t]
            for k in range(p):
                Xv[i, d, k] = XT[k, t]


@_compiled(error_model="numpy")  # x / 0 gives inf or NaN, as in numpy
def event_windows(y, XT, offset, span, next_return, base, seg_lo, seg_hi, theta, days, win_lo, win_hi, sigma2,
                  xtx_inv, ok, order, car, car_se, car_t, bhar, n_returns, n_sessions, cover_first, cover_last,
                  spans_gap, gap_first, gap_last, complete):
    """CAR, se(CAR), t, BHAR and coverage of N firm-events over W windows [win_lo, win_hi].

    A return on relative day d spanning s sessions covers [d - s + 1, d]; it enters window
    [a, b] when that coverage meets [a, b]. The returns are the event-period rows over the L
    consecutive relative days ``days`` (:func:`event_period`: firm-event i's day d at flat
    position base[i] + d) and, per firm-event, its tail return (:func:`tail_rows`): the first
    return after the event period, which enters a window ending in the suspension
    it spans however far after the window its day lies (so a window's sums never depend on
    how long the event period is). Over the returns entering a window:
    CAR = sum AR; Var(CAR) = sigma^2 (S + g' (X'X)^-1 g), S = sessions covered, g = sum of
    the regressor rows (MacKinlay 1997; xtx_inv = 0 gives the market-adjusted sigma^2 S);
    BHAR = prod(1 + R) - prod(1 + E[R]); coverage: first and last relative day covered
    and, for returns spanning a suspension (s > 1), the first day covered and their own day.
    se = sqrt(Var(CAR)), car_t = CAR / se; complete: the returns cover every session of [a, b]
    (cover_first <= a, cover_last >= b, S >= b - a + 1). Windows no return enters get NaN (car,
    car_se, car_t, bhar, cover_*, gap_*), 0 (n_returns, n_sessions) and False (spans_gap,
    complete); a firm-event not ``ok`` (no usable fit) gets NaN car, car_se, car_t and bhar.
    Every element of the outputs is written (they may come in uninitialized). ``order`` (N,): the
    firm-events in the order they are taken (:func:`by_position`).
    Each firm-event's valid rows go one after the other into a small buffer: nothing of size
    (N, L) is made.
    """
    L = days.shape[0]
    p = XT.shape[0]
    W = win_lo.shape[0]
    # the valid rows of a firm-event, in day order, one after the other (row L: its tail return)
    ar = np.empty(L + 1)
    ret = np.empty(L + 1)
    normal = np.empty(L + 1)
    span_b = np.empty(L + 1, np.int64)
    day_b = np.empty(L + 1, np.int64)
    Xv = np.empty((L + 1, p))
    before = np.empty(L + 1, np.int64)  # valid rows among days 0 .. d - 1
    tail_x = np.empty(p)
    g = np.zeros(p)
    day0 = days[0] if L > 0 else 0
    b_max = win_hi.max() if W > 0 else day0
    for i in order:
        # no return of the event period covers more than ``most`` sessions, so window [a, b]
        # reads only the rows of days a .. b + most - 1 (the others cannot meet it): only those
        # rows are built, then the windows summed
        t0, lo_i, hi_i = base[i], seg_lo[i], seg_hi[i]  # locals: the stores below may not alias them
        most = 1
        for d in range(L):
            t = t0 + d
            if lo_i <= t < hi_i:
                most = max(most, span[t])
        upto = min(max(b_max + most - day0, 0), L)
        n = 0
        for d in range(upto):
            before[d] = n
            t = t0 + d
            if t < lo_i or t >= hi_i:
                continue
            valid, fitted = _fitted(i, t, y, XT, span, theta)
            if not valid:
                continue
            ar[n] = y[t] - fitted
            ret[n] = y[t] + offset[t]
            normal[n] = fitted + offset[t]
            span_b[n] = span[t]
            day_b[n] = days[d]
            for k in range(p):
                Xv[n, k] = XT[k, t]
            n += 1
        before[upto] = n
        t_day, t_valid, t_span, t_ar, t_ret, t_normal = _tail_row(i, base, seg_lo, seg_hi, days, y, XT, offset, span,
                                                                  next_return, theta, tail_x)
        day_b[L], span_b[L], ar[L], ret[L], normal[L] = t_day, t_span, t_ar, t_ret, t_normal
        for k in range(p):
            Xv[L, k] = tail_x[k]
        for j in range(W):
            a = win_lo[j]
            b = win_hi[j]
            cnt = 0
            sessions = 0
            s = 0.0
            gross = 1.0
            gross_n = 1.0
            for k in range(p):
                g[k] = 0.0
            first = 0
            last = 0
            gfirst = 0
            glast = 0
            gap = False
            d_from = min(max(a - day0, 0), L)
            d_to = min(max(b + most - day0, 0), L)
            # the valid rows of days d_from .. d_to - 1 (those that may meet [a, b]), then the tail
            v1 = before[d_to]
            for v in range(before[d_from], v1 + 1):
                u = v
                if v == v1:
                    if not t_valid:
                        continue
                    u = L
                day = day_b[u]
                sp = span_b[u]
                start = day - sp + 1
                if day < a or start > b:
                    continue
                first = start if cnt == 0 else min(first, start)
                cnt += 1
                last = day
                sessions += sp
                s += ar[u]
                gross *= 1.0 + ret[u]
                gross_n *= 1.0 + normal[u]
                for k in range(p):
                    g[k] += Xv[u, k]
                if sp > 1:
                    gfirst = start if not gap else min(gfirst, start)
                    gap = True
                    glast = day
            spans_gap[i, j] = False
            gap_first[i, j] = np.nan
            gap_last[i, j] = np.nan
            if cnt == 0:
                car[i, j] = np.nan
                car_se[i, j] = np.nan
                car_t[i, j] = np.nan
                bhar[i, j] = np.nan
                n_returns[i, j] = 0
                n_sessions[i, j] = 0
                cover_first[i, j] = np.nan
                cover_last[i, j] = np.nan
                complete[i, j] = False
                continue
            q = 0.0
            for k in range(p):
                for m in range(p):
                    q += g[k] * xtx_inv[i, k, m] * g[m]
            n_returns[i, j] = cnt
            n_sessions[i, j] = sessions
            cover_first[i, j] = first
            cover_last[i, j] = last
            complete[i, j] = first <= a and last >= b and sessions >= b - a + 1
            if ok[i]:
                se = np.sqrt(sigma2[i] * (sessions + q))
                car[i, j] = s
                car_se[i, j] = se
                car_t[i, j] = s / se
                bhar[i, j] = gross - gross_n
            else:
                car[i, j] = np.nan
                car_se[i, j] = np.nan
                car_t[i, j] = np.nan
                bhar[i, j] = np.nan
            if gap:
                spans_gap[i, j] = True
                gap_first[i, j] = gfirst
                gap_last[i, j] = glast
