"""Reference for :func:`analysis.inference.portfolio_kernel.portfolio_series` (test-only): the
compiled pass as it was before its loops ran over 1-D views and the constant column's sums
were copied from the counts; the kernel must equal it bit for bit.

Compiled with ``cache=True`` like the package's kernels: numba keeps the machine code in
``tests/__pycache__`` (git ignores it) and compiles again whenever this file changes, so only
a suite's first run pays the ~3 s of CPU the compilation takes (without a writable cache
location numba refuses ``cache=True``: then it compiles in each process, as before)."""
from __future__ import annotations

import numpy as np
from numba import njit


def _compiled(func):
    try:
        return njit(cache=True)(func)
    except RuntimeError:
        return njit(func)


@_compiled
def portfolio_series_loop(ptr, members, w, yu, XTu, is_const, est_base, seg_lo, seg_hi, e_len,
                          ev_at, valid, span, y, ev_base, Xv, tail_valid, tail_span, tail_first, tail_flat,
                          tail_Xv, ok, yp, Xp, xtx, xty):
    """:func:`analysis.inference.portfolio_kernel.portfolio_series` as first written (2-D
    indexing in the loops, the constant column summed like the others): its reference."""
    U = ptr.shape[0] - 1
    T = ok.shape[1]
    L = valid.shape[1]
    p = XTu.shape[0]
    cnt_e = np.zeros(T)
    cnt_v = np.zeros(T)
    y_e = np.zeros(T)
    y_v = np.zeros(T)
    X_e = np.zeros((p, T))
    X_v = np.zeros((p, T))
    n_est = min(e_len, T)
    for u in range(U):
        cnt_e[:] = 0.0
        cnt_v[:] = 0.0
        y_e[:] = 0.0
        y_v[:] = 0.0
        X_e[:, :] = 0.0
        X_v[:, :] = 0.0
        for q in range(ptr[u], ptr[u + 1]):
            i = members[q]
            # estimation days the member's own fit used (0 added on the others)
            b = est_base[i]
            t0 = max(0, seg_lo[i] - b)
            t1 = min(n_est, seg_hi[i] - b)
            for t in range(t0, t1):
                cnt_e[t] += w[b + t]
                y_e[t] += yu[b + t]
            for k in range(p):
                if is_const[k]:
                    for t in range(t0, t1):
                        X_e[k, t] += w[b + t]
                else:
                    for t in range(t0, t1):
                        X_e[k, t] += XTu[k, b + t]
            # event period: each return spread over the sessions it spans
            for d in range(L):
                if not valid[i, d]:
                    continue
                s = span[i, d]
                if s < 1:
                    s = 1
                fs = float(s)
                v = y[ev_base[i] + d] / fs
                for back in range(s):
                    c = d - back
                    if c < 0:
                        break
                    cnt_v[ev_at + c] += 1.0
                    y_v[ev_at + c] += v
                    for k in range(p):
                        X_v[k, ev_at + c] += Xv[i, d, k] / fs
            if tail_valid[i]:
                ts = tail_span[i]
                per = 1.0 / (ts if ts > 1 else 1)
                v = y[tail_flat[i]] * per
                for c in range(max(tail_first[i], 0), L):
                    cnt_v[ev_at + c] += 1.0
                    y_v[ev_at + c] += v
                    for k in range(p):
                        X_v[k, ev_at + c] += tail_Xv[i, k] * per
        for t in range(T):
            n = cnt_e[t] + cnt_v[t]
            ok[u, t] = n > 0.0
            yp[u, t] = (y_e[t] + y_v[t]) / n if n > 0.0 else np.nan
        for k in range(p):
            for t in range(T):
                n = cnt_e[t] + cnt_v[t]
                Xp[u, k, t] = (X_e[k, t] + X_v[k, t]) / n if n > 0.0 else np.nan
        for k in range(p):
            xty[u, k] = 0.0
            for m in range(p):
                xtx[u, k, m] = 0.0
        for t in range(n_est):
            if not ok[u, t]:
                continue
            for k in range(p):
                xty[u, k] += Xp[u, k, t] * yp[u, t]
                for m in range(p):
                    xtx[u, k, m] += Xp[u, k, t] * Xp[u, m, t]
