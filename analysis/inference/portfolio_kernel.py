"""Compiled loops of the event-time portfolio test (:mod:`analysis.inference.portfolio`).

Two passes, no store and no engine run:

- :func:`portfolio_series`, one pass over each portfolio's members: the equal-weighted
  portfolio's return and regressor rows on each relative day e0..days[-1] (position 0 is the
  first estimation day) and its estimation moments X'X, X'y. Estimation days: a member counts
  where its own fit used the day (an eligible store row inside its data,
  ``ReturnStore.used_arrays``: where ``EngineResult.est_ar`` is finite, theta being finite).
  Event period: a return on
  day d spanning s sessions adds R/s and x/s to each of the days d - s + 1 .. d (those before
  the event period's first day dropped), and so does the member's tail return (the return at
  resumption after the event period) on the days it covers in the event period. Per day:

      R_p = (sum of the members' R) / n,  x_p = (sum of their rows) / n,  n = members counting

  (estimation and event contributions are summed separately and added, so a day in both,
  when the estimation window reaches into the event period, counts both). Members are
  summed in the order given, each one's single contribution a day added to the running sum.
  X'X = sum x_p x_p', X'y = sum x_p R_p over the estimation days with n > 0, in day order.
- :func:`portfolio_fit_pass`, one pass over each portfolio's series with its fitted theta:
  estimation residuals e_t = R_p,t - x_p,t' theta (in regressor order, the constant's theta
  subtracted as is), M and SSR (about the residuals' mean for the market-adjusted model),
  and per window [a, b] the CAR (sum of the ARs of the days in it with n > 0), the sessions
  and q = g' (X'X)^-1 g, g the summed rows: Var(CAR) = sigma^2 (sessions + q) (MacKinlay
  1997; :mod:`analysis.estimation.engine`).
"""
from __future__ import annotations


import numpy as np

from analysis.estimation.kernels import _compiled


@_compiled()
def portfolio_series(ptr, members, w, yu, XTu, is_const, est_base, seg_lo, seg_hi, e_len,
                     ev_at, valid, span, y, ev_base, Xv, tail_valid, tail_span, tail_first, tail_flat, tail_Xv,
                     ok, yp, Xp, xtx, xty):
    """The series of portfolios u = 0 .. U-1 with members ``members[ptr[u]:ptr[u + 1]]`` (rows of
    the firm-event arrays), written into ok (U, T) bool, yp (U, T), Xp (U, p, T) (NaN where no
    member counts) and xtx (U, p, p), xty (U, p).

    Estimation days: the store's rows a fit may use, w = 1 there and yu, XTu (p, flat) the
    return and regressors zeroed elsewhere (``ReturnStore.used_arrays``); is_const (p,) the
    constant columns (w on an estimation day). Firm-event i: estimation days t = 0 .. e_len - 1
    at flat est_base[i] + t, those inside [seg_lo[i], seg_hi[i]); event days d = 0 .. L - 1
    (portfolio position ev_at + d) with valid, span (N, L), the return y at flat ev_base[i] + d
    and its row Xv[i, d]; its tail return (tail_valid[i]) covers the event days from
    tail_first[i] (index into the event days, clipped at 0) on, value y[tail_flat[i]] /
    tail_span[i], row tail_Xv[i] / tail_span[i].
    """
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
            # estimation days the member's own fit used (0 added on the others), over 1-D views
            # (the loops vectorize); a constant column's sums are the counts' (copied below)
            b = est_base[i]
            t0 = max(0, seg_lo[i] - b)
            t1 = min(n_est, seg_hi[i] - b)
            wi = w[b + t0:b + t1]
            yi = yu[b + t0:b + t1]
            ce = cnt_e[t0:t1]
            ye = y_e[t0:t1]
            for t in range(t1 - t0):
                ce[t] += wi[t]
                ye[t] += yi[t]
            for k in range(p):
                if not is_const[k]:
                    xe = X_e[k, t0:t1]
                    xi = XTu[k, b + t0:b + t1]
                    for t in range(t1 - t0):
                        xe[t] += xi[t]
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
        for k in range(p):
            if is_const[k]:
                X_e[k, :] = cnt_e
        oku = ok[u]
        ypu = yp[u]
        for t in range(T):
            n = cnt_e[t] + cnt_v[t]
            oku[t] = n > 0.0
            ypu[t] = (y_e[t] + y_v[t]) / n if n > 0.0 else np.nan
        for k in range(p):
            xp = Xp[u, k]
            xe = X_e[k]
            xv = X_v[k]
            for t in range(T):
                n = cnt_e[t] + cnt_v[t]
                xp[t] = (xe[t] + xv[t]) / n if n > 0.0 else np.nan
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


@_compiled()
def portfolio_fit_pass(ok, yp, Xp, is_const, theta, xtx_inv, e_len, e0, win_lo, win_hi, demean,
                       m, ssr, est_res, car, core):
    """Residuals, M, SSR, CARs and variance cores of U fitted portfolio series (module doc).

    ok, yp, Xp (U, p, T): :func:`portfolio_series`' output (position t = relative day e0 + t); theta (U, p),
    xtx_inv (U, p, p) (0 for the market-adjusted model: no estimation error). Writes m (U,)
    days used, ssr (U,), est_res (U, e_len) the estimation residuals (NaN where unused), and
    per window j: car (U, W) the CAR (NaN when no day of the window has a return) and
    core (U, W) = sessions + g' xtx_inv g, so Var(CAR) = sigma^2 core.
    """
    U, T = ok.shape
    p = Xp.shape[1]
    W = win_lo.shape[0]
    n_est = min(e_len, T)
    g = np.zeros(p)
    for u in range(U):
        cnt = 0
        s1 = 0.0
        for t in range(e_len):
            est_res[u, t] = np.nan
        for t in range(n_est):
            if not ok[u, t]:
                continue
            r = yp[u, t]
            for k in range(p):
                r -= theta[u, k] if is_const[k] else Xp[u, k, t] * theta[u, k]
            est_res[u, t] = r
            cnt += 1
            s1 += r
        s2 = 0.0
        mean = s1 / cnt if demean and cnt > 0 else 0.0
        for t in range(n_est):
            if ok[u, t]:
                dv = est_res[u, t] - mean
                s2 += dv * dv
        m[u] = cnt
        ssr[u] = s2
        for j in range(W):
            sessions = 0
            s = 0.0
            for k in range(p):
                g[k] = 0.0
            for day in range(win_lo[j], win_hi[j] + 1):
                t = day - e0
                if t < 0 or t >= T or not ok[u, t]:
                    continue
                fitted = 0.0
                for k in range(p):
                    fitted += Xp[u, k, t] * theta[u, k]
                s += yp[u, t] - fitted
                sessions += 1
                for k in range(p):
                    g[k] += Xp[u, k, t]
            if sessions == 0:
                car[u, j] = np.nan
                core[u, j] = np.nan
                continue
            qf = 0.0
            for k in range(p):
                for k2 in range(p):
                    qf += g[k] * xtx_inv[u, k, k2] * g[k2]
            car[u, j] = s
            core[u, j] = sessions + qf
