"""The vectorized event-study engine: batched OLS fits, abnormal returns, CARs and variances.

All firm-events are processed at once with numpy (no per-firm Python loop). Each security's
session series are concatenated in a :class:`ReturnStore`; a firm-event is (security, day-0
position), and relative day d maps to position p0 + d of that security's own sessions.

Formulas (MacKinlay 1997, "Event Studies in Economics and Finance", JEL 35(1), sec. 4-5;
Campbell, Lo & MacKinlay 1997, ch. 4):

- Fit over the estimation window [T1, T2] (relative sessions, inclusive); missing returns and
  returns that span a suspension are left out; M = observations used.
  theta = (X'X)^-1 X'y;  sigma^2 = SSR / (M - k)  (market-adjusted: sample variance of the
  estimation-window ARs, M - 1 degrees of freedom; nothing estimated).
- AR_t = y_t - x_t' theta (y = R, or R - rf for factor models); normal return = x_t' theta (+rf).
- CAR over window [a, b] = sum of the ARs whose coverage meets [a, b] (a return after a
  suspension covers every session it spans, so a window holding suspended days takes the
  return at resumption, even when resumption falls after b; the row is flagged).
- Var(CAR) = sigma^2 * 1'(I + X*(X'X)^-1 X*')1 over the window's returns, where the identity
  term counts each return's span (a return spanning n sessions has variance n sigma^2) and
  1'X*(X'X)^-1X*'1 = g'(X'X)^-1 g with g = the sum of the window's regressor rows.
  Market-adjusted: Var(CAR) = sigma^2 * L (no estimation error).
- car_t = CAR / se(CAR); two-sided p from Student t with M - k d.f. (M - 1 for market-adjusted).
- BHAR = prod(1 + R_t) - prod(1 + E[R_t]) over the same returns.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from analysis.calendars import SessionReturns
from analysis.models import ModelSpec, design

#: Extra sessions looked at after the last window end, to find a return at resumption.
SPAN_BUFFER = 10

_EPOCH = np.datetime64("1970-01-01", "D")


@dataclass
class ReturnStore:
    """Concatenated session series of many securities, with one model's regressors.

    Arrays are flat over all securities' sessions; security s occupies
    ``start[s] : start[s] + length[s]``.
    """

    spec: ModelSpec
    symbols: list[str]
    start: np.ndarray  # (S,) int64
    length: np.ndarray  # (S,) int64
    dates: np.ndarray  # (T,) int64 days since 1970-01-01
    ret: np.ndarray  # (T,) simple return, decimal (NaN = missing)
    span: np.ndarray  # (T,) sessions covered by the return (0 = none)
    X: np.ndarray  # (T, p) regressor rows summed over the span
    offset: np.ndarray  # (T,) summed rf for excess-return models, else 0
    volume: np.ndarray = field(default=None)  # (T,) shares
    close: np.ndarray = field(default=None)  # (T,) raw close
    prev_close: np.ndarray = field(default=None)  # (T,) raw previous close

    @property
    def y(self) -> np.ndarray:
        return self.ret - self.offset

    def index_of(self, symbol: str) -> int:
        return self.symbols.index(symbol)

    def position(self, s: int, date) -> int:
        """Position (0-based, within security s) of a session date; -1 if absent."""
        d = (np.datetime64(pd.Timestamp(date).date(), "D") - _EPOCH).astype(np.int64)
        seg = self.dates[self.start[s]: self.start[s] + self.length[s]]
        i = int(np.searchsorted(seg, d))
        return i if i < len(seg) and seg[i] == d else -1

    def date_of(self, flat_index) -> np.ndarray:
        return (_EPOCH + np.asarray(flat_index, dtype="int64")).astype("datetime64[ns]")


def build_store(spec: ModelSpec, series: list[SessionReturns], bases: list[pd.DataFrame]) -> ReturnStore:
    """Concatenate securities' session returns and build ``spec``'s regressors for each.

    bases[i]: per-session frame aligned on series[i].sessions with ``mkt`` (benchmark
    return) and the factor columns the model needs (decimals).
    """
    rows, offs = [], []
    for sr, base in zip(series, bases):
        X, off = design(spec, sr.span, base)
        rows.append(X)
        offs.append(off)
    lengths = np.array([len(sr.sessions) for sr in series], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    cat = lambda parts: np.concatenate(parts) if parts else np.empty(0)  # noqa: E731
    dates = cat([(sr.sessions.values.astype("datetime64[D]") - _EPOCH).astype(np.int64) for sr in series])
    return ReturnStore(
        spec=spec,
        symbols=[sr.symbol for sr in series],
        start=starts,
        length=lengths,
        dates=dates.astype(np.int64),
        ret=cat([sr.ret for sr in series]),
        span=cat([sr.span for sr in series]).astype(np.int64),
        X=np.vstack(rows) if rows else np.empty((0, len(spec.regressors))),
        offset=cat(offs),
        volume=cat([sr.volume for sr in series]),
        close=cat([sr.close for sr in series]),
        prev_close=cat([sr.prev_close for sr in series]),
    )


def gather_index(store: ReturnStore, sec: np.ndarray, p0: np.ndarray, days: np.ndarray):
    """Flat indices (N, L) of relative ``days`` for firm-events, and their validity mask."""
    pos = p0[:, None] + days[None, :]
    valid = (pos >= 0) & (pos < store.length[sec][:, None])
    flat = store.start[sec][:, None] + np.where(valid, pos, 0)
    return flat, valid


@dataclass
class EngineResult:
    """Arrays for N firm-events; windows along the last axis of the per-window arrays."""

    estimation: tuple[int, int]
    windows: list[tuple[int, int]]
    days: np.ndarray  # (L,) relative event days, incl. the span buffer
    theta: np.ndarray  # (N, p)
    sigma2: np.ndarray  # (N,)
    m: np.ndarray  # (N,) estimation observations used
    dof: np.ndarray  # (N,) M - k (M - 1 for market-adjusted)
    ok: np.ndarray  # (N,) fit usable
    reason: np.ndarray  # (N,) object: why not ok ('' if ok)
    xtx_inv: np.ndarray  # (N, p, p)
    est_ar: np.ndarray  # (N, Le) estimation-window ARs (NaN where unused)
    est_flat: np.ndarray  # (N, Le) flat store indices of the estimation days
    est_used: np.ndarray  # (N, Le) bool
    ar: np.ndarray  # (N, L)
    ret: np.ndarray  # (N, L)
    normal: np.ndarray  # (N, L) normal return incl. rf
    span: np.ndarray  # (N, L)
    flat: np.ndarray  # (N, L) flat store indices of event days
    valid: np.ndarray  # (N, L) bool: a return is there
    Xv: np.ndarray  # (N, L, p) event-period regressor rows (0 where no return)
    fixed: bool  # market-adjusted: no estimation error in Var(CAR)
    car: np.ndarray = None  # (N, W)
    car_se: np.ndarray = None
    car_t: np.ndarray = None
    car_p: np.ndarray = None
    bhar: np.ndarray = None
    n_returns: np.ndarray = None  # (N, W) returns summed
    n_sessions: np.ndarray = None  # (N, W) sessions those returns cover
    cover_first: np.ndarray = None  # (N, W) first relative day covered
    cover_last: np.ndarray = None  # (N, W) last relative day covered
    spans_gap: np.ndarray = None  # (N, W) bool: a return spanning a suspension is in the window


def parse_window(text: str) -> tuple[int, int]:
    """'-1:1' -> (-1, 1); relative sessions, inclusive."""
    a, b = str(text).split(":")
    a, b = int(a), int(b)
    if a > b:
        raise ValueError(f"window start {a} is after its end {b}")
    return a, b


def format_window(w: tuple[int, int]) -> str:
    return f"{w[0]}:{w[1]}"


def run(
    store: ReturnStore,
    sec: np.ndarray,
    p0: np.ndarray,
    estimation: tuple[int, int] = (-250, -11),
    windows: list[tuple[int, int]] = ((0, 0), (-1, 1), (0, 5), (-5, 5)),
    min_obs: int = 120,
) -> EngineResult:
    """Fit the store's model and compute ARs, CARs and their variances for N firm-events.

    sec: (N,) security indices into ``store``; p0: (N,) day-0 positions (sessions).
    """
    spec = store.spec
    sec = np.asarray(sec, dtype=np.int64)
    p0 = np.asarray(p0, dtype=np.int64)
    windows = [tuple(w) for w in windows]
    N, p = len(sec), store.X.shape[1]
    y_all, X_all = store.y, store.X

    # --- estimation window -------------------------------------------------------------
    est_days = np.arange(estimation[0], estimation[1] + 1)
    ef, ev = gather_index(store, sec, p0, est_days)
    ye = y_all[ef]
    Xe = X_all[ef]
    used = ev & np.isfinite(ye) & np.isfinite(Xe).all(axis=2) & (store.span[ef] == 1)
    m = used.sum(axis=1)
    ye0 = np.where(used, ye, 0.0)
    Xe0 = np.where(used[:, :, None], Xe, 0.0)
    if spec.fixed:
        theta = np.ones((N, p))
        xtx_inv = np.zeros((N, p, p))
        k_eff = 1  # sample variance of ARs: M - 1 degrees of freedom
        fit_ok = m >= 2
    else:
        xtx = np.einsum("nlk,nlj->nkj", Xe0, Xe0)
        xty = np.einsum("nlk,nl->nk", Xe0, ye0)
        det = np.linalg.det(xtx)
        scale = np.einsum("nkk->n", xtx) ** p
        fit_ok = (m > spec.k) & (np.abs(det) > 1e-12 * np.maximum(scale, 1e-300))
        safe = np.where(fit_ok[:, None, None], xtx, np.eye(p)[None])
        xtx_inv = np.linalg.inv(safe)
        theta = np.einsum("nkj,nj->nk", xtx_inv, xty)
        k_eff = spec.k
    fitted_e = np.einsum("nlk,nk->nl", Xe0, theta)
    est_ar = np.where(used, ye0 - fitted_e, np.nan)
    dof = (m - k_eff).astype(float)
    if spec.fixed:
        mean_ar = np.nanmean(np.where(used, est_ar, np.nan), axis=1) if N else np.zeros(0)
        ssr = np.nansum((est_ar - mean_ar[:, None]) ** 2, axis=1)
    else:
        ssr = np.nansum(est_ar**2, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma2 = np.where(dof > 0, ssr / dof, np.nan)
    ok = fit_ok & (m >= min_obs) & np.isfinite(sigma2) & (sigma2 > 0)
    reason = np.full(N, "", dtype=object)
    reason[~ok & (m < min_obs)] = [f"{int(v)} estimation returns, fewer than min-obs {min_obs}" for v in m[~ok & (m < min_obs)]]
    other = ~ok & (m >= min_obs)
    reason[other] = "estimation regressors are singular or the residual variance is zero"

    # --- event period ---------------------------------------------------------------
    lo = min(w[0] for w in windows)
    hi = max(w[1] for w in windows) + SPAN_BUFFER
    days = np.arange(lo, hi + 1)
    vf, vv = gather_index(store, sec, p0, days)
    yv = y_all[vf]
    Xv = X_all[vf]
    span = np.where(vv, store.span[vf], 0)
    fitted = np.einsum("nlk,nk->nl", np.nan_to_num(Xv), theta)
    fitted = np.where(np.isfinite(Xv).all(axis=2), fitted, np.nan)
    valid = vv & np.isfinite(yv) & np.isfinite(fitted) & (span >= 1)
    ar = np.where(valid, yv - fitted, np.nan)
    off = store.offset[vf]
    normal = np.where(valid, fitted + off, np.nan)
    ret = np.where(valid, yv + off, np.nan)
    cover_start = days[None, :] - span + 1

    res = EngineResult(
        estimation=tuple(estimation), windows=windows, days=days, theta=theta, sigma2=sigma2,
        m=m, dof=dof, ok=ok, reason=reason, xtx_inv=xtx_inv, est_ar=est_ar, est_flat=ef,
        est_used=used, ar=ar, ret=ret, normal=normal, span=span, flat=vf, valid=valid,
        Xv=np.where(valid[:, :, None], Xv, 0.0), fixed=spec.fixed,
    )
    for name, arr in cumulate(res, windows).items():
        setattr(res, name, arr)
    return res


def cumulate(res: "EngineResult", windows) -> dict[str, np.ndarray]:
    """CAR, se, t, p, BHAR and coverage for each window (N, W), vectorized over firm-events.

    A return enters window [a, b] when its coverage [d - span + 1, d] meets [a, b].
    Var(CAR) = sigma^2 (L + g'(X'X)^-1 g), L = sessions covered, g = summed regressor rows.
    """
    days, valid, span, ar = res.days, res.valid, res.span, res.ar
    ret, normal, sigma2, Xv0 = res.ret, res.normal, res.sigma2, res.Xv
    cover_start = days[None, :] - span + 1
    N = ar.shape[0]
    W = len(windows)
    car = np.full((N, W), np.nan)
    var = np.full((N, W), np.nan)
    bhar = np.full((N, W), np.nan)
    n_ret = np.zeros((N, W), dtype=np.int64)
    n_ses = np.zeros((N, W), dtype=np.int64)
    c_first = np.full((N, W), np.nan)
    c_last = np.full((N, W), np.nan)
    gap = np.zeros((N, W), dtype=bool)
    big = np.iinfo(np.int64).max
    for j, (a, b) in enumerate(windows):  # a handful of windows, each vectorized over N
        inc = valid & (days[None, :] >= a) & (cover_start <= b)
        cnt = inc.sum(axis=1)
        has = cnt > 0
        car[:, j] = np.where(has, np.where(inc, ar, 0.0).sum(axis=1), np.nan)
        L = np.where(inc, span, 0).sum(axis=1)
        incf = inc.astype(float)
        g = np.einsum("nlk,nl->nk", Xv0, incf)
        est_err = 0.0 if res.fixed else np.einsum("nk,nkj,nj->n", g, res.xtx_inv, g)
        var[:, j] = np.where(has, sigma2 * (L + est_err), np.nan)
        gross = np.where(inc, 1.0 + ret, 1.0).prod(axis=1)
        gross_n = np.where(inc, 1.0 + normal, 1.0).prod(axis=1)
        bhar[:, j] = np.where(has, gross - gross_n, np.nan)
        n_ret[:, j] = cnt
        n_ses[:, j] = L
        c_first[:, j] = np.where(has, np.where(inc, cover_start, big).min(axis=1), np.nan)
        c_last[:, j] = np.where(has, np.where(inc, days[None, :], -big).max(axis=1), np.nan)
        gap[:, j] = (inc & (span > 1)).any(axis=1)
    car_se = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        car_t = car / car_se
    car_p = 2.0 * stats.t.sf(np.abs(car_t), res.dof[:, None])
    for arr in (car, car_se, car_t, car_p, bhar):
        arr[~res.ok] = np.nan
    return {"car": car, "car_se": car_se, "car_t": car_t, "car_p": car_p, "bhar": bhar,
            "n_returns": n_ret, "n_sessions": n_ses, "cover_first": c_first,
            "cover_last": c_last, "spans_gap": gap}


def car_path(res: "EngineResult", start: int, end: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CAR[start, tau] and its se for tau = start..end: (taus, car (N, T), se (N, T))."""
    taus = np.arange(start, end + 1)
    c = cumulate(res, [(start, int(t)) for t in taus])
    return taus, c["car"], c["car_se"]
