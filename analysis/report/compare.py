"""Comparing events: which announcements moved which groups, reports vs actions, targets vs
suppliers, and how the reaction changed from 2019 to 2022.

Everything takes an :class:`~analysis.results.EventStudyResults` of several events and returns
tidy frames (decimal returns) or matplotlib figures drawn at print width. Group means and their
tests come from the results' ``tests`` frame (default: the Kolari-Pynnönen adjusted BMP test);
pooled comparisons across events (by kind, by year) are descriptive: with a handful of events
per class there are too few observations for a test across classes.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from analysis import fmt
from analysis.tables import requested_windows
from analysis.report.artifacts import PRINT_WIDTH
from analysis.vocab import GROUP_ORDER, NAMED, group_color, group_label

Z95 = 1.959963984540054


def _in_group(c: pd.DataFrame, group: str) -> pd.Series:
    """Rows of a car frame whose firm is in ``group`` for its event (all: every row)."""
    if group == "all":
        return pd.Series(True, index=c.index)
    return c["group" if "group" in c.columns else "role"] == group


def short_title(title: str, max_words_in_parentheses: int = 4) -> str:
    """The headline of a long catalog title: up to the first ';' or ':' outside parentheses,
    without long parenthetical remarks."""
    depth, cut = 0, len(title)
    for i, ch in enumerate(title):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif ch in ";:" and depth == 0:
            cut = i
            break
    head = title[:cut]
    head = re.sub(r"\s*\(([^()]*)\)",
                  lambda m: m.group(0) if len(m.group(1).split()) <= max_words_in_parentheses else "", head)
    return " ".join(head.split()).rstrip(" ,.")


def events_frame(res) -> pd.DataFrame:
    """One row per studied event: event_id, kind, date (announcement, local date), year, short title."""
    ev = res.study.events
    dates = [pd.Timestamp(str(a)[:10]) for a in ev["announced_at"]]
    return pd.DataFrame({
        "event_id": ev["event_id"].to_numpy(),
        "kind": ev["kind"].to_numpy(),
        "date": dates,
        "year": [d.year for d in dates],
        "short_title": (list(ev["short_title"]) if "short_title" in ev.columns
                        else [short_title(t) for t in ev["title"]]),
    })


def group_event_table(res, window: str = "-1:1", test: str = "bmp_kp") -> pd.DataFrame:
    """Which announcements moved which groups: per (event, group) mean CAR[window], n, the
    ``test`` statistic and p-value (and the placebo p-value when the results have one)."""
    t = res.tests[(res.tests["window"] == window)]
    main = t[t["test"] == test][["event_id", "group", "n", "mean_car", "statistic", "p_value"]]
    if (t["test"] == "placebo").any():
        pl = t[t["test"] == "placebo"][["event_id", "group", "p_value"]].rename(columns={"p_value": "placebo_p"})
        main = main.merge(pl, on=["event_id", "group"], how="left")
    out = events_frame(res).merge(main, on="event_id", how="inner")
    out["window"] = window
    out["test"] = test
    out["stars"] = [fmt.stars(p) for p in out["p_value"]]
    order = {g: i for i, g in enumerate(GROUP_ORDER)}
    out["_g"] = out["group"].map(order).fillna(len(order))
    out = out.sort_values(["date", "_g"], kind="stable").drop(columns="_g")
    return out.reset_index(drop=True)


def moved_matrix(table: pd.DataFrame):
    """Event x group view of :func:`group_event_table`: 'mean CAR %' with stars (n < 2: no test)."""
    cells = [f"{fmt.pct(m)}{s}" + ("" if n >= 2 else " (n=1)") for m, s, n in
             zip(table["mean_car"], table["stars"], table["n"])]
    wide = table.assign(cell=cells).pivot_table(index=["date", "event_id", "kind"], columns="group",
                                                 values="cell", aggfunc="first", sort=False)
    return wide.reindex(columns=[g for g in GROUP_ORDER if g in wide.columns])


def _pooled(res, window: str, by: str, test: str) -> pd.DataFrame:
    ev = events_frame(res)
    c = requested_windows(res.car)
    c = c[c["window"] == window].merge(ev, on="event_id")
    c = c[np.isfinite(c["car"].astype(float))]
    g = group_event_table(res, window, test)
    rows = []
    for group in GROUP_ORDER:
        cg = c[_in_group(c, group)]
        gg = g[g["group"] == group]
        for key in sorted(set(ev[by])):
            x = cg[cg[by] == key]["car"].astype(float)
            e = gg[gg[by] == key]
            if not len(x):
                continue
            rows.append({
                by: key, "group": group, "events": int(e["event_id"].nunique()), "firm_events": int(len(x)),
                "mean_car": float(x.mean()), "median_car": float(x.median()),
                "share_negative": float((x < 0).mean()),
                "mean_event_car": float(e["mean_car"].mean()) if len(e) else np.nan,
                "events_significant_10": int((e["p_value"] < 0.10).sum()),
                "events_tested": int(np.isfinite(e["p_value"].astype(float)).sum()),
            })
    return pd.DataFrame(rows)


def kind_table(res, window: str = "-1:1", test: str = "bmp_kp") -> pd.DataFrame:
    """Reports vs actions, per group: events, firm-events, mean and median firm CAR, share of
    negative CARs, mean of the events' group means, events whose group test has p < 0.10."""
    return _pooled(res, window, "kind", test)


def year_table(res, window: str = "-1:1", test: str = "bmp_kp") -> pd.DataFrame:
    """The same comparison by calendar year of the announcement (2019 vs 2022)."""
    return _pooled(res, window, "year", test)


def targets_vs_suppliers(res, window: str = "-1:1", test: str = "bmp_kp") -> pd.DataFrame:
    """Per event: targets' and suppliers' mean CAR[window] with their group-test p-values, and
    the difference (targets minus suppliers). The targets of an event are the firms it named
    (group ``named``) when ``data/event_firms.csv`` describes it, else the role ``target``."""
    g = group_event_table(res, window, test)
    named_events = set(g.loc[g["group"] == NAMED, "event_id"])
    g = g[~((g["group"] == "target") & g["event_id"].isin(named_events))].replace({"group": {NAMED: "target"}})
    ev = events_frame(res)
    out = ev[["event_id", "date", "kind"]].copy()
    for group, tag in (("target", "targets"), ("supplier", "suppliers")):
        sub = g[g["group"] == group].set_index("event_id")
        out[f"{tag}_n"] = out["event_id"].map(sub["n"])
        out[f"{tag}_mean_car"] = out["event_id"].map(sub["mean_car"])
        out[f"{tag}_p"] = out["event_id"].map(sub["p_value"])
    out["difference"] = out["targets_mean_car"] - out["suppliers_mean_car"]
    return out.sort_values("date", kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- figures


def heatmap_figure(res, window: str = "-1:1"):
    """CAR[window] (percent) of every firm at every event, events by firms, stars from the firm t-test."""
    import matplotlib.pyplot as plt

    from analysis.plots import plot_car_heatmap

    n_events = len(res.event_ids)
    fig, ax = plt.subplots(figsize=(PRINT_WIDTH, 1.0 + 0.48 * n_events + 1.3))
    plot_car_heatmap(res, window=window, ax=ax)
    # Cell labels legible at print size: stars on a second line, white on dark cells.
    image = ax.images[0] if ax.images else None
    vmax = max(abs(image.norm.vmin), abs(image.norm.vmax)) if image is not None else None
    for text in ax.texts:
        label = text.get_text()
        number = label.rstrip("*")
        starred = label[len(number):]
        try:
            value = float(number)
        except ValueError:
            continue
        text.set_text(fmt.num(value, 1) + ("\n" + starred if starred else ""))
        text.set_fontsize(6.5)
        text.set_linespacing(0.9)
        if vmax and abs(value) > 0.6 * vmax:
            text.set_color("white")
    return fig


def car_paths_figure(res, event_ids=None, ncols: int = 2, groups=("named", "target", "peer", "supplier")):
    """Small multiples: each event's mean CAR path by group with 95% bands (shared y axis).

    Same paths and bands as :func:`analysis.plots.plot_car_path` (via ``car_paths`` and
    ``group_path``), drawn once for the whole grid.
    """
    import matplotlib.pyplot as plt

    from analysis.plots import car_paths, group_path

    ids = [e for e in (event_ids or res.event_ids) if (res.car["event_id"] == e).any()]
    nrows = max(1, -(-len(ids) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(PRINT_WIDTH, 2.2 * nrows + 0.5), sharey=True, squeeze=False)
    for ax, ev in zip(axes.ravel(), ids):
        paths = car_paths(res, ev)
        for g in groups:
            gp = group_path(paths, g)
            if gp.empty:
                continue
            ax.plot(gp["day"], 100 * gp["mean"], color=group_color(g), lw=1.2, label=f"{g} (n={int(gp['n'].max())})")
            ax.fill_between(gp["day"], 100 * gp["lo"], 100 * gp["hi"], color=group_color(g), alpha=0.15, lw=0)
        ax.axhline(0, color="grey", lw=0.6)
        ax.axvline(0, color="grey", lw=0.6, ls="--")
        ax.set_title(ev, fontsize=8.5)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6.5, loc="lower left")
    for ax in axes[:, 0]:
        ax.set_ylabel("CAR (%)", fontsize=8)
    for ax in axes.ravel()[len(ids):]:
        ax.set_visible(False)
    fig.supxlabel("trading day relative to day 0", fontsize=8)
    fig.tight_layout()
    return fig


def groups_figure(res, window: str = "-1:1"):
    """Targets vs suppliers (and peers): mean CAR[window] per event with 95% cross-sectional intervals."""
    import matplotlib.pyplot as plt

    from analysis.plots import plot_groups_by_event

    fig, ax = plt.subplots(figsize=(PRINT_WIDTH, 3.4))
    plot_groups_by_event(res, window=window, ax=ax)
    ev = events_frame(res).set_index("event_id")
    labels = [f"{fmt.date_text(ev.at[e, 'date'])}\n{e}" if e in ev.index else e for e in res.event_ids]
    ax.set_xticks(range(len(labels)), labels, rotation=0, ha="center", fontsize=7)  # horizontal, no overlap
    ax.set_title(ax.get_title(), fontsize=10)
    fig.tight_layout()
    return fig


def reaction_timeline_figure(res, window: str = "-1:1", groups=("named", "target", "supplier")):
    """Mean CAR[window] of each group at each event in date order; filled markers for actions,
    open markers for press reports; bars are 95% cross-sectional intervals (N >= 2)."""
    import matplotlib.pyplot as plt

    ev = events_frame(res).sort_values("date", kind="stable").reset_index(drop=True)
    c = requested_windows(res.car)
    c = c[c["window"] == window]
    fig, ax = plt.subplots(figsize=(PRINT_WIDTH, 3.4))
    offsets = np.linspace(-0.12, 0.12, len(groups)) if len(groups) > 1 else [0.0]
    for off, group in zip(offsets, groups):
        xs, ys, hs, kinds = [], [], [], []
        for i, row in ev.iterrows():
            v = c[(c["event_id"] == row["event_id"]) & _in_group(c, group)]["car"]
            v = v[np.isfinite(v.astype(float))]
            if not len(v):
                continue
            xs.append(i + off)
            ys.append(100 * v.mean())
            hs.append(100 * Z95 * v.std(ddof=1) / np.sqrt(len(v)) if len(v) >= 2 else 0.0)
            kinds.append(row["kind"])
        if not xs:
            continue
        color = group_color(group)
        ax.errorbar(xs, ys, yerr=hs, fmt="none", ecolor=color, alpha=0.6, capsize=3)
        ax.plot(xs, ys, color=color, lw=0.8, alpha=0.5)
        for x, y, k in zip(xs, ys, kinds):
            ax.plot([x], [y], marker="o", ms=6, color=color,
                    markerfacecolor=color if k == "action" else "white", markeredgewidth=1.5)
        ax.plot([], [], marker="o", color=color, lw=0.8, label=group_label(group))
    ax.plot([], [], marker="o", ls="none", color="black", label="action (filled)")
    ax.plot([], [], marker="o", ls="none", color="black", markerfacecolor="white", label="press report (open)")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(range(len(ev)), [f"{fmt.date_text(d)}\n{e}" for d, e in zip(ev["date"], ev["event_id"])],
                  fontsize=7)
    ax.set_ylabel(f"mean CAR{fmt.window_label(window)} (%)")
    ax.set_title(f"Reaction by event date: mean CAR{fmt.window_label(window)} with 95% interval", fontsize=10)
    ax.legend(fontsize=7.5, loc="best", ncol=2)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig
