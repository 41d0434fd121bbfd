"""Figures: CAR paths with 95% bands, the cross-event heatmap, targets vs suppliers.

Every group band and interval is the equal-weighted event-time portfolio's (its CAR path and
Var(CAR_p) with estimation error, Student t(M_p - k); :func:`portfolio_band`,
:func:`analysis.inference.portfolio.portfolio_path`), never mean +- 1.96 sd / sqrt(N): with a
few correlated firms that band is far too narrow.

All functions take an :class:`~analysis.results.EventStudyResults` and return a matplotlib
Figure (they never call ``plt.show``), so notebooks display them and the pipeline saves them.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.estimation import engine
from analysis.estimation.store import RelativeDays
from analysis.tables import requested_windows
from analysis.vocab import ALL, GROUP_ORDER

#: The firm groups drawn (every group but all firms), in display order.
DRAWN_GROUPS = tuple(g for g in GROUP_ORDER if g != ALL)


def _group_col(frame: pd.DataFrame) -> str:
    """The column holding each firm's group for its event (``group``; older frames: ``role``)."""
    return "group" if "group" in frame.columns else "role"

Z95 = 1.959963984540054


def car_paths(res, event_id: str, start: int | None = None, end: int | None = None) -> pd.DataFrame:
    """Per-firm CAR[start, tau] and se for each tau (decimal), tidy: event_id,symbol,role,day,car,car_se."""
    lo = min(w[0] for w in res.study.windows) if start is None else start
    hi = max(w[1] for w in res.study.windows) if end is None else end
    f = res.panel.frame
    rows = np.nonzero((f["event_id"].to_numpy() == event_id) & res.engine_result.ok)[0]
    sub = res.engine_result.take(rows)
    taus, car, se = engine.car_path(sub, lo, hi)
    n, T = car.shape
    return pd.DataFrame({
        "event_id": event_id,
        "symbol": np.repeat(f["symbol"].to_numpy()[rows], T),
        "role": np.repeat(f["role"].to_numpy()[rows], T),
        "group": np.repeat((f["group"] if "group" in f.columns else f["role"]).to_numpy()[rows], T),
        "day": np.tile(taus, n),
        "car": car.ravel(),
        "car_se": se.ravel(),
    })


def portfolio_band(res, event_id: str, group: str | None = None, start: int | None = None,
                   end: int | None = None) -> pd.DataFrame:
    """The group's portfolio CAR path with its 95% interval: day, n, mean, lo, hi (the columns
    of :func:`group_path`; ``mean`` = CAR_p[start, day], the portfolio's CAR, decimal).

    The group's fitted firms of the event form one equal-weighted event-time portfolio
    (:func:`analysis.inference.portfolio.portfolio_path`); group None or "all": every firm.
    """
    from analysis.inference.portfolio import portfolio_path

    lo = min(w[0] for w in res.study.windows) if start is None else start
    hi = max(w[1] for w in res.study.windows) if end is None else end
    f = res.panel.frame
    m = (f["event_id"].to_numpy() == event_id) & res.engine_result.ok
    if group not in (None, "all"):
        m &= (f["group"] if "group" in f.columns else f["role"]).to_numpy() == group
    p = portfolio_path(res.engine_result, np.nonzero(m)[0], lo, hi)
    return pd.DataFrame({"day": p["day"], "n": p["n"].astype(int), "mean": p["car"], "lo": p["lo"], "hi": p["hi"]})


def group_path(paths: pd.DataFrame, group: str | None = None) -> pd.DataFrame:
    """Mean CAR path of a group with the OLD cross-sectional band: day, n, mean, lo, hi.

    Band: mean +/- 1.96 * sd(CAR)/sqrt(N) across firms (N >= 2); for a single firm, its own
    CAR +/- 1.96 * se. Too narrow for a few correlated firms: figures use
    :func:`portfolio_band` instead (kept for callers that still read it).
    """
    p = paths if group in (None, "all") else paths[paths[_group_col(paths)] == group]
    p = p.dropna(subset=["car"])
    rows = []
    for day, g in p.groupby("day"):
        n = len(g)
        mean = g["car"].mean()
        if n >= 2:
            half = Z95 * g["car"].std(ddof=1) / np.sqrt(n)
        else:
            half = Z95 * g["car_se"].iloc[0]
        rows.append({"day": day, "n": n, "mean": mean, "lo": mean - half, "hi": mean + half})
    return pd.DataFrame(rows, columns=["day", "n", "mean", "lo", "hi"])


def plot_car_path(res, event_id=None, group=None, ax=None, symbols=None, title=None):
    """Mean CAR path by group (or per firm with ``symbols``) with 95% bands, in percent."""
    import matplotlib.pyplot as plt

    event_id = event_id or res.event_ids[0]
    paths = car_paths(res, event_id)
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.5, 4.2))
    else:
        fig = ax.figure
    if symbols:
        for sym in symbols:
            p = paths[paths["symbol"] == sym]
            ax.plot(p["day"], 100 * p["car"], marker="o", ms=3, label=sym)
            ax.fill_between(p["day"], 100 * (p["car"] - Z95 * p["car_se"]),
                            100 * (p["car"] + Z95 * p["car_se"]), alpha=0.15)
    else:
        groups = [group] if group else [g for g in DRAWN_GROUPS if (paths[_group_col(paths)] == g).any()]
        for g in groups:
            gp = portfolio_band(res, event_id, g)
            if gp.empty or not np.isfinite(gp["mean"]).any():
                continue
            n = int(gp["n"].max())
            ax.plot(gp["day"], 100 * gp["mean"], marker="o", ms=3, label=f"{g} (n={n})")
            ax.fill_between(gp["day"], 100 * gp["lo"], 100 * gp["hi"], alpha=0.2)
    ax.axhline(0, color="grey", lw=0.8)
    ax.axvline(0, color="grey", lw=0.8, ls="--")
    lo = int(paths["day"].min()) if len(paths) else 0
    ax.set_xlabel(f"trading day relative to day 0 (CAR cumulated from day {lo})")
    ax.set_ylabel("CAR (%)")
    ax.set_title(title or f"{event_id}: portfolio CAR with 95% interval")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_car_heatmap(res, window: str = "-1:1", ax=None):
    """Heatmap of CAR[window] (percent), events by firms; cells marked with stars."""
    import matplotlib.pyplot as plt
    from analysis.fmt import stars

    c = requested_windows(res.car)
    c = c[c["window"] == window]
    order_sym = list(dict.fromkeys(res.study.universe["symbol"]))
    order_sym = [s for s in order_sym if s in set(c["symbol"])]
    mat = c.pivot_table(index="event_id", columns="symbol", values="car").reindex(
        index=res.event_ids, columns=order_sym) * 100
    pv = c.pivot_table(index="event_id", columns="symbol", values="car_p").reindex(
        index=res.event_ids, columns=order_sym)
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(6, 0.75 * len(order_sym) + 2), 0.6 * len(mat) + 1.8))
    else:
        fig = ax.figure
    vmax = np.nanmax(np.abs(mat.to_numpy())) if mat.notna().any().any() else 1.0
    im = ax.imshow(mat.to_numpy(), cmap="RdBu", vmin=-vmax, vmax=vmax, aspect="auto")
    ax.set_xticks(range(len(order_sym)), order_sym, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(mat)), mat.index, fontsize=8)
    for i in range(mat.shape[0]):
        for j in range(mat.shape[1]):
            v = mat.iat[i, j]
            if np.isfinite(v):
                ax.text(j, i, f"{v:.1f}{stars(pv.iat[i, j])}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, label=f"CAR[{window}] (%)")
    ax.set_title(f"CAR[{window}] by event and firm (* p<.10, ** p<.05, *** p<.01)")
    fig.tight_layout()
    return fig


def plot_groups_by_event(res, window: str = "-1:1", ax=None):
    """Targets vs suppliers (and peers): portfolio CAR[window] per event with its 95% interval
    (the ``portfolio`` rows of ``res.tests``)."""
    import matplotlib.pyplot as plt

    c = requested_windows(res.car)
    c = c[c["window"] == window].dropna(subset=["car"])
    gcol = _group_col(c)
    groups = [g for g in DRAWN_GROUPS if (c[gcol] == g).any()]
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.5, 4.2))
    else:
        fig = ax.figure
    events = res.event_ids
    width = 0.8 / max(1, len(groups))
    t = res.tests
    pf = t[(t["test"] == "portfolio") & (t["window"] == window)] if "estimate" in t.columns else t.iloc[:0]
    for k, g in enumerate(groups):
        means, errs = [], [[], []]
        for ev in events:
            r = pf[(pf["event_id"] == ev) & (pf["group"] == g)]
            if len(r) and np.isfinite(r["estimate"].iloc[0]):
                est, lo, hi = (100 * float(r[c].iloc[0]) for c in ("estimate", "ci_low", "ci_high"))
                means.append(est)
                errs[0].append(est - lo)
                errs[1].append(hi - est)
            else:
                means.append(np.nan)
                errs[0].append(0.0)
                errs[1].append(0.0)
        x = np.arange(len(events)) + (k - (len(groups) - 1) / 2) * width
        ax.bar(x, means, width, yerr=errs, capsize=3, label=g)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(range(len(events)), events, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(f"portfolio CAR[{window}] (%)")
    ax.set_title(f"Portfolio CAR[{window}] by group and event (95% interval)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig
