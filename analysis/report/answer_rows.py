"""The answer: the pooled answers across events, the primary family's rows (one per event and
group) and their forest plot.

Each question is answered first across events: ``pooled.csv``'s primary rows
(:mod:`analysis.inference.pooled`: ``pooled_mean`` of the attributable events' portfolio CARs,
window :data:`~analysis.vocab.PRIMARY_WINDOW`, Holm over the named firms and the US suppliers).
Event by event, the primary test (:data:`~analysis.vocab.PRIMARY_TEST`, ``portfolio``) gives the
move and its 95% interval; a move is *claimed* only when Holm's adjustment of the tail-robust
``p_history`` over the per-event family (``p_holm_history``, the portfolio against its own whole
price history) is below :data:`~analysis.inference.multiple.ALPHA` and the cell is
``attributable`` (no major confounder on days 0..+1, :mod:`analysis.inference.flags`). A run
without ``p_holm_history`` claims no single event (never the normal-tail ``p_holm``, which
this design cannot support at Holm's level; ``significant`` keeps that p's verdict for Caveats).
Everything here reads the study's ``tests.csv`` and ``pooled.csv`` rows (decimals:
``estimate`` = CAR_p, ``ci_low``/``ci_high`` its 95% interval, ``mde`` the smallest CAR the test
detects with 80% power at 5%, see :mod:`analysis.inference.portfolio`), so the comparison
notebook and the PDF ("The answer") show the same rows and the same figure.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.inference.multiple import ALPHA, primary_mask
from analysis.inference.pooled import PRIMARY_POOLED, observations
from analysis.report.artifacts import PRINT_WIDTH
from analysis.vocab import GROUP_ORDER, PRIMARY_WINDOW, group_color, group_label

#: Columns of :func:`primary_rows`.
COLUMNS = ("event_id", "short_title", "date", "kind", "group", "n", "estimate", "ci_low", "ci_high", "mde",
           "p_value", "p_holm", "q_bh", "flags", "significant", "attributable", "confounded_by", "p_history",
           "p_holm_history", "claimed")
#: The tail-robust per-event p and its Holm adjustment (tests.csv portfolio rows, car.csv firm rows).
P_HISTORY, P_HOLM_HISTORY = "p_history", "p_holm_history"


def _truth(values: pd.Series) -> pd.Series:
    """True/False from a bool or text column (a CSV read back), NaN as True (no flag)."""
    return values.map(lambda v: True if v is None or (isinstance(v, float) and np.isnan(v))
                      else str(v).strip().lower() == "true")


def event_titles(catalog: pd.DataFrame) -> pd.DataFrame:
    """event_id, short_title (the catalog's ``short_title``, else a cut of its title), date
    (local date of the announcement) and kind of every catalog event."""
    from analysis.report.compare import short_title

    titles = [s if isinstance(s, str) and s.strip() else short_title(t)
              for s, t in zip(catalog.get("short_title", pd.Series([None] * len(catalog))), catalog["title"])]
    return pd.DataFrame({"event_id": catalog["event_id"].to_numpy(), "short_title": titles,
                         "date": [pd.Timestamp(str(a)[:10]) for a in catalog["announced_at"]],
                         "kind": catalog["kind"].to_numpy()})


def primary_rows(tests: pd.DataFrame, catalog: pd.DataFrame) -> pd.DataFrame:
    """The primary family of ``tests`` (rows flagged ``primary``; without that column, the
    rows :func:`~analysis.inference.multiple.primary_mask` selects) with the events' short
    titles, dates and kinds, in date order then group order; ``significant``: p_holm < 0.05."""
    if tests is None or tests.empty:
        return pd.DataFrame(columns=list(COLUMNS))
    mask = tests["primary"].astype(str).str.lower().eq("true").to_numpy() if "primary" in tests.columns \
        else primary_mask(tests)
    rows = tests[mask].copy()
    for col in ("estimate", "ci_low", "ci_high", "mde", "p_value", "p_holm", "q_bh"):
        if col not in rows.columns:
            rows[col] = np.nan
    if "flags" not in rows.columns:
        rows["flags"] = ""
    rows["flags"] = rows["flags"].astype(object).fillna("")
    rows = rows.merge(event_titles(catalog), on="event_id", how="left")
    rows["short_title"] = rows["short_title"].fillna(rows["event_id"])
    rows["significant"] = rows["p_holm"].astype(float) < ALPHA
    rows["attributable"] = _truth(rows["attributable"]) if "attributable" in rows.columns else True
    rows["confounded_by"] = (rows["confounded_by"].astype(object).fillna("") if "confounded_by" in rows.columns
                             else "")
    for col in (P_HISTORY, P_HOLM_HISTORY):
        if col not in rows.columns:  # not computed in this run: no per-event claim
            rows[col] = np.nan
    rows["claimed"] = (rows[P_HOLM_HISTORY].astype(float) < ALPHA) & rows["attributable"].astype(bool)
    order = {g: i for i, g in enumerate(GROUP_ORDER)}
    rows["_g"] = rows["group"].map(order).fillna(len(order))
    rows = rows.sort_values(["date", "_g"], kind="stable").drop(columns="_g").reset_index(drop=True)
    return rows[list(COLUMNS)]


def pooled_rows(pooled: pd.DataFrame | None, window: str = PRIMARY_WINDOW, scope: str = "attributable",
                test: str = PRIMARY_POOLED) -> dict:
    """group -> the pooled.csv row (a dict) of ``test``, ``scope`` and ``window``; {} without
    pooled.csv."""
    if pooled is None or pooled.empty:
        return {}
    p = pooled[(pooled["scope"] == scope) & (pooled["window"] == window) & (pooled["test"] == test)]
    return {r["group"]: r for r in p.to_dict("records")}


def forest_figure(rows: pd.DataFrame, height: float | None = None, pooled: dict | None = None):
    """Forest plot of :func:`primary_rows`: one panel per group (named firms, US suppliers),
    events top to bottom in date order (short titles), the CAR in percent with its 95%
    interval; claimed rows (:data:`COLUMNS` ``claimed``) filled and marked, the others hollow,
    cells that are not attributable grey and marked; below the events, the pooled answer of
    each group (``pooled``: :func:`pooled_rows`) as a diamond spanning its 95% interval."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon

    groups = [g for g in GROUP_ORDER if g in set(rows["group"])] or ["named"]
    events = rows.drop_duplicates("event_id")[["event_id", "short_title"]]
    labels = list(events["short_title"])
    ypos = {e: i for i, e in enumerate(events["event_id"])}
    pooled = {g: r for g, r in (pooled or {}).items() if g in groups and np.isfinite(float(r["estimate"]))}
    n_events = max(len(labels), 1)
    if pooled:
        labels.append("Average over events")
    n = max(len(labels), 1)
    fig, axes = plt.subplots(1, len(groups), sharey=True, squeeze=False,
                             figsize=(PRINT_WIDTH, height or (0.8 + 0.16 * n)))
    bounds = [rows[["ci_low", "ci_high"]].astype(float).to_numpy().ravel()]
    bounds += [np.array([float(r["ci_low"]), float(r["ci_high"])]) for r in pooled.values()]
    finite = np.concatenate(bounds) * 100
    finite = finite[np.isfinite(finite)]
    lim = max(5.0, float(np.abs(finite).max()) * 1.08) if finite.size else 10.0
    for ax, g in zip(axes[0], groups):
        sub = rows[rows["group"] == g]
        colour = group_color(g)
        ax.axvline(0, color="0.55", lw=0.7, zorder=1)
        for _, r in sub.iterrows():
            y = ypos[r["event_id"]]
            est, lo, hi = (float(r[c]) * 100 for c in ("estimate", "ci_low", "ci_high"))
            if not np.isfinite(est):
                continue
            attributable = bool(r.get("attributable", True))
            c = colour if attributable else "0.6"
            ax.plot([lo, hi], [y, y], color=c, lw=1.4, solid_capstyle="butt", zorder=2)
            sig = bool(r.get("claimed", False))
            ax.plot(est, y, "o" if not sig else "D", ms=5 if not sig else 6, zorder=3,
                    mfc=c if sig else "white", mec=c, mew=1.3)
            if sig:
                ax.annotate("robust", (hi, y), xytext=(4, 0), textcoords="offset points", va="center",
                            fontsize=6.5, color=colour)
            elif not attributable:
                ax.annotate("not attributable", (hi, y), xytext=(4, 0), textcoords="offset points", va="center",
                            fontsize=6.5, color="0.45")
        for e in set(ypos) - set(sub["event_id"]):
            ax.text(0, ypos[e], f"no {group_label(g).lower()} in the data", ha="center", va="center", fontsize=6,
                    color="0.45", zorder=3, bbox=dict(fc="white", ec="none", pad=0.5))
        for y in range(n_events):
            if y % 2 == 0:
                ax.axhspan(y - 0.5, y + 0.5, color="0.95", zorder=0, lw=0)
        if g in pooled:
            r, y = pooled[g], n - 1
            est, lo, hi = (float(r[c]) * 100 for c in ("estimate", "ci_low", "ci_high"))
            ax.axhline(y - 0.5, color="0.6", lw=0.6, zorder=1)
            ax.add_patch(Polygon([(lo, y), (est, y - 0.32), (hi, y), (est, y + 0.32)], closed=True, zorder=3,
                                 fc=colour, ec=colour, lw=0.8))
            n_ev = sum(len(o) for o in observations(r.get("event_ids"))) or int(r["n_events"])
            label = f"{n_ev} events" + (f" as {int(r['n_events'])}" if n_ev != int(r["n_events"]) else "")
            ax.annotate(label, (hi, y), xytext=(4, 0), textcoords="offset points",
                        va="center", fontsize=6.5, color=colour)
        ax.set_xlim(-lim, lim)
        ax.set_title(f"{group_label(g)}", fontsize=8.5, color=colour, fontweight="bold")
        ax.set_xlabel("CAR, days 0 and +1 (%)", fontsize=7.5)
        ax.tick_params(labelsize=7)
        ax.grid(axis="x", color="0.88", lw=0.5)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    ax0 = axes[0][0]
    ax0.set_yticks(range(len(labels)), labels, fontsize=7)
    if pooled:
        ax0.get_yticklabels()[-1].set_fontweight("bold")
    ax0.set_ylim(n - 0.5, -0.5)
    fig.tight_layout(w_pad=1.0)
    return fig
