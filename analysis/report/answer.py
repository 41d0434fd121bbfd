"""The answer: the primary family's rows, one per event and group, and their forest plot.

The primary test (:data:`~analysis.vocab.PRIMARY_TEST`, ``portfolio``, window
:data:`~analysis.vocab.PRIMARY_WINDOW`, groups :data:`~analysis.vocab.PRIMARY_GROUPS`) with
Holm's adjustment over the whole family (``p_holm``, :mod:`analysis.inference.multiple`) is the
only basis for a claim of an effect in the PDF: a row is *significant* when ``p_holm`` <
:data:`~analysis.inference.multiple.ALPHA`. Everything here reads the study's ``tests.csv``
rows (decimals: ``estimate`` = CAR_p, ``ci_low``/``ci_high`` its 95% interval, ``mde`` the
smallest CAR the test detects with 80% power at 5%, see :mod:`analysis.inference.portfolio`),
so the comparison notebook and the PDF ("The answer") show the same rows and the same figure.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.inference.multiple import ALPHA, primary_mask
from analysis.report.artifacts import PRINT_WIDTH
from analysis.vocab import GROUP_ORDER, group_color, group_label

#: Columns of :func:`primary_rows`.
COLUMNS = ("event_id", "short_title", "date", "kind", "group", "n", "estimate", "ci_low", "ci_high", "mde",
           "p_value", "p_holm", "q_bh", "flags", "significant")


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
    order = {g: i for i, g in enumerate(GROUP_ORDER)}
    rows["_g"] = rows["group"].map(order).fillna(len(order))
    rows = rows.sort_values(["date", "_g"], kind="stable").drop(columns="_g").reset_index(drop=True)
    return rows[list(COLUMNS)]


def forest_figure(rows: pd.DataFrame, height: float | None = None):
    """Forest plot of :func:`primary_rows`: one panel per group (named firms, US suppliers),
    events top to bottom in date order (short titles), the CAR in percent with its 95%
    interval; significant rows (Holm p < 0.05) filled and marked, the others hollow."""
    import matplotlib.pyplot as plt

    groups = [g for g in GROUP_ORDER if g in set(rows["group"])] or ["named"]
    events = rows.drop_duplicates("event_id")[["event_id", "short_title"]]
    labels = list(events["short_title"])
    ypos = {e: i for i, e in enumerate(events["event_id"])}
    n = max(len(labels), 1)
    fig, axes = plt.subplots(1, len(groups), sharey=True, squeeze=False,
                             figsize=(PRINT_WIDTH, height or (0.9 + 0.215 * n)))
    finite = rows[["ci_low", "ci_high"]].astype(float).to_numpy() * 100
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
            ax.plot([lo, hi], [y, y], color=colour, lw=1.4, solid_capstyle="butt", zorder=2)
            sig = bool(r["significant"])
            ax.plot(est, y, "o" if not sig else "D", ms=5 if not sig else 6, zorder=3,
                    mfc=colour if sig else "white", mec=colour, mew=1.3)
            if sig:
                ax.annotate("Holm p < 0.05", (hi, y), xytext=(4, 0), textcoords="offset points", va="center",
                            fontsize=6.5, color=colour)
        for e in set(ypos) - set(sub["event_id"]):
            ax.text(0, ypos[e], f"no {group_label(g).lower()} in the data", ha="center", va="center", fontsize=6,
                    color="0.45", zorder=3, bbox=dict(fc="white", ec="none", pad=0.5))
        for y in range(n):
            if y % 2 == 0:
                ax.axhspan(y - 0.5, y + 0.5, color="0.95", zorder=0, lw=0)
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
    ax0.set_ylim(n - 0.5, -0.5)
    fig.tight_layout(w_pad=1.0)
    return fig
