"""Pooled answers across events: one estimate per (group, window) over the events of the run.

Each event e contributes its cell's portfolio CAR_e (decimal return over the window) and its
standard error se_e, as the portfolio test computes them. Events fall on different dates, so
their CARs are taken as independent: event-induced variance and the firms' correlation within
an event are absorbed by the cross-event dispersion. With E the number of events used:

- ``pooled_mean``  estimate = mean(CAR_e); se = sd(CAR_e, ddof 1) / sqrt(E); t = estimate / se;
                   two-sided Student t(E - 1); CI = estimate +- t_{E-1, (1+level)/2} se.
                   (The one-sample t-test across events; Brown & Warner 1985, MacKinlay 1997.)
- ``pooled_bmp``   z_e = CAR_e / se_e; estimate = mean(z) (unitless, in standard errors);
                   se = sd(z, ddof 1) / sqrt(E); statistic = estimate / se; Student t(E - 1);
                   CI on mean(z) from the same t. (Boehmer, Musumeci & Poulsen 1991, applied
                   across events instead of across firms.)
- ``pooled_sign``  k = #{CAR_e < 0} over the events with CAR_e != 0 (ties dropped);
                   statistic = k; exact two-sided binomial test of Bin(E, 1/2): p = sum of
                   P(W = j) over every j with P(W = j) <= P(W = k) (``scipy.stats.binomtest``);
                   estimate = median(CAR_e); no se, CI or dof. (Sign test; Conover 1999 sec. 3.4.)
- ``pooled_re``    DerSimonian & Laird (1986) random effects: w_e = 1 / se_e^2,
                   mu_FE = sum(w y) / sum(w), Q = sum(w (y - mu_FE)^2),
                   tau^2 = max(0, (Q - (E - 1)) / (sum(w) - sum(w^2) / sum(w))),
                   w*_e = 1 / (se_e^2 + tau^2), estimate = sum(w* y) / sum(w*);
                   Hartung & Knapp (2001) se = sqrt(sum(w* (y - estimate)^2) / ((E - 1) sum(w*)));
                   statistic = estimate / se, Student t(E - 1), CI from the same t;
                   I^2 = max(0, (Q - (E - 1)) / Q) (Higgins & Thompson 2002), 0 when Q = 0.

Events whose CAR is not finite are left out (and, for ``pooled_bmp``/``pooled_re``, those whose
se is not finite and positive). Every test needs E >= :data:`MIN_EVENTS` events; with fewer it
reports n_events and NaN elsewhere (:func:`not_applicable` gives the reason in words). All
p-values are two-sided; tau2 and i2 are NaN except for ``pooled_re``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.estimation.pvalues import t_p_value

#: The pooled tests, in the order tables list them.
POOLED_TESTS = ("pooled_mean", "pooled_bmp", "pooled_sign", "pooled_re")

#: Fewest events a pooled test is computed on (a t-test with E - 1 >= 2 degrees of freedom).
MIN_EVENTS = 3


@dataclass(frozen=True)
class PooledResult:
    """One pooled test over E events (NaN where not applicable).

    estimate, se, ci_low and ci_high are decimal returns, except for ``pooled_bmp`` (in
    standard errors); statistic is the t statistic (the count of negative CARs for
    ``pooled_sign``); dof its degrees of freedom; tau2 the between-event variance (squared
    decimal return) and i2 the share of dispersion beyond sampling error (0 to 1), both for
    ``pooled_re`` only.
    """

    n_events: int
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    statistic: float
    dof: float
    p_value: float
    tau2: float
    i2: float


def _empty(n: int) -> PooledResult:
    nan = float("nan")
    return PooledResult(n, nan, nan, nan, nan, nan, nan, nan, nan, nan)


def _t_result(n: int, estimate: float, se: float, level: float, *, tau2: float = float("nan"),
              i2: float = float("nan")) -> PooledResult:
    """estimate / se against Student t(n - 1), with its two-sided CI at ``level``."""
    from scipy import stats

    dof = n - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = float(estimate / se)
    crit = float(stats.t.ppf(0.5 + level / 2.0, dof))
    return PooledResult(n, float(estimate), float(se), float(estimate - crit * se),
                        float(estimate + crit * se), stat, float(dof),
                        float(t_p_value(stat, dof)), tau2, i2)


def _mean_t(x: np.ndarray, level: float, *, tau2: float = float("nan"),
            i2: float = float("nan")) -> PooledResult:
    """mean(x) / (sd(x, ddof 1) / sqrt(n)) against t(n - 1)."""
    n = len(x)
    return _t_result(n, x.mean(), x.std(ddof=1) / np.sqrt(n), level, tau2=tau2, i2=i2)


def _sign(car: np.ndarray) -> PooledResult:
    """Exact two-sided binomial test (p = 1/2) on the number of negative CARs (zeros dropped)."""
    from scipy import stats

    x = car[car != 0.0]
    n = len(x)
    if n < MIN_EVENTS:
        return _empty(n)
    k = int((x < 0).sum())
    p = float(stats.binomtest(k, n, 0.5).pvalue)
    nan = float("nan")
    return PooledResult(n, float(np.median(x)), nan, nan, nan, float(k), nan, p, nan, nan)


def _random_effects(y: np.ndarray, se: np.ndarray, level: float) -> PooledResult:
    """DerSimonian-Laird tau^2, weights 1/(se^2 + tau^2), Hartung-Knapp se and t(E - 1)."""
    n = len(y)
    v = se**2
    w = 1.0 / v
    sw = w.sum()
    q = float((w * (y - (w * y).sum() / sw) ** 2).sum())
    c = sw - (w**2).sum() / sw
    tau2 = max(0.0, (q - (n - 1)) / c) if c > 0 else 0.0
    i2 = max(0.0, (q - (n - 1)) / q) if q > 0 else 0.0
    ws = 1.0 / (v + tau2)
    sws = ws.sum()
    mu = (ws * y).sum() / sws
    se_hk = np.sqrt((ws * (y - mu) ** 2).sum() / ((n - 1) * sws))
    return _t_result(n, mu, se_hk, level, tau2=float(tau2), i2=float(i2))


def pool(test: str, car: np.ndarray, se: np.ndarray, level: float = 0.95) -> PooledResult:
    """Pool the events' portfolio CARs (decimal) and their standard errors with ``test`` (one of
    :data:`POOLED_TESTS`); ``level`` is the confidence level of the interval."""
    if test not in POOLED_TESTS:
        raise ValueError(f"unknown pooled test {test!r}; expected one of {', '.join(POOLED_TESTS)}")
    car = np.asarray(car, dtype=float).ravel()
    se = np.broadcast_to(np.asarray(se, dtype=float), car.shape).ravel()
    keep = np.isfinite(car)
    if test in ("pooled_bmp", "pooled_re"):
        keep &= np.isfinite(se) & (se > 0)
    car, se = car[keep], se[keep]
    if test == "pooled_sign":
        return _sign(car)
    if len(car) < MIN_EVENTS:
        return _empty(len(car))
    if test == "pooled_mean":
        return _mean_t(car, level)
    if test == "pooled_bmp":
        return _mean_t(car / se, level)
    return _random_effects(car, se, level)


def not_applicable(result: PooledResult) -> str | None:
    """Why ``result`` has no p-value, in words (None when it has one)."""
    if result.n_events < MIN_EVENTS:
        return (f"{result.n_events} event{'s' if result.n_events != 1 else ''}; "
                f"a pooled test needs at least {MIN_EVENTS}")
    if not np.isfinite(result.p_value):
        return "the events' CARs do not vary, so the test statistic is undefined"
    return None
