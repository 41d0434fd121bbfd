"""Independent reference for the event-time portfolio test (test-only): the implementation the
compiled passes of :mod:`analysis.inference.portfolio_kernel` replaced.

Each portfolio's series is built with numpy (sparse membership products, the event-period
returns spread over the sessions they span by shifted sums), laid out as a return store (one
equal-length segment per portfolio, in event time) and run through the engine like securities:
the engine's own OLS fit, ARs, CARs and Var(CAR) then give the portfolio's statistics.
:func:`reference_cells` runs one portfolio per cell (no sharing of equal firm sets).
"""
from __future__ import annotations

import numpy as np

from analysis.estimation import engine
from analysis.estimation.engine import EngineResult
from analysis.estimation.store import ReturnStore


def _spread(values: np.ndarray, span: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Event-period values with each return spanning n sessions spread as values/n over the
    sessions it covers: (spread (N, L[, p]), covered (N, L) bool). Days before the first
    column are dropped."""
    n, L = span.shape
    s = np.where(valid, np.maximum(span, 1), 1).astype(float)
    shape = values.shape
    v = np.where(valid.reshape(valid.shape + (1,) * (values.ndim - 2)), values, 0.0)
    per = v / s.reshape(s.shape + (1,) * (values.ndim - 2))
    out = np.zeros(shape)
    covered = np.zeros((n, L), dtype=bool)
    top = int(s[valid].max()) if valid.any() else 1
    for k in range(top):  # a handful of lags: a return on day d covers d - k for k < span
        take = valid & (s > k)
        if k:
            take = take[:, k:]
            src = per[:, k:]
            out[:, :-k] += np.where(take.reshape(take.shape + (1,) * (values.ndim - 2)), src, 0.0)
            covered[:, :-k] |= take
        else:
            out += np.where(take.reshape(take.shape + (1,) * (values.ndim - 2)), per, 0.0)
            covered |= take
    return out, covered


def _portfolio_store(res: EngineResult, rows: np.ndarray, port: np.ndarray, n_port: int) -> tuple[ReturnStore, int]:
    """The portfolios' series in event time as a store (one equal-length segment each) and
    the day-0 position; membership pairs: firm-event ``rows[k]`` of ``res`` is in portfolio
    ``port[k]``."""
    from scipy import sparse  # deferred: keeps `import analysis.study` light

    store = res.store
    spec = store.spec
    ur, inv = np.unique(rows, return_inverse=True)
    member = sparse.csr_matrix((np.ones(len(rows)), (port, inv)), shape=(n_port, len(ur)))
    e0, e1 = res.estimation
    p = len(spec.regressors)
    # estimation days: the firm counts where its own fit used the day
    ew = res.est_window.subset(ur)
    used = np.isfinite(res.est_ar[ur])
    y_est = np.where(used, ew.take(store.y), 0.0)
    X_est = [used.astype(float) if name == "const" else np.where(used, ew.take(store.XT[k]), 0.0)
             for k, name in enumerate(spec.regressors)]
    # event period: returns spread over the sessions they span
    vw = res.window.subset(ur)
    valid = res.valid[ur]
    span = res.span[ur]
    y_ev, cov_ev = _spread(np.where(valid, vw.take(store.y), 0.0), span, valid)
    X_ev, _ = _spread(res.Xv[ur], span, valid)
    days = res.days
    if res.tail_valid is not None and res.tail_valid[ur].any():
        # the return at resumption after the event period, spread over the days it covers in it
        # (as the firm's CAR takes it: a portfolio day does not depend on how far the period reaches)
        tv, ts, td = res.tail_valid[ur], res.tail_span[ur], res.tail_day[ur]
        t_flat = store.start[res.sec[ur]] + res.p0[ur] + td
        covers = tv[:, None] & (days[None, :] >= (td - ts + 1)[:, None])
        per = np.where(tv, 1.0 / np.maximum(ts, 1), 0.0)[:, None]
        y_ev += np.where(covers, np.where(tv, store.y[np.where(tv, t_flat, 0)], 0.0)[:, None] * per, 0.0)
        X_ev += np.where(covers[:, :, None], res.tail_Xv[ur][:, None, :] * per[:, :, None], 0.0)
        cov_ev |= covers
    T = int(days[-1] - e0 + 1)
    Le = e1 - e0 + 1
    ev_at = int(days[0] - e0)  # position of the first event-period day
    cnt = np.zeros((n_port, T))
    ys = np.zeros((n_port, T))
    Xs = np.zeros((n_port, T, p))
    est_cols = slice(0, Le)
    ev_cols = slice(ev_at, T)
    cnt[:, est_cols] = member @ used.astype(float)
    ys[:, est_cols] = member @ y_est
    cnt[:, ev_cols] += member @ cov_ev.astype(float)
    ys[:, ev_cols] += member @ y_ev
    for k in range(p):
        Xs[:, est_cols, k] = member @ X_est[k]
        Xs[:, ev_cols, k] += member @ X_ev[:, :, k]
    with np.errstate(invalid="ignore", divide="ignore"):
        y = np.where(cnt > 0, ys / cnt, np.nan)
        X = np.where((cnt > 0)[:, :, None], Xs / cnt[:, :, None], np.nan)
    ok = cnt > 0
    flat = n_port * T
    pstore = ReturnStore(
        spec=spec, symbols=[f"P{u}" for u in range(n_port)],
        start=np.arange(n_port, dtype=np.int64) * T, length=np.full(n_port, T, dtype=np.int64),
        dates=np.tile(np.arange(T, dtype=np.int64), n_port), ret=y.ravel(),
        span=ok.ravel().astype(np.int64), X=X.reshape(flat, p), offset=np.zeros(flat))
    return pstore, -e0



def reference_cells(res: EngineResult, rows, cell, n_cells: int, windows=None) -> dict[str, np.ndarray]:
    """(C, W) car, car_se, car_t, car_p, (C,) dof, ok and (C, Le) est_ar of each cell's own
    portfolio (membership pairs: firm-event ``rows[k]`` of ``res`` is in cell ``cell[k]``)."""
    windows = list(res.windows) if windows is None else [tuple(w) for w in windows]
    pstore, p0 = _portfolio_store(res, np.asarray(rows, dtype=np.int64), np.asarray(cell, dtype=np.int64), n_cells)
    r = engine.run(pstore, np.arange(n_cells), np.full(n_cells, p0), res.estimation, windows,
                   res.store.spec.k + 2)
    out = {n: getattr(r, n) for n in ("car", "car_se", "car_t", "car_p", "dof", "ok")}
    out["dof"] = np.where(r.ok, r.dof, np.nan)
    out["est_ar"] = r.est_ar
    return out
