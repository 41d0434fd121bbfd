"""Suppliers' CARs regressed on their revenue exposure to the firms an event named.

For each event and window, over the event's ``supplier`` group (suppliers linked to a named
firm) with exposure data,

    CAR_i = a + b * x_i + e_i,

x_i = the supplier's revenue share (percent, 0-100) sold to the firms the event named: the sum
of its ``revenue_share`` rows (``data/exposure.csv``) over those firms (a firm without a row
counts as 0; a supplier with no row for any named firm is left out). ``b`` is the CAR
(decimal) per percentage point of revenue; ten times it is "per 10 points".

- **Per event** (:func:`ols_hc3`), when at least :data:`MIN_FIRMS` firms have data: OLS with
  the HC3 heteroskedasticity-consistent variance (MacKinnon & White 1985, "Some
  heteroskedasticity-consistent covariance matrix estimators with improved finite sample
  properties", J. Econometrics 29:305-325): Var(b) = sum_i (x_i - xbar)^2 e_i^2 / (1 - h_ii)^2
  / Sxx^2, h_ii = 1/n + (x_i - xbar)^2 / Sxx; the t statistic b / se is referred to Student t
  with n - 2 d.f. (p and 95% interval), as statsmodels' ``OLS.fit(cov_type="HC3", use_t=True)``.
- **Pooled** across events (:func:`pooled_fe`): CAR_ie = a_e + b x_ie + u_ie with event fixed
  effects (within-event demeaning, Frisch-Waugh-Lovell), the cluster-robust variance by event
  (CR1: G/(G-1) (N-1)/(N-K), K = G + 1 parameters) and the p-value of H0: b = 0 from the wild
  cluster bootstrap-t with the null imposed (Rademacher weights per event; Cameron, Gelbach &
  Miller 2008, "Bootstrap-based improvements for inference with clustered errors", REStat
  90:414-427, sec. III.C, "wild cluster bootstrap-t, null imposed"): t* of each draw uses its
  own cluster-robust se; p = share of |t*| >= |t|. With 2^G <= draws every sign vector is
  enumerated (the exact bootstrap distribution; Webb 2014 on few clusters). The 95% interval
  is b +- t_{G-1, 0.975} se (Cameron & Miller 2015, "A practitioner's guide to cluster-robust
  inference", J. Human Resources 50:317-372, sec. VI.C), so it need not agree with the
  bootstrap p at the margin. Only events with at least 2 firms with data inform b.

Exposure rows of confidence ``low`` enter only the sensitivity rows (``confidence`` column
``high,medium,low``); the main rows use ``high,medium``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.data.supply import event_customers
from analysis.estimation.pvalues import t_p_value, t_quantile

#: Fewest firms with exposure data for a per-event fit.
MIN_FIRMS = 5
#: Wild cluster bootstrap draws (Rademacher); all 2^G sign vectors when that is fewer.
BOOTSTRAP_DRAWS = 9999
#: The group whose CARs are regressed (suppliers linked to a firm the event named).
GROUP = "supplier"
MAIN_CONFIDENCE = ("high", "medium")
SENSITIVITY_CONFIDENCE = ("high", "medium", "low")
POOLED = "pooled"
EXPOSURE_FIT_COLUMNS = ["event_id", "window", "n_firms", "n_events", "slope", "se", "ci_low", "ci_high", "p_value",
                        "method", "r2", "confidence"]
METHOD_OLS = "OLS, HC3 se, Student t (n-2)"
METHOD_POOLED = "event fixed effects, se clustered by event, wild cluster bootstrap p (Rademacher)"


def ols_hc3(x, y) -> dict:
    """OLS of y on a constant and x with the HC3 se (module docstring). Returns slope, se,
    ci_low, ci_high (95%, Student t with n-2 d.f.), p_value, r2, n. NaN where undefined
    (n < 3 or no spread in x)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(x)
    out = {"n": n, "slope": np.nan, "se": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan,
           "r2": np.nan}
    if n < 3:
        return out
    dx = x - x.mean()
    sxx = float(dx @ dx)
    if sxx <= 0:
        return out
    b = float(dx @ (y - y.mean())) / sxx
    e = y - y.mean() - b * dx
    h = 1.0 / n + dx ** 2 / sxx
    with np.errstate(divide="ignore", invalid="ignore"):
        var = float(np.sum(dx ** 2 * e ** 2 / (1.0 - h) ** 2)) / sxx ** 2
    se = np.sqrt(var)
    df = n - 2
    tcrit = float(t_quantile(0.975, df))
    tss = float(np.sum((y - y.mean()) ** 2))
    p = float(t_p_value(b / se, df)) if se > 0 else np.nan
    out.update(slope=b, se=se, ci_low=b - tcrit * se, ci_high=b + tcrit * se, p_value=float(p),
               r2=1.0 - float(e @ e) / tss if tss > 0 else np.nan)
    return out


def _sign_matrix(g: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """(R, g) Rademacher weights: every sign vector when 2^g <= draws, else ``draws`` random rows."""
    if 2 ** g <= draws:
        codes = np.arange(2 ** g, dtype=np.int64)[:, None] >> np.arange(g, dtype=np.int64)[None, :]
        return np.where(codes & 1, 1.0, -1.0)
    return rng.choice(np.array([-1.0, 1.0]), size=(draws, g))


def pooled_fe(cluster, x, y, draws: int = BOOTSTRAP_DRAWS, seed: int = 0) -> dict:
    """Event fixed effects, cluster-robust se by event and the wild cluster bootstrap-t p
    (module docstring). ``cluster``: the event of each row. Clusters with fewer than 2 rows
    are dropped (their fixed effect absorbs them). Returns slope, se, ci_low, ci_high,
    p_value, r2 (within), n, g (clusters used), draws (sign vectors used)."""
    codes, _ = pd.factorize(np.asarray(cluster, dtype=object))
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    size = np.bincount(codes)
    keep = size[codes] >= 2
    codes, _ = pd.factorize(codes[keep])
    x, y = x[keep], y[keep]
    g = int(codes.max()) + 1 if len(codes) else 0
    out = {"n": int(keep.sum()), "g": g, "slope": np.nan, "se": np.nan, "ci_low": np.nan,
           "ci_high": np.nan, "p_value": np.nan, "r2": np.nan, "draws": 0}
    if g < 2:
        return out
    size = np.bincount(codes, minlength=g)
    xt = x - (np.bincount(codes, weights=x, minlength=g) / size)[codes]
    yt = y - (np.bincount(codes, weights=y, minlength=g) / size)[codes]
    sxx = float(xt @ xt)
    if sxx <= 0:
        return out
    n = len(x)
    b = float(xt @ yt) / sxx
    u = yt - b * xt
    k = g + 1
    scale = g / (g - 1) * (n - 1) / (n - k) if n > k else np.nan
    score = np.bincount(codes, weights=xt * u, minlength=g)
    se = float(np.sqrt(scale * np.sum(score ** 2))) / sxx
    # bootstrap with b = 0 imposed: restricted residuals are yt (the fixed effects are demeaned away)
    s_g = np.bincount(codes, weights=xt * yt, minlength=g)   # sum_i x~ u~ per cluster
    q_g = np.bincount(codes, weights=xt * xt, minlength=g)   # sum_i x~^2 per cluster
    w = _sign_matrix(g, draws, np.random.default_rng(seed))
    b_star = (w @ s_g) / sxx
    scores = w * s_g[None, :] - b_star[:, None] * q_g[None, :]
    se_star = np.sqrt(scale * np.sum(scores ** 2, axis=1)) / sxx
    with np.errstate(divide="ignore", invalid="ignore"):
        t_star = np.abs(b_star / se_star)
    t_hat = abs(b / se) if se > 0 else np.inf
    p = float(np.mean(t_star >= t_hat - 1e-12 * max(1.0, t_hat)))
    tcrit = float(t_quantile(0.975, g - 1))
    tss = float(yt @ yt)
    out.update(slope=b, se=se, ci_low=b - tcrit * se, ci_high=b + tcrit * se, p_value=p,
               r2=1.0 - float(u @ u) / tss if tss > 0 else np.nan, draws=len(w))
    return out


def exposure_of(customers: dict[str, set[str]], exposure: pd.DataFrame, confidence) -> pd.DataFrame:
    """event_id, symbol, exposure: each supplier's revenue share (percent) sold to the firms
    each event named, summed over them, from the rows of ``exposure`` with ``confidence`` in
    the given levels (measure ``revenue_share``)."""
    cols = ["event_id", "symbol", "exposure"]
    if exposure is None or not len(exposure) or not customers:
        return pd.DataFrame(columns=cols)
    ex = exposure[(exposure["measure"] == "revenue_share") & exposure["confidence"].isin(confidence)]
    ev = pd.DataFrame([(e, c) for e, cs in customers.items() for c in sorted(cs)],
                      columns=["event_id", "customer_or_region"])
    m = ev.merge(ex[["symbol", "customer_or_region", "value"]], on="customer_or_region")
    if m.empty:
        return pd.DataFrame(columns=cols)
    # several periods for one customer: the latest row of the file stands (one figure per firm and customer)
    m = m.drop_duplicates(["event_id", "symbol", "customer_or_region"], keep="last")
    return m.groupby(["event_id", "symbol"], sort=False)["value"].sum().rename("exposure").reset_index()


def fit_frame(car: pd.DataFrame, customers: dict[str, set[str]], exposure: pd.DataFrame,
              draws: int = BOOTSTRAP_DRAWS, seed: int = 0) -> pd.DataFrame:
    """exposure_fit.csv rows: per event and window (at least MIN_FIRMS firms) and pooled per
    window, for the main (high, medium) and sensitivity (with low) exposure rows.
    ``car``: car.csv rows (event_id, symbol, group, window, car; requested windows)."""
    rows = []
    if car is None or not len(car) or "group" not in car:
        return pd.DataFrame(columns=EXPOSURE_FIT_COLUMNS)
    keep = car["group"].to_numpy() == GROUP
    if "window_kind" in car.columns:
        keep &= car["window_kind"].to_numpy() == "requested"
    c = pd.DataFrame({k: car[k].to_numpy(dtype=object)[keep] for k in ("event_id", "symbol", "window")})
    c["car"] = car["car"].to_numpy(dtype=float)[keep]
    c = c[np.isfinite(c["car"].to_numpy())]
    windows = list(pd.unique(car["window"].to_numpy(object)))  # in order of first appearance
    events = list(pd.unique(car["event_id"].to_numpy(object)))
    for level in (MAIN_CONFIDENCE, SENSITIVITY_CONFIDENCE):
        ex = exposure_of(customers, exposure, level)
        d = c.merge(ex, on=["event_id", "symbol"])
        tag = ",".join(level)
        for w in windows:
            dw = d[d["window"] == w]
            parts = dict(tuple(dw.groupby("event_id", sort=False)))
            for e in events:
                de = parts.get(e)
                if de is None or len(de) < MIN_FIRMS:
                    continue
                r = ols_hc3(de["exposure"].to_numpy(), de["car"].to_numpy(dtype=float))
                rows.append({"event_id": e, "window": w, "n_firms": r["n"], "n_events": 1, "slope": r["slope"],
                             "se": r["se"], "ci_low": r["ci_low"], "ci_high": r["ci_high"], "p_value": r["p_value"],
                             "method": METHOD_OLS, "r2": r["r2"], "confidence": tag})
            if dw["event_id"].nunique() >= 2:
                r = pooled_fe(dw["event_id"].to_numpy(), dw["exposure"], dw["car"], draws=draws, seed=seed)
                if r["g"] >= 2:
                    rows.append({"event_id": POOLED, "window": w, "n_firms": r["n"], "n_events": r["g"],
                                 "slope": r["slope"], "se": r["se"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                                 "p_value": r["p_value"], "r2": r["r2"], "confidence": tag,
                                 "method": METHOD_POOLED + (f", all {r['draws']} sign vectors" if r["draws"] < draws
                                                            else f", {r['draws']} draws")})
    return pd.DataFrame(rows, columns=EXPOSURE_FIT_COLUMNS)


def study_fit(study, car: pd.DataFrame) -> pd.DataFrame:
    """:func:`fit_frame` for a study: the firms each event named (event_firms and
    event_customers) and its exposure rows; seed = the study's seed."""
    customers = event_customers(study.event_firms, getattr(study, "event_customers", None))
    return fit_frame(car, customers, getattr(study, "exposure", None), seed=study.seed)
