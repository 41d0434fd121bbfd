"""The event-time portfolio test and the sample-quantile test, for cells of a few firms.

``portfolio`` -- equal-weighted portfolio in event time (Jaffe 1974; Mandelker 1974; Sefcik &
    Thompson 1986; Campbell, Lo & MacKinlay 1997, sec. 4.4.5). For a cell (event, group,
    window) with firms i = 1..N, on each relative day tau (each firm's own sessions):

        R_p,tau = mean of R_i,tau over the firms that have a return and a benchmark that day
        x_p,tau = mean of the same firms' regressor rows x_i,tau (market model: [1, Rm_i,tau])

    On estimation days a firm counts when its own fit uses the day (clean estimation days:
    a missing return or one spanning a suspension does not count); a day enters the
    portfolio's fit when at least one firm counts. In the event period a return spanning n
    sessions (the first after a suspension) is spread evenly: R/n and x/n on each session it
    spans (the return at resumption after the event period too, on the sessions of the event
    period it spans), so every session of the window has a portfolio return. The run's model is fitted
    by OLS on the portfolio's M_p estimation days, and then, exactly as for one firm
    (MacKinlay 1997, eq. 4.4 ff.; :mod:`analysis.estimation.engine`):

        AR_p,tau = R_p,tau - x_p,tau' theta_p,   CAR_p = sum_{tau=a..b} AR_p,tau
        Var(CAR_p) = sigma_p^2 (L + g' (X_p'X_p)^-1 g),  g = sum_{tau=a..b} x_p,tau,  L = b - a + 1
        t = CAR_p / se(CAR_p);  two-sided p from Student t(M_p - k)  (k = 2 for the market model)

    The portfolio's residual variance absorbs the firms' cross-correlation, so the test
    needs no assumption about it; it applies for N >= 1 (for one firm without a suspension in
    the window it is that firm's own t-test). One portfolio is formed for every distinct set of
    cell firms (windows and groups with the same firms share one). Two compiled passes
    (:mod:`analysis.inference.portfolio_kernel`), no return store and no engine run: one over
    each portfolio's members builds its series R_p, x_p and X_p'X_p, X_p'y_p; the fit
    theta_p = (X_p'X_p)^-1 X_p'y_p is the engine's (a singular X_p'X_p leaves the portfolio
    without a fit; the market-adjusted model fits nothing); one over the series gives the
    residuals, sigma_p^2 = SSR / (M_p - k), and each window's CAR_p and Var(CAR_p). A
    portfolio needs M_p >= k + 2 and sigma_p above the engine's floor. Rows of
    ``tests.csv`` also get estimate = CAR_p, se, dof = M_p - k, the 95% interval
    estimate +- t(0.975, dof) se and mde = (t(0.975, dof) + t(0.80, dof)) se, the smallest
    true CAR the test detects with 80% power at 5% (two-sided).

``sq`` -- the sample-quantile test (Gelbach, Helland & Klick 2013, "Valid inference in
    single-firm, single-event studies", American Law and Economics Review 15:495-541). With
    e_1..e_M the estimation residuals in event-time order (gaps ignored) and L the window
    length, the J = M - L + 1 sums S_j = e_j + ... + e_{j+L-1} of L consecutive residuals are
    the null law of a window's CAR:

        lower = (1 + #{S_j <= CAR}) / (J + 1),  upper = (1 + #{S_j >= CAR}) / (J + 1)
        p = min(1, 2 min(lower, upper))

    It assumes nothing about the residuals' shape (fat tails included). ``tests.csv`` row
    ``sq``: the portfolio's residuals and CAR_p (statistic = CAR_p); ``car.csv`` column
    ``sq_p``: each firm's own residuals and CAR, L = the sessions the CAR covers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analysis.estimation import engine, kernels
from analysis.estimation.engine import EngineResult
from analysis.estimation.pvalues import t_p_value, t_quantile
from analysis.inference import cell_kernels, portfolio_kernel
from analysis.inference.registry import CellTest, TestOutcome, register

#: Portfolios per pass (bounds memory: a few arrays of (portfolios of the chunk, ~270 days, p)).
CHUNK = 2048
#: Portfolios from which a run is split over threads.
THREADED_SETS = 256
#: Firm-events (members) from which :func:`firm_sq_p`'s windows, and a run of fewer portfolios, run on threads.
THREADED_FIRM_EVENTS = 20_000


@dataclass(frozen=True)
class PortfolioRun:
    """The portfolios of a set of cells, one row per distinct firm set, one column per window."""

    windows: list[tuple[int, int]]
    car: np.ndarray  # (U, W) CAR_p (NaN where the portfolio has no fit)
    car_se: np.ndarray  # (U, W) se(CAR_p) with estimation error
    car_t: np.ndarray  # (U, W)
    car_p: np.ndarray  # (U, W) two-sided, Student t(M_p - k)
    dof: np.ndarray  # (U,) M_p - k (M_p - 1 for market-adjusted)
    ok: np.ndarray  # (U,) fit usable
    sq_p: np.ndarray  # (U, W) sample-quantile p of CAR_p against the portfolio's residuals
    of_cell: np.ndarray  # (C,) portfolio (row) of each cell
    n_firms: np.ndarray  # (U,) firms in each portfolio


def _member_arrays(res: EngineResult) -> dict:
    """The per-firm-event and store arrays :func:`portfolio_kernel.portfolio_series` reads."""
    store = res.store
    seg_lo = store.start[res.sec]
    e0 = res.estimation[0]
    N, p = len(res.sec), res.Xv.shape[2]
    if res.tail_valid is None:
        tail = {"tail_valid": np.zeros(N, bool), "tail_span": np.zeros(N, np.int64),
                "tail_first": np.zeros(N, np.int64), "tail_flat": np.zeros(N, np.int64), "tail_Xv": np.zeros((N, p))}
    else:
        tv = res.tail_valid
        tail = {"tail_valid": tv, "tail_span": res.tail_span.astype(np.int64),
                "tail_first": (res.tail_day - res.tail_span + 1 - res.days[0]).astype(np.int64),
                "tail_flat": np.where(tv, seg_lo + res.p0 + res.tail_day, 0).astype(np.int64),
                "tail_Xv": np.ascontiguousarray(res.tail_Xv, dtype=float)}
    w, yu, XTu = store.used_arrays
    return {"w": w, "yu": yu, "XTu": XTu, "is_const": np.array([r == "const" for r in store.spec.regressors]),
            "est_base": (seg_lo + res.p0 + e0).astype(np.int64), "seg_lo": seg_lo.astype(np.int64),
            "seg_hi": (seg_lo + store.length[res.sec]).astype(np.int64),
            "e_len": int(res.estimation[1] - e0 + 1), "ev_at": int(res.days[0] - e0),
            "valid": res.valid, "span": res.span.astype(np.int64), "y": np.ascontiguousarray(store.y),
            "ev_base": res.window.base.astype(np.int64),
            "Xv": res.Xv, **tail}


def _fit(xtx: np.ndarray, xty: np.ndarray, spec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(theta, (X'X)^-1, fit_ok) of U portfolios from their X'X (U, p, p) and X'y (U, p), as
    the engine fits a firm (:func:`analysis.estimation.engine.ols_from_moments`); the
    market-adjusted model estimates nothing (theta = 1, no estimation error)."""
    U, p = xty.shape
    if spec.fixed:
        return np.ones((U, p)), np.zeros((U, p, p)), np.ones(U, dtype=bool)
    return engine.ols_from_moments(xtx, xty)


def _run_chunk(arrays: dict, ptr: np.ndarray, members: np.ndarray, spec, estimation, windows, T: int) -> dict:
    """The portfolio statistics of the firm sets ``members[ptr[u]:ptr[u + 1]]`` (module doc)."""
    nu, p = len(ptr) - 1, arrays["XTu"].shape[0]
    ok_t = np.zeros((nu, T), dtype=bool)
    yp, Xp = np.empty((nu, T)), np.empty((nu, p, T))
    xtx, xty = np.empty((nu, p, p)), np.empty((nu, p))
    portfolio_kernel.portfolio_series(ptr, members, **arrays, ok=ok_t, yp=yp, Xp=Xp, xtx=xtx, xty=xty)
    theta, xtx_inv, fit_ok = _fit(xtx, xty, spec)
    W, Le = len(windows), arrays["e_len"]
    m, ssr = np.zeros(nu, dtype=np.int64), np.zeros(nu)
    est_res = np.empty((nu, Le))
    car, core = np.empty((nu, W)), np.empty((nu, W))
    lo = np.array([w[0] for w in windows], dtype=np.int64)
    hi = np.array([w[1] for w in windows], dtype=np.int64)
    portfolio_kernel.portfolio_fit_pass(ok_t, yp, Xp, arrays["is_const"], theta, xtx_inv, Le, int(estimation[0]),
                                        lo, hi, spec.fixed, m, ssr, est_res, car, core)
    k_eff = 1 if spec.fixed else spec.k
    fit_ok &= m > k_eff
    dof = (m - k_eff).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma2 = np.where(dof > 0, ssr / dof, np.nan)
        ok = fit_ok & (m >= spec.k + 2) & np.isfinite(sigma2) & (sigma2 > engine.SIGMA_FLOOR**2)
        car_se = np.sqrt(sigma2[:, None] * core)
        car_t = car / car_se
    car_p = t_p_value(car_t, dof[:, None], threads=1)
    out = {"car": car, "car_se": car_se, "car_t": car_t, "car_p": car_p}
    for v in out.values():
        v[~ok] = np.nan
    L = np.tile(hi - lo + 1, nu)
    out["sq_p"] = sample_quantile_p(est_res, car.ravel(), L, rows=np.repeat(np.arange(nu), W)).reshape(nu, W)
    return out | {"dof": dof, "ok": ok}


def portfolios(res: EngineResult, rows: np.ndarray, cell: np.ndarray, n_cells: int,
               windows=None) -> PortfolioRun:
    """Event-time portfolios of cells (membership pairs: firm-event ``rows[k]`` of ``res`` is
    in cell ``cell[k]``), fitted and cumulated over ``windows`` (default the result's windows)
    by the compiled passes of :mod:`analysis.inference.portfolio_kernel`. Cells with the same
    firms share one portfolio."""
    rows = np.asarray(rows, dtype=np.int64)
    cell = np.asarray(cell, dtype=np.int64)
    windows = list(res.windows) if windows is None else [tuple(int(v) for v in w) for w in windows]
    # cells with the same firms share a portfolio; firm-events that repeat one fit (the
    # pseudo-events of several events on one date, EngineResult.expanded) are the same firm
    of_cell, first = cell_kernels.fit_sets(rows, cell, n_cells, None if res.source is None else res.source[1])
    U = len(first)
    # members of each distinct set: those of its first cell, in firm-event order
    rep = np.full(n_cells, -1, dtype=np.int64)
    rep[first] = np.arange(U)
    take = rep[cell] >= 0
    prow, pidx = rows[take], rep[cell[take]]
    order = np.lexsort((prow, pidx))
    prow, pidx = prow[order], pidx[order]
    n_firms = np.bincount(pidx, minlength=U)
    ptr = np.concatenate([[0], np.cumsum(n_firms)]).astype(np.int64)
    arrays = _member_arrays(res)
    T = int(res.days[-1] - res.estimation[0] + 1)
    # chunks of sets, on up to two threads (the compiled passes and numpy release the GIL)
    n_threads = kernels.thread_count() if U >= THREADED_SETS or len(prow) >= THREADED_FIRM_EVENTS else 1
    size = max(1, min(CHUNK, -(-U // n_threads)))

    def part(u0: int) -> dict:
        u1 = min(U, u0 + size)
        return _run_chunk(arrays, ptr[u0:u1 + 1] - ptr[u0], prow[ptr[u0]:ptr[u1]], res.store.spec, res.estimation,
                          windows, T)

    starts = range(0, max(U, 1), size)  # no cells: one empty chunk
    parts = kernels.map_on_threads(part, starts, n_threads)
    joined = {k: np.concatenate([q[k] for q in parts]) for k in parts[0]}
    return PortfolioRun(windows=windows, of_cell=of_cell, n_firms=n_firms, **joined)


def sample_quantile_p(est_ar: np.ndarray, car: np.ndarray, length, rows=None) -> np.ndarray:
    """Two-sided sample-quantile p-values (Gelbach, Helland & Klick 2013), one per CAR.

    est_ar: (n, Le) estimation residuals in event-time order (NaN = unused, skipped);
    car: (q,) CARs; length: (q,) or scalar L, the window length in sessions; rows: (q,) the
    row of ``est_ar`` each CAR is tested against (default: row k for CAR k, q = n).
    NaN where the CAR is not finite or fewer than L residuals exist (J < 1).
    """
    return _sq_p(_sq_sums(est_ar), car, length, rows)


def _sq_sums(est_ar: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cs, M) of :func:`_sq_prefix`: each row's running sums of its finite residuals, their number."""
    est_ar = np.asarray(est_ar, dtype=float)
    n, Le = est_ar.shape
    cs = np.empty((n, Le + 1))
    M = np.empty(n, dtype=np.int64)
    _sq_prefix(est_ar, cs, M)
    return cs, M


def _sq_p(sums: tuple[np.ndarray, np.ndarray], car: np.ndarray, length, rows=None) -> np.ndarray:
    """:func:`sample_quantile_p` from the rows' running sums (:func:`_sq_sums`)."""
    cs, M = sums
    car = np.asarray(car, dtype=float)
    q = len(car)
    rows = np.arange(q) if rows is None else np.asarray(rows, dtype=np.int64)
    L = np.broadcast_to(np.asarray(length, dtype=np.int64), (q,))
    M = M[rows]
    J = np.maximum(M - L + 1, 0)
    lower = np.zeros(q, dtype=np.int64)
    upper = np.zeros(q, dtype=np.int64)
    if q:  # the L-day sums cs[j + L] - cs[j], j < J, counted <= and >= each CAR (one compiled pass)
        _sq_counts(cs, rows, np.ascontiguousarray(car), np.ascontiguousarray(L), J.astype(np.int64), lower, upper)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.minimum(1.0, 2 * np.minimum((1 + lower) / (J + 1), (1 + upper) / (J + 1)))
    return np.where((J >= 1) & (L >= 1) & np.isfinite(car), p, np.nan)


@kernels._compiled()
def _sq_prefix(est_ar, cs, M):
    """cs[i] = 0, then the running sums of row i's finite residuals in order (constant after the
    last); M[i] = their number: S_j = cs[i, j + L] - cs[i, j] for j < M[i] - L + 1."""
    n, Le = est_ar.shape
    for i in range(n):
        acc = 0.0
        m = 0
        cs[i, 0] = 0.0
        for t in range(Le):
            v = est_ar[i, t]
            if math.isfinite(v):
                acc += v
                m += 1
                cs[i, m] = acc
        for t in range(m + 1, Le + 1):
            cs[i, t] = acc
        M[i] = m


@kernels._compiled()
def _sq_counts(cs, rows, car, L, J, lower, upper):
    """lower[k], upper[k] = #{j < J[k] : S_j <= car[k]}, #{j < J[k] : S_j >= car[k]} with
    S_j = cs[rows[k], j + L[k]] - cs[rows[k], j] (sums of L[k] consecutive residuals)."""
    for k in range(car.shape[0]):
        x = car[k]
        if L[k] < 1 or not math.isfinite(x):
            continue
        c = cs[rows[k]]
        Lk = L[k]
        lo = 0
        up = 0
        for j in range(J[k]):
            v = c[j + Lk] - c[j]
            lo += v <= x
            up += v >= x
        lower[k] = lo
        upper[k] = up


def firm_sq_p(res: EngineResult) -> np.ndarray:
    """(R, W) each firm-event's sample-quantile p for each window: its own estimation
    residuals, its CAR and L = the sessions the CAR covers (``car.csv`` column ``sq_p``)."""
    R, W = res.car.shape
    out = np.full((R, W), np.nan)
    if R == 0:
        return out
    sums = _sq_sums(res.est_ar)  # shared by the windows, each on a thread (compiled, no GIL)

    def window(j: int) -> None:
        out[:, j] = _sq_p(sums, res.car[:, j], np.maximum(res.n_sessions[:, j], 1))

    kernels.map_on_threads(window, range(W), None if R >= THREADED_FIRM_EVENTS else 1)
    out[~res.ok] = np.nan
    return out


def _portfolio_results(cells) -> dict[str, np.ndarray]:
    """The portfolio of every cell, fitted once per :class:`Cells`: per-cell CAR_p, se, t, p,
    dof and the sample-quantile p."""
    cache = cells.__dict__.setdefault("_portfolio_results", {})
    if cache:
        return cache
    C = cells.n_cells
    nan = np.full(C, np.nan)
    out = {k: nan.copy() for k in ("car", "se", "t", "p", "dof", "sq_p")}
    if C and len(cells.rows):
        run = portfolios(cells.result, cells.rows, cells.cell, C)
        u, j = run.of_cell, cells.cell_window
        for key, name in (("car", "car"), ("se", "car_se"), ("t", "car_t"), ("p", "car_p"), ("sq_p", "sq_p")):
            out[key] = getattr(run, name)[u, j]
        out["dof"] = np.where(run.ok[u], run.dof[u], np.nan)
    cache.update(out)
    return cache


def portfolio_path(res: EngineResult, rows, start: int, end: int, level: float = 0.95,
                   anchor: int | None = None) -> dict[str, np.ndarray]:
    """The CAR path of the equal-weighted portfolio of firm-events ``rows`` of ``res``, with
    its interval, for tau = start..end (decimals). anchor None: CAR_p[start, tau]; anchor a:
    from the close of day a (:func:`analysis.estimation.engine.path_windows`: CAR_p[a + 1, tau]
    after a, -CAR_p[tau + 1, a] before it, 0 at a), so the value on day b > a is the portfolio
    test's CAR_p over a+1:b. se = sqrt(Var(CAR_p)) of the same span with estimation error
    (module doc); lo/hi = value -+ t((1 + level)/2, M_p - k) se. Returns day, n (firms), car,
    se, lo, hi (arrays over tau; NaN where the portfolio has no fit). For figures' bands:
    never mean +- 1.96 sd / sqrt(N)."""
    rows = np.asarray(rows, dtype=np.int64)
    taus, windows, col, sign = engine.path_windows(start, end, anchor)
    nan = np.full(len(taus), np.nan)
    if len(rows) == 0:
        return {"day": taus, "n": np.zeros(len(taus)), "car": nan, "se": nan, "lo": nan, "hi": nan}
    run = portfolios(res, rows, np.zeros(len(rows), dtype=np.int64), 1, windows=windows or [(start, start)])
    car = np.where(run.ok[0], engine.on_path(run.car[0], col, sign), np.nan)
    se = np.where(run.ok[0], engine.on_path(run.car_se[0], col, np.abs(sign)), np.nan)
    iv = interval(car, se, np.full(len(taus), run.dof[0]), level=level)
    return {"day": taus, "n": np.full(len(taus), float(len(rows))), "car": car, "se": se,
            "lo": iv["ci_low"], "hi": iv["ci_high"]}


def interval(estimate, se, dof, level: float = 0.95, power: float = 0.80) -> dict[str, np.ndarray]:
    """ci_low, ci_high = estimate -+ t(1 - (1 - level)/2, dof) se; mde = (t(1 - (1 - level)/2,
    dof) + t(power, dof)) se, the smallest true effect a two-sided test at 1 - level detects
    with probability ``power`` (Bloom 1995, "Minimum detectable effects")."""
    estimate, se, dof = (np.asarray(a, dtype=float) for a in (estimate, se, dof))
    good = np.isfinite(dof) & (dof > 0)
    d = np.where(good, dof, 1.0)
    # the quantiles of each distinct d.f. once (cells share a handful of d.f.)
    ud, inv = np.unique(d, return_inverse=True)
    inv = inv.reshape(d.shape)
    q = np.where(good, t_quantile(1 - (1 - level) / 2, ud)[inv], np.nan)
    qp = np.where(good, t_quantile(power, ud)[inv], np.nan)
    return {"ci_low": estimate - q * se, "ci_high": estimate + q * se, "mde": (q + qp) * se}


@register
class Portfolio(CellTest):
    """Equal-weighted event-time portfolio t-test (module doc): t = CAR_p / se(CAR_p), se with
    the portfolio's estimation error (MacKinlay 1997); Student t(M_p - k). Jaffe (1974),
    Mandelker (1974), Sefcik & Thompson (1986), Campbell, Lo & MacKinlay (1997) sec. 4.4.5."""

    name = "portfolio"
    null = "the equal-weighted portfolio's CAR is zero (variance from the portfolio's own estimation-window abnormal returns)"
    label = "Portfolio t"
    description = "equal-weighted event-time portfolio t-test (Jaffe 1974; Mandelker 1974)"
    words = "portfolio test"
    plain = ("treats the group as one equal-weighted portfolio and compares its CAR with the portfolio's own "
             "day-to-day swings before the event; valid for a few correlated firms")
    reference = "Jaffe (1974); Mandelker (1974); Sefcik & Thompson (1986); Campbell, Lo & MacKinlay (1997), sec. 4.4.5"
    distribution = "t(M_p-k)"
    min_n = 1

    def compute(self, cells) -> TestOutcome:
        r = _portfolio_results(cells)
        extra = {"estimate": r["car"], "se": r["se"], **interval(r["car"], r["se"], r["dof"]), "dof": r["dof"]}
        extra = {k: extra[k] for k in ("estimate", "se", "ci_low", "ci_high", "mde", "dof")}
        return TestOutcome(r["t"], r["p"], extra=extra)


@register
class SampleQuantile(CellTest):
    """Sample-quantile test of the portfolio's CAR against the sums of L consecutive
    estimation residuals of the portfolio (module doc); statistic = CAR_p (decimal).
    Gelbach, Helland & Klick (2013)."""

    name = "sq"
    null = "the portfolio's CAR is a draw from the law of its estimation-window sums of as many consecutive abnormal returns"
    label = "SQ (CAR_p)"
    description = "sample-quantile test of the portfolio CAR (Gelbach, Helland & Klick 2013)"
    words = "sample-quantile test"
    plain = ("ranks the portfolio's CAR among the sums of as many consecutive pre-event days of its abnormal "
             "returns; assumes nothing about their shape")
    reference = "Gelbach, Helland & Klick (2013)"
    distribution = "estimation-window L-day sums"
    min_n = 1

    def compute(self, cells) -> TestOutcome:
        r = _portfolio_results(cells)
        return TestOutcome(r["car"], r["sq_p"])
