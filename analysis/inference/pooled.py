"""Pooled answers across events: one estimate per (group, window) over the events of the run.

Each event e contributes its cell's portfolio CAR_e (decimal return over the window) and its
standard error se_e, as the portfolio test computes them. Events on different dates have CARs
taken as independent: event-induced variance and the firms' correlation within an event are
absorbed by the cross-event dispersion. Events whose windows share a session for a firm of the
group (car.csv ``overlaps``: another event's day 0 inside the window; e.g. the NYT and Bloomberg
reports of May 2019) are not independent: they count once, as one observation whose CAR and se
are the means of theirs (:func:`clusters`; its ``event_ids`` joins them with '+'). With E the
number of observations used:

- ``pooled_mean``  estimate = mean(CAR_e); se = sd(CAR_e, ddof 1) / sqrt(E); t = estimate / se;
                   two-sided Student t(E - 1); CI = estimate +- t_{E-1, (1+level)/2} se.
                   (The one-sample t-test across events; Brown & Warner 1985, MacKinlay 1997.)
- ``pooled_bmp``   z_e = CAR_e / se_e; estimate = mean(z) (unitless, in standard errors);
                   se = sd(z, ddof 1) / sqrt(E); statistic = estimate / se; Student t(E - 1);
                   CI on mean(z) from the same t. (Boehmer, Musumeci & Poulsen 1991, applied
                   across events instead of across firms.)
- ``pooled_sign``  k = #{CAR_e < 0} over the events with CAR_e != 0 (ties dropped);
                   statistic = k; exact two-sided binomial test of Bin(E, 1/2): p = sum of
                   P(W = j) over every j with P(W = j) <= P(W = k) (``scipy.stats.binomtest``'s
                   rule, in integer arithmetic: :func:`sign_p_half`);
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

``named_minus_peer``: per event with both groups, the named portfolio's CAR minus the peers'
(d_e = CAR_named,e - CAR_peer,e), pooled as ``pooled_mean`` on the d_e (a row of group
``named``).

:func:`pooled_frame` builds ``pooled.csv`` from the portfolio rows of ``tests.csv``
(:data:`~analysis.vocab.PRIMARY_TEST`: ``estimate`` = CAR_e, ``se`` = se_e): every pooled test
for every group and window, in two scopes: ``attributable`` (the events whose cell is
attributable, :mod:`analysis.inference.flags`; the primary) and ``all`` (every event, a
sensitivity row). The primary family of the pooled answers is ``pooled_mean``, the primary
window, the groups :func:`~analysis.inference.multiple.primary_groups` (named and supplier),
scope ``attributable``: Holm's adjustment over those rows (``p_holm``, NaN elsewhere).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.estimation.pvalues import t_p_value, t_quantile
from analysis.inference.multiple import holm, primary_groups
from analysis.vocab import GROUP_ORDER, PRIMARY_TEST, PRIMARY_WINDOW

#: The pooled tests, in the order tables list them.
POOLED_TESTS = ("pooled_mean", "pooled_bmp", "pooled_sign", "pooled_re")

#: Labels of the pooled tests for readers (tables and the PDF).
POOLED_LABELS = {"pooled_mean": "Mean across events (t)", "pooled_bmp": "Standardized mean across events (BMP)",
                 "pooled_sign": "Sign test across events", "pooled_re": "Random effects across events",
                 "named_minus_peer": "Named minus peers across events"}

#: Fewest events a pooled test is computed on (a t-test with E - 1 >= 2 degrees of freedom).
MIN_EVENTS = 3
#: The primary pooled test (its rows of scope attributable, primary window and groups are Holm's family).
PRIMARY_POOLED = "pooled_mean"
#: The named firms' CAR minus their peers' per event, pooled as ``pooled_mean``.
NAMED_MINUS_PEER = "named_minus_peer"
#: ``scope`` of a pooled row: the attributable events (primary) or every event (sensitivity).
SCOPES = ("attributable", "all")
#: pooled.csv columns (``primary`` and ``note`` follow them).
POOLED_COLUMNS = ["scope", "group", "window", "test", "n_events", "event_ids", "estimate", "se", "ci_low", "ci_high",
                  "statistic", "dof", "p_value", "tau2", "i2", "p_holm"]
#: Separator of pooled.csv ``event_ids``.
EVENT_SEP = ";"
#: Joins the events counted as one observation (their windows share sessions).
CLUSTER_SEP = "+"


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
    """estimate / se against Student t(n - 1), with its two-sided CI at ``level``; a zero se (the
    events' CARs do not vary) leaves the statistic, p and CI NaN."""
    dof = n - 1
    if not se > 0:
        nan = float("nan")
        return PooledResult(n, float(estimate), float(se), nan, nan, nan, float(dof), nan, tau2, i2)
    stat = float(estimate / se)
    crit = float(t_quantile(0.5 + level / 2.0, dof))
    return PooledResult(n, float(estimate), float(se), float(estimate - crit * se),
                        float(estimate + crit * se), stat, float(dof),
                        float(t_p_value(stat, dof)), tau2, i2)


def _mean_t(x: np.ndarray, level: float, *, tau2: float = float("nan"),
            i2: float = float("nan")) -> PooledResult:
    """mean(x) / (sd(x, ddof 1) / sqrt(n)) against t(n - 1)."""
    n = len(x)
    return _t_result(n, x.mean(), x.std(ddof=1) / np.sqrt(n), level, tau2=tau2, i2=i2)


def _sign(car: np.ndarray) -> PooledResult:
    """Exact two-sided binomial test (p = 1/2) on the number of negative CARs (zeros dropped)
    (:func:`sign_p_half`)."""
    x = car[car != 0.0]
    n = len(x)
    if n < MIN_EVENTS:
        return _empty(n)
    k = int((x < 0).sum())
    p = sign_p_half(k, n)
    nan = float("nan")
    return PooledResult(n, float(np.median(x)), nan, nan, nan, float(k), nan, p, nan, nan)


def sign_p_half(k: int, n: int) -> float:
    """Exact two-sided p of k successes in n >= 1 trials under Bin(n, 1/2), in integer arithmetic:
    the sum of P(W = j) = C(n, j) / 2^n over every j no more likely than k (``scipy.stats.
    binomtest``'s "minimum likelihood" rule; with p = 1/2 those are the j with
    min(j, n - j) <= m = min(k, n - k), and its 1e-7 relative tolerance adds no term while
    m < 1e7, as C(n, m + 1) / C(n, m) >= 1 + 1 / (m + 1) when they differ):

        p = min(1, 2 sum_{j <= m} C(n, j) / 2^n)   (p = 1 when k = n / 2),

    one correctly rounded division of two integers (the exact value; binomtest's float sums
    agree to about 1e-13 and are an ulp off for some k, e.g. n = 15, k = 4). Raises ValueError
    unless 0 <= k <= n."""
    if not 0 <= k <= n or n < 1:
        raise ValueError(f"k = {k} successes of n = {n} trials")
    m = min(k, n - k)
    if 2 * m == n:
        return 1.0
    total, c = 0, 1  # c = C(n, j), updated exactly: C(n, j + 1) = C(n, j) (n - j) / (j + 1)
    for j in range(m + 1):
        total += c
        c = c * (n - j) // (j + 1)
    return min(1.0, 2 * total / 2**n)


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


def used(test: str, car, se) -> np.ndarray:
    """(E,) bool: the events ``test`` pools (finite CAR; for ``pooled_bmp``/``pooled_re`` also
    a finite positive se; for ``pooled_sign`` a CAR other than 0)."""
    if test not in POOLED_TESTS:
        raise ValueError(f"unknown pooled test {test!r}; expected one of {', '.join(POOLED_TESTS)}")
    car = np.asarray(car, dtype=float).ravel()
    se = np.broadcast_to(np.asarray(se, dtype=float), car.shape).ravel()
    keep = np.isfinite(car)
    if test in ("pooled_bmp", "pooled_re"):
        keep &= np.isfinite(se) & (se > 0)
    if test == "pooled_sign":
        keep &= car != 0.0
    return keep


def pool(test: str, car: np.ndarray, se: np.ndarray, level: float = 0.95) -> PooledResult:
    """Pool the events' portfolio CARs (decimal) and their standard errors with ``test`` (one of
    :data:`POOLED_TESTS`); ``level`` is the confidence level of the interval."""
    keep = used(test, car, se)
    car = np.asarray(car, dtype=float).ravel()
    se = np.broadcast_to(np.asarray(se, dtype=float), car.shape).ravel()
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


def _row(scope: str, group: str, window: str, test: str, events, car, se, level: float) -> dict:
    base = "pooled_mean" if test == NAMED_MINUS_PEER else test
    events = np.asarray(events, dtype=object)
    r = pool(base, car, se, level)
    keep = used(base, car, se)
    return {"scope": scope, "group": group, "window": window, "test": test, "n_events": r.n_events,
            "event_ids": EVENT_SEP.join(events[keep]), "estimate": r.estimate, "se": r.se, "ci_low": r.ci_low,
            "ci_high": r.ci_high, "statistic": r.statistic, "dof": r.dof, "p_value": r.p_value, "tau2": r.tau2,
            "i2": r.i2, "p_holm": np.nan, "note": not_applicable(r) or ""}


def observations(event_ids) -> list[list[str]]:
    """pooled.csv ``event_ids`` ('a+b;c;d') as its observations, each the list of its events
    ([['a', 'b'], ['c'], ['d']]); [] when empty or missing."""
    text = "" if event_ids is None or (isinstance(event_ids, float) and np.isnan(event_ids)) else str(event_ids)
    return [o.split(CLUSTER_SEP) for o in text.split(EVENT_SEP) if o]


def overlap_pairs(car: pd.DataFrame | None) -> dict[tuple[str, str], set[frozenset]]:
    """{(group, window): pairs of events whose windows share a session for a firm of the group}
    from car.csv rows (``overlaps``: the other catalog events whose day 0 lies in the firm's
    window, ';'-separated). Empty without ``car`` or its ``overlaps`` column."""
    out: dict[tuple[str, str], set[frozenset]] = {}
    if car is None or car.empty or "overlaps" not in car.columns:
        return out
    cols = ["event_id", "group", "window", "overlaps"]
    rows = car.loc[car["overlaps"].astype(str).str.len().gt(0) & car["overlaps"].notna(), cols]
    rows = rows.drop_duplicates()  # firms of a cell share their texts: each distinct row once
    for ev, group, window, other in zip(*(rows[c].to_numpy(object) for c in cols)):
        for o in str(other).split(";"):
            o = o.strip()
            if o and o != ev:
                out.setdefault((group, window), set()).add(frozenset((ev, o)))
    return out


def clusters(events, car, se, pairs: set[frozenset] | None = None):
    """Events merged where their windows share sessions (``pairs``, transitively): returns
    (labels, car, se) with one entry per observation in the order of its first event; an
    observation of several events is labelled 'a+b' and carries the means of their CARs and of
    their se (NaNs ignored)."""
    events = [str(e) for e in events]
    car, se = np.asarray(car, dtype=float), np.asarray(se, dtype=float)
    if not pairs:
        return events, car, se
    parent = list(range(len(events)))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    index = {e: i for i, e in enumerate(events)}
    for pair in pairs:
        a, b = tuple(pair) if len(pair) == 2 else (next(iter(pair)),) * 2
        if a in index and b in index:
            ra, rb = root(index[a]), root(index[b])
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for i in range(len(events)):
        groups.setdefault(root(i), []).append(i)
    order = sorted(groups.values(), key=lambda g: g[0])
    with np.errstate(all="ignore"):
        labels = [CLUSTER_SEP.join(events[i] for i in g) for g in order]
        c = np.array([np.nanmean(car[g]) if np.isfinite(car[g]).any() else np.nan for g in order])
        s = np.array([np.nanmean(se[g]) if np.isfinite(se[g]).any() else np.nan for g in order])
    return labels, c, s


def _is_true(values: pd.Series) -> np.ndarray:
    return values.astype(str).str.lower().eq("true").to_numpy()


def pooled_frame(tests: pd.DataFrame, primary_window: str = PRIMARY_WINDOW, level: float = 0.95,
                 car: pd.DataFrame | None = None) -> pd.DataFrame:
    """pooled.csv from ``tests`` (tests.csv rows; module docstring): for each scope, group (in
    :data:`~analysis.vocab.GROUP_ORDER`) and window (in tests order), the rows of
    :data:`POOLED_TESTS`, then ``named_minus_peer`` per window; columns :data:`POOLED_COLUMNS`,
    ``primary`` (bool) and ``note`` (why a test is not applicable). A tests frame without
    ``attributable`` counts every cell as attributable. ``car`` (car.csv rows): events whose
    windows share sessions count once (:func:`overlap_pairs`, :func:`clusters`)."""
    columns = [*POOLED_COLUMNS, "primary", "note"]
    if tests is None or tests.empty or "estimate" not in tests.columns:
        return pd.DataFrame(columns=columns)
    port = tests[tests["test"] == PRIMARY_TEST]
    if port.empty:
        return pd.DataFrame(columns=columns)
    ok = _is_true(port["attributable"]) if "attributable" in port.columns else np.ones(len(port), dtype=bool)
    port = port.assign(_ok=ok)
    pairs = overlap_pairs(car)
    groups = [g for g in GROUP_ORDER if g in set(port["group"])]
    groups += [g for g in dict.fromkeys(port["group"]) if g not in groups]
    windows = list(dict.fromkeys(port["window"]))
    rows = []
    for scope in SCOPES:
        sub = port[port["_ok"]] if scope == "attributable" else port
        for group in groups:
            for window in windows:
                cell = sub[(sub["group"] == group) & (sub["window"] == window)]
                events, y, s = clusters(cell["event_id"], cell["estimate"], cell["se"], pairs.get((group, window)))
                rows += [_row(scope, group, window, t, events, y, s, level) for t in POOLED_TESTS]
        if {"named", "peer"} <= set(groups):
            for window in windows:
                named = sub[(sub["group"] == "named") & (sub["window"] == window)].set_index("event_id")["estimate"]
                peer = sub[(sub["group"] == "peer") & (sub["window"] == window)].set_index("event_id")["estimate"]
                both = [e for e in named.index if e in peer.index]
                d = named.loc[both].to_numpy(dtype=float) - peer.loc[both].to_numpy(dtype=float)
                link = pairs.get(("named", window), set()) | pairs.get(("peer", window), set())
                events, d, _ = clusters(both, d, np.full(len(both), np.nan), link)
                rows.append(_row(scope, "named", window, NAMED_MINUS_PEER, events, d, np.nan, level))
    out = pd.DataFrame(rows, columns=columns)
    out["primary"] = ((out["scope"] == SCOPES[0]) & (out["test"] == PRIMARY_POOLED)
                      & (out["window"] == primary_window)
                      & out["group"].isin(primary_groups(port["group"].unique()))).to_numpy()
    prim = out["primary"].to_numpy()
    p_holm = np.full(len(out), np.nan)
    p_holm[prim] = holm(out.loc[prim, "p_value"].to_numpy(dtype=float))
    out["p_holm"] = p_holm
    return out
