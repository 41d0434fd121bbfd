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
    spans, so every session of the window has a portfolio return. The run's model is fitted
    by OLS on the portfolio's M_p estimation days, and then, exactly as for one firm
    (MacKinlay 1997, eq. 4.4 ff.; :mod:`analysis.estimation.engine`):

        AR_p,tau = R_p,tau - x_p,tau' theta_p,   CAR_p = sum_{tau=a..b} AR_p,tau
        Var(CAR_p) = sigma_p^2 (L + g' (X_p'X_p)^-1 g),  g = sum_{tau=a..b} x_p,tau,  L = b - a + 1
        t = CAR_p / se(CAR_p);  two-sided p from Student t(M_p - k)  (k = 2 for the market model)

    The portfolio's residual variance absorbs the firms' cross-correlation, so the test
    needs no assumption about it; it applies for N >= 1 (for one firm without a suspension in
    the window it is that firm's own t-test). The portfolio is built for every distinct set of
    cell firms (windows with the same firms share one), and all portfolios go through the
    engine in one batched run (one "security" per portfolio, in event time). Rows of
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
from analysis.estimation.store import ReturnStore
from analysis.inference.registry import CellTest, TestOutcome, register

#: Portfolios per batched engine run (bounds memory: a few arrays of (firms of the chunk, ~270 days)).
CHUNK = 2048


@dataclass(frozen=True)
class PortfolioRun:
    """The portfolios of a set of cells: one engine result, one row per distinct firm set."""

    result: EngineResult  # the engine result of the portfolio store (windows = the cells' windows)
    of_cell: np.ndarray  # (C,) portfolio (row of ``result``) of each cell
    n_firms: np.ndarray  # (U,) firms in each portfolio


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


def _cell_sets(rows: np.ndarray, cell: np.ndarray, n_cells: int) -> tuple[np.ndarray, np.ndarray]:
    """(C,) index of each cell's firm set among the distinct sets, and (U,) one cell per set.

    A set is identified by the sum of a random 64-bit key per firm-event (wrapping) and its
    size: two different sets share an identifier with probability about 2^-64."""
    rng = np.random.default_rng(0)
    key = rng.integers(0, 2**63 - 1, size=int(rows.max()) + 1 if len(rows) else 1, dtype=np.int64).view(np.uint64)
    h = np.zeros(n_cells, dtype=np.uint64)
    np.add.at(h, cell, key[rows])
    n = np.bincount(cell, minlength=n_cells).astype(np.uint64)
    ident = np.stack([h, n], axis=1)
    _, first, of_cell = np.unique(ident, axis=0, return_index=True, return_inverse=True)
    # number the sets in the order of their first cell (cells are in event order), so a
    # chunk of sets holds the firm-events of a few events only
    order = np.argsort(first, kind="stable")
    rank = np.empty(len(first), dtype=np.int64)
    rank[order] = np.arange(len(first))
    return rank[of_cell.ravel()], first[order]


def portfolios(res: EngineResult, rows: np.ndarray, cell: np.ndarray, n_cells: int,
               windows=None) -> PortfolioRun:
    """Event-time portfolios of cells (membership pairs: firm-event ``rows[k]`` of ``res`` is
    in cell ``cell[k]``), fitted and cumulated by the engine over ``windows`` (default the
    result's windows). Cells with the same firms share one portfolio."""
    rows = np.asarray(rows, dtype=np.int64)
    cell = np.asarray(cell, dtype=np.int64)
    windows = list(res.windows) if windows is None else [tuple(w) for w in windows]
    of_cell, first = _cell_sets(rows, cell, n_cells)
    U = len(first)
    # members of each distinct set: those of its first cell
    rep = np.full(n_cells, -1, dtype=np.int64)
    rep[first] = np.arange(U)
    take = rep[cell] >= 0
    prow, pidx = rows[take], rep[cell[take]]
    n_firms = np.bincount(pidx, minlength=U)
    parts = []
    order = np.argsort(pidx, kind="stable")
    prow, pidx = prow[order], pidx[order]
    bnd = np.searchsorted(pidx, np.arange(0, U + CHUNK, CHUNK).clip(max=U))
    k_min = res.store.spec.k + 2
    for c in range(len(bnd) - 1):
        lo, hi = bnd[c], bnd[c + 1]
        u0 = c * CHUNK
        nu = min(U, u0 + CHUNK) - u0
        if nu <= 0:
            continue
        pstore, p0 = _portfolio_store(res, prow[lo:hi], pidx[lo:hi] - u0, nu)
        part = engine.run(pstore, np.arange(nu), np.full(nu, p0), res.estimation, windows, k_min)
        if len(bnd) > 2:  # keep only what the tests read: a chunk's store and event arrays go
            part = {n: getattr(part, n) for n in _KEPT} | {"est_ar": part.est_ar, "_first": part if not parts else None}
        parts.append(part)
    result = parts[0] if len(parts) == 1 else _concat(parts)
    return PortfolioRun(result=result, of_cell=of_cell, n_firms=n_firms)


#: The arrays of a chunk's engine result the tests read.
_KEPT = ("car", "car_se", "car_t", "car_p", "dof", "ok", "m", "sigma2")


def _concat(parts: list[dict]) -> EngineResult:
    """The arrays the tests read, joined over chunks (their est_ar is joined eagerly); the
    other fields are the first chunk's."""
    import dataclasses

    joined = {n: np.concatenate([p[n] for p in parts]) for n in _KEPT}
    out = dataclasses.replace(parts[0]["_first"], **joined)
    out.__dict__.setdefault("_cache", {})["est_ar"] = np.concatenate([p["est_ar"] for p in parts])
    return out


def sample_quantile_p(est_ar: np.ndarray, car: np.ndarray, length, rows=None) -> np.ndarray:
    """Two-sided sample-quantile p-values (Gelbach, Helland & Klick 2013), one per CAR.

    est_ar: (n, Le) estimation residuals in event-time order (NaN = unused, skipped);
    car: (q,) CARs; length: (q,) or scalar L, the window length in sessions; rows: (q,) the
    row of ``est_ar`` each CAR is tested against (default: row k for CAR k, q = n).
    NaN where the CAR is not finite or fewer than L residuals exist (J < 1).
    """
    est_ar = np.asarray(est_ar, dtype=float)
    n, Le = est_ar.shape
    car = np.asarray(car, dtype=float)
    q = len(car)
    rows = np.arange(q) if rows is None else np.asarray(rows, dtype=np.int64)
    L = np.broadcast_to(np.asarray(length, dtype=np.int64), (q,))
    fin = np.isfinite(est_ar)
    order = np.argsort(~fin, axis=1, kind="stable")  # used residuals first, in event-time order
    vals = np.take_along_axis(np.where(fin, est_ar, 0.0), order, axis=1)
    M = fin.sum(axis=1)[rows]
    cs = np.concatenate([np.zeros((n, 1)), np.cumsum(vals, axis=1)], axis=1)
    J = np.maximum(M - L + 1, 0)
    lower = np.zeros(q, dtype=np.int64)
    upper = np.zeros(q, dtype=np.int64)
    if q:  # the L-day sums cs[j + L] - cs[j], j < J, counted <= and >= each CAR (one compiled pass)
        _sq_counts(cs, rows, np.ascontiguousarray(car), np.ascontiguousarray(L), J.astype(np.int64), lower, upper)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.minimum(1.0, 2 * np.minimum((1 + lower) / (J + 1), (1 + upper) / (J + 1)))
    return np.where((J >= 1) & (L >= 1) & np.isfinite(car), p, np.nan)


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
    est = res.est_ar
    for j in range(W):
        out[:, j] = sample_quantile_p(est, res.car[:, j], np.maximum(res.n_sessions[:, j], 1))
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
        r, u, j = run.result, run.of_cell, cells.cell_window
        ok = r.ok[u]
        out["car"] = np.where(ok, r.car[u, j], np.nan)
        out["se"] = np.where(ok, r.car_se[u, j], np.nan)
        out["t"] = np.where(ok, r.car_t[u, j], np.nan)
        out["p"] = np.where(ok, r.car_p[u, j], np.nan)
        out["dof"] = np.where(ok, r.dof[u], np.nan)
        wins = np.asarray(r.windows)
        L = wins[j, 1] - wins[j, 0] + 1
        out["sq_p"] = sample_quantile_p(r.est_ar, out["car"], L, rows=u)
        cache["run"] = run
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
    r = run.result
    car = np.where(r.ok[0], engine.on_path(r.car[0], col, sign), np.nan)
    se = np.where(r.ok[0], engine.on_path(r.car_se[0], col, np.abs(sign)), np.nan)
    iv = interval(car, se, np.full(len(taus), r.dof[0]), level=level)
    return {"day": taus, "n": np.full(len(taus), float(len(rows))), "car": car, "se": se,
            "lo": iv["ci_low"], "hi": iv["ci_high"]}


def interval(estimate, se, dof, level: float = 0.95, power: float = 0.80) -> dict[str, np.ndarray]:
    """ci_low, ci_high = estimate -+ t(1 - (1 - level)/2, dof) se; mde = (t(1 - (1 - level)/2,
    dof) + t(power, dof)) se, the smallest true effect a two-sided test at 1 - level detects
    with probability ``power`` (Bloom 1995, "Minimum detectable effects")."""
    from scipy import stats  # deferred: keeps `import analysis.study` light

    estimate, se, dof = (np.asarray(a, dtype=float) for a in (estimate, se, dof))
    good = np.isfinite(dof) & (dof > 0)
    d = np.where(good, dof, 1.0)
    # the quantiles of each distinct d.f. once (cells share a handful of d.f.)
    ud, inv = np.unique(d, return_inverse=True)
    inv = inv.reshape(d.shape)
    q = np.where(good, stats.t.ppf(1 - (1 - level) / 2, ud)[inv], np.nan)
    qp = np.where(good, stats.t.ppf(power, ud)[inv], np.nan)
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
