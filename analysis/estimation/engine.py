"""The vectorized event-study engine: batched OLS fits, abnormal returns, CARs and variances.

All firm-events are processed together (no per-firm Python loop): fits are batched numpy
algebra on prefix sums, and the passes over every day of every firm-event (estimation
residuals, event-period rows, window sums) are compiled loops in :mod:`analysis.estimation.kernels`.
Each security's session series are concatenated in a :class:`ReturnStore`; a firm-event is
(security, day-0 position), and relative day d maps to position p0 + d of that security's own
sessions.

Formulas (MacKinlay 1997, "Event Studies in Economics and Finance", JEL 35(1), sec. 4-5;
Campbell, Lo & MacKinlay 1997, ch. 4):

- Fit over the estimation window [T1, T2] (relative sessions, inclusive); missing returns and
  returns that span a suspension are left out; M = observations used.
  theta = (X'X)^-1 X'y;  sigma^2 = SSR / (M - k)  (market-adjusted: sample variance of the
  estimation-window ARs, M - 1 degrees of freedom; nothing estimated).
- AR_t = y_t - x_t' theta (y = R, or R - rf for factor models); normal return = x_t' theta (+rf).
- CAR over window [a, b] = sum of the ARs whose coverage meets [a, b] (a return after a
  suspension covers every session it spans, so a window holding suspended days takes the
  return at resumption, even when resumption falls after b, however long after: the first
  return after the event period is kept per firm-event (``tail_*``) for that; the row is
  flagged). A window's numbers depend on that window and the firm-event alone, never on the
  other windows of the run nor on how far the event period reaches.
- Var(CAR) = sigma^2 * 1'(I + X*(X'X)^-1 X*')1 over the window's returns, where the identity
  term counts each return's span (a return spanning n sessions has variance n sigma^2) and
  1'X*(X'X)^-1X*'1 = g'(X'X)^-1 g with g = the sum of the window's regressor rows.
  Market-adjusted: Var(CAR) = sigma^2 * L (no estimation error).
- car_t = CAR / se(CAR); two-sided p from Student t with M - k d.f. (M - 1 for market-adjusted).
- BHAR = prod(1 + R_t) - prod(1 + E[R_t]) over the same returns.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from analysis.estimation import kernels
from analysis.estimation.pvalues import t_p_value
from analysis.estimation.store import ReturnStore, RelativeDays
from analysis.vocab import DEFAULT_ESTIMATION, DEFAULT_MIN_OBS, DEFAULT_WINDOWS

#: Extra sessions of the event period after the last window end (daily rows and CAR paths reach
#: them). A return at resumption further on is kept as the firm-event's tail return
#: (:func:`tail_returns`): no window's numbers depend on this length.
SPAN_BUFFER = 10


class _Lazy:
    """A field of :class:`EngineResult` computed on first read and kept: the value given, or
    (given None) what ``fill(result)`` returns, a dict of this field's value and maybe its
    siblings' (stored too). A descriptor-typed dataclass field: ``__init__`` stores through
    :meth:`__set__`; :meth:`EngineResult.take` passes None on for a field not read yet."""

    def __init__(self, fill):
        self.fill = fill

    def __set_name__(self, owner, name):
        self.key = "_" + name

    def __get__(self, obj, objtype=None):
        if obj is None:
            return None  # the field's default
        value = obj.__dict__.get(self.key)
        if value is None and "_source" in obj.__dict__:  # EngineResult.expanded: computed once there
            base, rows = obj.__dict__["_source"]
            value = _gather(getattr(base, self.key[1:]), rows)
            obj.__dict__[self.key] = value
        elif value is None:
            for name, v in self.fill(obj).items():
                if obj.__dict__.get("_" + name) is None:
                    obj.__dict__["_" + name] = v
            value = obj.__dict__[self.key]
        return value

    def __set__(self, obj, value):
        obj.__dict__[self.key] = value


def _gather(value, rows: np.ndarray):
    """Rows ``rows`` of a per-firm-event field (array or :class:`RelativeDays`); None stays None."""
    if value is None:
        return None
    return value.subset(rows) if isinstance(value, RelativeDays) else value[rows]


def _firm_p_values(res: "EngineResult") -> dict:
    """``car_p``: the two-sided Student-t p of ``car_t`` with ``dof`` d.f. (NaN where the fit
    is not ok); most runs never read the firm-level p-values."""
    if res.car_t is None:
        return {"car_p": None}
    value = t_p_value(res.car_t, res.dof[:, None])
    value[~res.ok] = np.nan
    return {"car_p": value}


def _event_rows(res: "EngineResult") -> dict:
    """The event-period arrays ar, ret, normal, span, valid, Xv (N, L[, p]) from the store
    (:func:`analysis.estimation.kernels.event_period`): no test needs them, the tables and
    flags do."""
    store, sec, p0, days = res.store, res.sec, res.p0, res.days
    N, L, p = len(sec), len(days), store.X.shape[1]
    out = {"ar": np.empty((N, L)), "ret": np.empty((N, L)), "normal": np.empty((N, L)),
           "span": np.empty((N, L), np.int64), "valid": np.empty((N, L), bool), "Xv": np.empty((N, L, p))}
    seg_lo = store.start[sec]
    base, seg_hi, theta = seg_lo + p0 + days[0], seg_lo + store.length[sec], res.theta

    def rows(r: slice) -> None:  # rows are independent: a long run in two halves on two threads
        kernels.event_period(store.y, store.XT, store.offset, store.span, base[r], seg_lo[r], seg_hi[r], theta[r],
                             *(a[r] for a in out.values()))

    kernels.map_on_threads(rows, kernels.parts(N, min_size=kernels.THREADED_ROWS))
    return out


def _tails(res: "EngineResult") -> dict:
    """The ``tail_*`` fields (:func:`tail_returns`)."""
    return tail_returns(res.store, res.sec, res.p0, int(res.days[-1]), res.theta)


def _relative_days(res: "EngineResult") -> dict:
    """``est_window`` and ``window``: the :class:`RelativeDays` of the estimation and event days."""
    return {"est_window": RelativeDays(res.store, res.sec, res.p0, *res.estimation),
            "window": RelativeDays(res.store, res.sec, res.p0, int(res.days[0]), int(res.days[-1]))}


@dataclass(frozen=True, eq=False)
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
    fixed: bool  # market-adjusted: no estimation error in Var(CAR)
    car: np.ndarray = None  # (N, W)
    car_se: np.ndarray = None
    car_t: np.ndarray = None
    car_p: np.ndarray = _Lazy(_firm_p_values)  # (N, W) two-sided p of car_t, computed on first read
    bhar: np.ndarray = None
    n_returns: np.ndarray = None  # (N, W) returns summed
    n_sessions: np.ndarray = None  # (N, W) sessions those returns cover
    cover_first: np.ndarray = None  # (N, W) first relative day covered
    cover_last: np.ndarray = None  # (N, W) last relative day covered
    spans_gap: np.ndarray = None  # (N, W) bool: a return spanning a suspension is in the window
    gap_first: np.ndarray = None  # (N, W) first session (relative day) the spanning return covers
    gap_last: np.ndarray = None  # (N, W) its own day (the first session after the suspension)
    complete: np.ndarray = None  # (N, W) bool: the returns cover every session of the window
    store: "ReturnStore" = None  # the store the firm-events index (for the estimation ARs)
    sec: np.ndarray = None  # (N,) security of each firm-event
    p0: np.ndarray = None  # (N,) day-0 position
    est_pos: np.ndarray = None  # (N,) positive estimation-window ARs (generalized sign test)
    # The tail return: the first return after the event period when it spans back into it (the
    # return at resumption of a suspension running past days[-1]); it enters a window ending in
    # that suspension. tail_valid False: none (or it misses a benchmark return). Computed on
    # first read (the window sums take it straight from the store).
    tail_day: np.ndarray = _Lazy(_tails)  # (N,) int: its relative day (> days[-1]; 0 when none)
    tail_valid: np.ndarray = _Lazy(_tails)  # (N,) bool
    tail_span: np.ndarray = _Lazy(_tails)  # (N,) sessions it covers
    tail_ar: np.ndarray = _Lazy(_tails)  # (N,)
    tail_ret: np.ndarray = _Lazy(_tails)  # (N,)
    tail_normal: np.ndarray = _Lazy(_tails)  # (N,)
    tail_Xv: np.ndarray = _Lazy(_tails)  # (N, p)
    # Computed from the store on first read (each firm-event's rows over ``days``; :func:`_event_rows`)
    ar: np.ndarray = _Lazy(_event_rows)  # (N, L)
    ret: np.ndarray = _Lazy(_event_rows)  # (N, L)
    normal: np.ndarray = _Lazy(_event_rows)  # (N, L) normal return incl. rf
    span: np.ndarray = _Lazy(_event_rows)  # (N, L)
    valid: np.ndarray = _Lazy(_event_rows)  # (N, L) bool: a return is there
    Xv: np.ndarray = _Lazy(_event_rows)  # (N, L, p) event-period regressor rows (0 where no return)
    est_window: "RelativeDays" = _Lazy(_relative_days)  # gathers store arrays over the estimation days
    window: "RelativeDays" = _Lazy(_relative_days)  # gathers store arrays over the event days

    def take(self, rows) -> "EngineResult":
        """The result of some of the firm-events (indices or a boolean mask), same windows."""
        rows = np.asarray(rows)
        rows = np.nonzero(rows)[0] if rows.dtype == bool else rows.astype(np.int64)
        if "_source" in self.__dict__:  # still computed once, in the source
            base, of = self.__dict__["_source"]
            return base.expanded(of[rows])
        return EngineResult(**self._rows_of(rows, read_lazy=True))

    def expanded(self, rows) -> "EngineResult":
        """The result of firm-events that repeat this result's firm-events ``rows`` (indices,
        repeats allowed: the pseudo-events of several events on one date share their firms'
        fits). Every array is gathered; what is computed on first read (event-period rows,
        estimation ARs, firm p-values) is computed once, here, for the
        distinct firm-events, and gathered when read."""
        rows = np.asarray(rows, dtype=np.int64)
        out = EngineResult(**self._rows_of(rows, read_lazy=False))  # lazy fields: gathered from here when read
        out.__dict__["_source"] = (self, rows)
        return out

    def _rows_of(self, rows: np.ndarray, read_lazy: bool) -> dict:
        """Every field for firm-events ``rows``: per-firm-event fields gathered (:func:`_gather`),
        the others as they are; the fields computed on first read as read so far (None: not
        read yet), or all None without ``read_lazy``."""
        keep = {}
        for fld in dataclasses.fields(self):
            lazy = isinstance(type(self).__dict__.get(fld.name), _Lazy)
            if lazy and not read_lazy:
                keep[fld.name] = None
                continue
            v = self.__dict__.get("_" + fld.name) if lazy else getattr(self, fld.name)  # not read yet: None
            per_row = isinstance(v, RelativeDays) or (isinstance(v, np.ndarray) and v.ndim >= 1
                                                      and v.shape[0] == len(self.ok) and fld.name != "days")
            keep[fld.name] = _gather(v, rows) if per_row else v
        return keep

    @property
    def source(self) -> tuple["EngineResult", np.ndarray] | None:
        """(result, rows) when this result :meth:`expanded` another's firm-events; else None."""
        return self.__dict__.get("_source")

    @property
    def est_ar(self) -> np.ndarray:
        """(N, Le) estimation-window ARs (NaN where unused), computed on first use and kept."""
        cache = self.__dict__.setdefault("_cache", {})
        if "est_ar" not in cache:
            src = self.source
            cache["est_ar"] = (src[0].est_ar[src[1]] if src is not None
                               else estimation_residuals(self.store, self.est_window, self.theta)[0])
        return cache["est_ar"]

    @property
    def est_flat(self) -> np.ndarray:
        """(N, Le) flat store indices of the estimation days."""
        return self.est_window.flat

    @property
    def flat(self) -> np.ndarray:
        """(N, L) flat store indices of the event days."""
        return self.window.flat


def estimation_residuals(store: ReturnStore, ew: "RelativeDays", theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Estimation-window ARs y - x'theta (N, Le) and the mask of days used in the fit.

    Unused days (missing, spanning a suspension, outside the data) are NaN. (The fit itself
    needs only sums over these ARs: :func:`analysis.estimation.kernels.residual_moments`.)
    Rows inside their security's data take one compiled pass
    (:func:`~analysis.estimation.kernels.residual_rows`); the few that run past it are
    gathered by index.
    """
    used = ew.take(store.eligible)
    if not ew.all_valid:
        used &= ew.valid
    N, Le = used.shape
    regressors = store.spec.regressors
    theta = np.ascontiguousarray(theta, dtype=float).reshape(N, len(regressors))
    est_ar = np.empty((N, Le))
    if ew.T >= ew.L:  # else every row runs past its data
        const = np.array([name == "const" for name in regressors])
        first = np.clip(ew.base, 0, ew.T - ew.L)
        # rows are independent: a long run in two halves on two threads
        kernels.map_on_threads(lambda r: kernels.residual_rows(store.y, store.XT, const, store.eligible, first[r],
                                                               theta[r], est_ar[r]),
                               kernels.parts(N, min_size=kernels.THREADED_ROWS))
    if len(ew.partial):
        rows = ew.partial
        part = store.y[ew.pflat]
        for k, name in enumerate(regressors):  # the kernel's arithmetic, by numpy
            part -= theta[rows, k:k + 1] if name == "const" else store.XT[k][ew.pflat] * theta[rows, k:k + 1]
        est_ar[rows] = np.where(used[rows], part, np.nan)
    return est_ar, used


#: Firm-events per block: about BLOCK or more and at most BLOCK_MAX (a block's arrays stay in
#: the CPU cache; each block's Python steps, about 40 numpy calls holding the GIL, are paid once
#: per block: :func:`block_size`).
BLOCK = 4096
BLOCK_MAX = 16384


def block_size(n: int, threads: int) -> int:
    """Firm-events per block of a run of ``n`` on ``threads`` threads: equal blocks, q of them a
    thread (so the threads end together), q the fewest that keeps blocks within
    :data:`BLOCK_MAX` and up to 4 while blocks stay about :data:`BLOCK` or more (a small run is
    split once per thread). Blocks change no number: firm-events are independent. Measured on
    the 2-core machine: 1M firm-events, engine.run alone, 0.78 s in blocks of 4096 against
    0.57-0.63 s at 16384-32768; 2,000 (bench_lemaire's unit) median 5.78 -> 5.40 ms and 5.38 ->
    4.78 ms split in two (300 interleaved rounds each; 10,000: 20.47 -> 19.89 ms)."""
    t = max(threads, 1)
    q = max(-(-n // (t * BLOCK_MAX)), min(4, -(-n // (t * BLOCK))), 1)
    return max(1, -(-n // (t * q)))


#: Smallest residual s.d. of a usable fit (decimal return per session). Below it the normal-return
#: model reproduces the security's own returns (a benchmark that is an exact copy of the firm gives
#: ~1e-23, rounding): its ARs are noise of the arithmetic and its t a division by ~0, so the
#: firm-event is left out of every test with :data:`REPLICATED_REASON`. Real daily residual s.d.
#: are 1e-3..1e-1.
SIGMA_FLOOR = 1e-8
REPLICATED_REASON = ("the normal-return model reproduces the security's returns (residual s.d. below 1e-8 a session: "
                     "is the benchmark a copy of the security?)")


def run(
    store: ReturnStore,
    sec: np.ndarray,
    p0: np.ndarray,
    estimation: tuple[int, int] = DEFAULT_ESTIMATION,
    windows: list[tuple[int, int]] = DEFAULT_WINDOWS,
    min_obs: int = DEFAULT_MIN_OBS,
    threads: int | None = None,
    last_day: int | None = None,
) -> EngineResult:
    """Fit the store's model and compute ARs, CARs and their variances for N firm-events.

    sec: (N,) security indices into ``store``; p0: (N,) day-0 positions (sessions).
    ``last_day``: the event period reaches at least this relative day (for windows cumulated
    later, e.g. limit-extended ones; by default the last window end plus :data:`SPAN_BUFFER`).
    Firm-events are independent: they are processed in blocks (cache-sized arrays,
    :func:`block_size`), on ``threads`` threads (default: up to 2; numpy and the compiled loops
    release the GIL), each writing its rows of the run's arrays, allocated once
    (:func:`_allocate`). The event-period arrays (ar, ret, normal, span, valid, Xv),
    ``est_window``, ``window`` and ``car_p`` are computed on first read: the window sums are taken
    straight from the store (:func:`analysis.estimation.kernels.event_windows`).
    """
    sec = np.asarray(sec, dtype=np.int64)
    p0 = np.asarray(p0, dtype=np.int64)
    windows = [tuple(w) for w in windows]
    N, p, W = len(sec), store.X.shape[1], len(windows)
    lo = min(w[0] for w in windows)
    hi = max(w[1] for w in windows) + SPAN_BUFFER
    if last_day is not None:
        hi = max(hi, int(last_day))
    days = np.arange(lo, hi + 1)
    full = _allocate(N, W, p)
    # shared caches, built before the threads
    store.y, store.eligible, store.XT, store.date_rank, store.used_arrays, store.next_return  # noqa: B018
    if not store.spec.fixed:
        store.prefix_moments()
    size = block_size(N, kernels.thread_count(threads))
    starts = list(range(0, N, size)) or [0]  # no firm-event: one empty block (empty arrays)

    def block(k: int) -> None:
        rows = slice(starts[k], starts[k] + size)
        _run_block(store, sec[rows], p0[rows], estimation, windows, days, min_obs,
                   {name: v[rows] for name, v in full.items()})

    kernels.map_on_threads(block, range(len(starts)), threads)
    return EngineResult(estimation=tuple(estimation), windows=windows, days=days, store=store,
                        fixed=store.spec.fixed, sec=sec, p0=p0, **full)


def _allocate(N: int, W: int, p: int) -> dict[str, np.ndarray]:
    """The per-firm-event arrays of an :class:`EngineResult` of N firm-events, W windows and p
    regressors, uninitialized: the blocks write every element."""
    f8, i8, b1 = np.float64, np.int64, np.bool_
    shapes = {
        "theta": ((N, p), f8), "sigma2": ((N,), f8), "m": ((N,), i8), "dof": ((N,), f8), "ok": ((N,), b1),
        "reason": ((N,), object), "xtx_inv": ((N, p, p), f8), "est_pos": ((N,), f8),
    }
    out = {name: np.empty(shape, dtype=dt) for name, (shape, dt) in shapes.items()}
    out.update(_allocate_windows(N, W))
    return out


#: The (N, W) arrays :func:`cumulate` fills, and their dtypes.
WINDOW_ARRAYS = {"car": np.float64, "car_se": np.float64, "car_t": np.float64, "bhar": np.float64,
                 "n_returns": np.int64, "n_sessions": np.int64, "cover_first": np.float64,
                 "cover_last": np.float64, "spans_gap": np.bool_, "gap_first": np.float64,
                 "gap_last": np.float64, "complete": np.bool_}


def _allocate_windows(N: int, W: int) -> dict[str, np.ndarray]:
    return {name: np.empty((N, W), dtype=dt) for name, dt in WINDOW_ARRAYS.items()}


#: A fit is singular when |det X'X| <= SINGULAR_RATIO prod(diag X'X) (:func:`ols_from_moments`).
SINGULAR_RATIO = 1e-12


def ols_from_moments(xtx: np.ndarray, xty: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OLS of N fits from their X'X (N, p, p) and X'y (N, p): (theta (N, p), (X'X)^-1 (N, p, p),
    fit_ok (N,)). A fit is singular when |det X'X| <= 1e-12 prod(diag X'X): Hadamard's bound
    0 <= det <= prod(diag) makes the ratio free of the regressors' units (factors in decimals
    have tiny variances, so trace**p would flag ff3/carhart as singular); a singular fit is
    solved against the identity instead and flagged. For p = 2 (market and mean-with-slope
    models) one compiled pass inverts the matrices as LAPACK does
    (:func:`analysis.estimation.kernels.inverse2`); the rows it leaves, and other p, go through
    ``numpy.linalg`` (a LAPACK call per matrix)."""
    p = xtx.shape[-1]
    if p == 2 and len(xtx):
        xtx_inv, fit_ok, clear = kernels.inverse2(np.ascontiguousarray(xtx, dtype=float), SINGULAR_RATIO)
        if not clear.all():
            rows = np.nonzero(~clear)[0]
            xtx_inv[rows], fit_ok[rows] = _inverse(xtx[rows])
    else:
        xtx_inv, fit_ok = _inverse(xtx)
    return np.matmul(xtx_inv, xty[:, :, None])[:, :, 0], xtx_inv, fit_ok


def _inverse(xtx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """((X'X)^-1, fit_ok) by ``numpy.linalg`` (:func:`ols_from_moments`)."""
    p = xtx.shape[-1]
    det = np.linalg.det(xtx)
    scale = np.prod(np.diagonal(xtx, axis1=1, axis2=2), axis=1)
    fit_ok = np.abs(det) > SINGULAR_RATIO * np.maximum(scale, 1e-300)
    return np.linalg.inv(np.where(fit_ok[:, None, None], xtx, np.eye(p)[None])), fit_ok


def _run_block(store, sec, p0, estimation, windows, days, min_obs, out) -> None:
    """Firm-events sec, p0 of one block: every array of ``out`` (views of the run's arrays,
    :func:`_allocate`) written."""
    spec = store.spec
    N = len(sec)

    # --- estimation window -------------------------------------------------------------
    length = store.length[sec]
    theta, xtx_inv = out["theta"], out["xtx_inv"]
    if spec.fixed:
        theta[:] = 1.0
        xtx_inv[:] = 0.0
        k_eff = 1  # sample variance of ARs: M - 1 degrees of freedom
        fit_ok = np.ones(N, dtype=bool)
    else:
        # X'X and X'y over each firm-event's estimation window from prefix sums: O(p^2) each.
        _, pxx, pxy, _ = store.prefix_moments()
        lo = store.start[sec] + sec + np.clip(p0 + estimation[0], 0, length)  # per-security prefix rows
        hi = store.start[sec] + sec + np.clip(p0 + estimation[1] + 1, 0, length)
        theta[:], xtx_inv[:], fit_ok = ols_from_moments(pxx[hi] - pxx[lo], pxy[hi] - pxy[lo])
        k_eff = spec.k
    # One compiled pass over the estimation days: M, SSR (the squared residuals themselves:
    # y'y - 2 theta'X'y + theta'X'X theta from prefix sums cancels when the fit is tight; about
    # the mean for market-adjusted, M - 1 d.f.) and the positive ARs (generalized sign test).
    # The ARs are not kept: EngineResult.est_ar computes them when asked.
    seg_lo = store.start[sec]
    w_used, y_used, XT_used = store.used_arrays
    order = kernels.by_position(seg_lo + p0)
    m, ssr, est_pos = kernels.residual_moments(
        y_used, XT_used, w_used, seg_lo + p0 + estimation[0], seg_lo, seg_lo + length,
        estimation[1] - estimation[0] + 1, theta, spec.fixed, order)
    fit_ok &= m > (1 if spec.fixed else spec.k)
    dof = (m - k_eff).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma2 = np.where(dof > 0, ssr / dof, np.nan)
    replicated = np.isfinite(sigma2) & (sigma2 > 0) & (sigma2 <= SIGMA_FLOOR**2)
    ok = fit_ok & (m >= min_obs) & np.isfinite(sigma2) & (sigma2 > SIGMA_FLOOR**2)
    reason = out["reason"]
    reason[:] = ""
    few = ~ok & (m < min_obs)
    if few.any():
        reason[few] = [f"{int(v)} estimation returns, fewer than min-obs {min_obs}" for v in m[few]]
    other = ~ok & (m >= min_obs)
    reason[other] = "estimation regressors are singular or the residual variance is zero"
    reason[other & fit_ok & replicated] = REPLICATED_REASON
    out["m"][:], out["est_pos"][:], out["dof"][:], out["sigma2"][:], out["ok"][:] = m, est_pos, dof, sigma2, ok

    # --- event period: one compiled pass from the store to the window sums -----------------
    _windows_into(store, sec, p0, theta, days, windows, sigma2, xtx_inv, ok, out, order)


def tail_returns(store: ReturnStore, sec: np.ndarray, p0: np.ndarray, hi: int, theta: np.ndarray) -> dict:
    """The tail return of N firm-events whose event period ends on relative day ``hi``: the first
    return after day hi when its coverage [d - span + 1, d] reaches back to day hi or before
    (the return at resumption of a suspension that runs past the event period), as the
    ``tail_*`` fields of :class:`EngineResult` (:func:`analysis.estimation.kernels.tail_rows`)."""
    N, p = len(sec), store.X.shape[1]
    out = {"tail_day": np.empty(N, np.int64), "tail_valid": np.empty(N, bool), "tail_span": np.empty(N, np.int64),
           "tail_ar": np.empty(N), "tail_ret": np.empty(N), "tail_normal": np.empty(N), "tail_Xv": np.empty((N, p))}
    seg_lo = store.start[sec]
    kernels.tail_rows(seg_lo + p0 + hi, seg_lo, seg_lo + store.length[sec], np.array([hi]), store.y, store.XT,
                      store.offset, store.span, store.next_return, np.ascontiguousarray(theta, dtype=float),
                      *out.values())
    return out


def cumulate(res: "EngineResult", windows) -> dict[str, np.ndarray]:
    """CAR, se, t, BHAR and coverage for each window (N, W), in one compiled pass from the
    store (:func:`analysis.estimation.kernels.event_windows`); ``car_p`` None (the result
    computes it from car_t on first read).

    A return enters window [a, b] when its coverage [d - span + 1, d] meets [a, b] (the tail
    return too, wherever its day lies). Var(CAR) = sigma^2 (L + g'(X'X)^-1 g), L = sessions covered, g = summed regressor rows.
    """
    for a, b in windows:  # the event period holds only these days
        if a < res.days[0] or b > res.days[-1]:
            raise ValueError(f"window {a}:{b} is outside the engine's event period {res.days[0]}:{res.days[-1]}")
    out = _allocate_windows(len(res.sec), len(windows))
    _windows_into(res.store, res.sec, res.p0, res.theta, res.days, windows, res.sigma2, res.xtx_inv, res.ok, out)
    return {**{k: out[k] for k in WINDOW_ARRAYS}, "car_p": None}


def _windows_into(store, sec, p0, theta, days, windows, sigma2, xtx_inv, ok, out, order=None) -> None:
    """Fill the :data:`WINDOW_ARRAYS` of ``out`` ((N, W) arrays, any contents) for ``windows``:
    the firm-events' rows over ``days`` (consecutive relative days) from the store, and their tail,
    in one compiled pass (:func:`analysis.estimation.kernels.event_windows`; NaN CARs where not ``ok``).
    ``order``: the firm-events' order by store position (default :func:`~analysis.estimation.kernels.by_position`)."""
    lo = np.array([w[0] for w in windows], dtype=np.int64)
    hi = np.array([w[1] for w in windows], dtype=np.int64)
    seg_lo = store.start[sec]
    days = np.asarray(days, dtype=np.int64)
    base = seg_lo + p0 + days[0]
    if order is None:
        order = kernels.by_position(base)
    # xtx_inv is 0 for the market-adjusted model: no estimation error
    kernels.event_windows(store.y, store.XT, store.offset, store.span, store.next_return, base,
                          seg_lo, seg_lo + store.length[sec], theta, days, lo, hi, sigma2, xtx_inv, ok, order,
                          *(out[k] for k in WINDOW_ARRAYS))


def path_windows(start: int, end: int, anchor: int | None = None):
    """The windows whose CARs make a CAR path over days start..end: (taus, windows, col, sign),
    path value on day taus[k] = sign[k] * CAR[windows[col[k]]] (0 where col[k] < 0).

    anchor None: CAR[start, tau], cumulated from the first day. anchor a: the path from the
    close of day a, as a price indexed to that close: tau > a: CAR[a + 1, tau]; tau < a:
    -CAR[tau + 1, a] (what the days after tau up to a added, taken back); tau = a: 0.
    """
    taus = np.arange(start, end + 1)
    if anchor is None:
        return taus, [(start, int(t)) for t in taus], np.arange(len(taus)), np.ones(len(taus))
    windows, col, sign = [], np.full(len(taus), -1), np.zeros(len(taus))
    for k, t in enumerate(int(t) for t in taus):
        if t == anchor:
            continue
        windows.append((anchor + 1, t) if t > anchor else (t + 1, anchor))
        col[k], sign[k] = len(windows) - 1, 1.0 if t > anchor else -1.0
    return taus, windows, col, sign


def on_path(values: np.ndarray, col: np.ndarray, sign: np.ndarray) -> np.ndarray:
    """(..., W) window values laid on a path of :func:`path_windows` (..., T): sign * value,
    0 at the anchor (use ``abs(sign)`` for a standard error)."""
    values = np.asarray(values, dtype=float)
    if values.shape[-1] == 0:
        return np.zeros(values.shape[:-1] + (len(col),))
    return np.where(col >= 0, sign * values[..., np.maximum(col, 0)], 0.0)


def car_path(res: "EngineResult", start: int, end: int,
             anchor: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CAR path and its se for tau = start..end: (taus, car (N, T), se (N, T)), decimals.
    anchor None: CAR[start, tau]; anchor a: from the close of day a (:func:`path_windows`)."""
    taus, windows, col, sign = path_windows(start, end, anchor)
    c = cumulate(res, windows) if windows else {"car": np.zeros((res.ar.shape[0], 0)),
                                                "car_se": np.zeros((res.ar.shape[0], 0))}
    car, se = on_path(c["car"], col, sign), on_path(c["car_se"], col, np.abs(sign))
    if anchor is not None:  # a firm without a fit has no path, not a zero at the anchor
        car[~res.ok], se[~res.ok] = np.nan, np.nan
    return taus, car, se
