"""Comparing events: which announcements moved which groups, reports vs actions, named firms vs
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
from analysis.inference.battery import min_firms
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
    """Which announcements moved which groups: per (event, group) CAR[window] (``mean_car``:
    the portfolio's CAR_p for a test with its own estimate, ``portfolio``; else the firms' mean),
    n, the ``test`` statistic and p-value, its multiplicity adjustment when the results have one
    (``primary``, ``p_holm`` for the primary family, ``q_bh``) and the placebo p-value when present."""
    from analysis.report.event import group_cars

    t = res.tests[(res.tests["window"] == window)]
    main = t[t["test"] == test]
    main = main.assign(mean_car=group_cars(main))  # a test's own estimate (the portfolio's CAR_p), as "The answer"
    main = main[["event_id", "group", "n", "mean_car", "statistic", "p_value"]
                + [c for c in ("primary", "p_holm", "q_bh") if c in main.columns]]
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


def _styled(frame: pd.DataFrame, caption: str):
    from analysis.report.event import _styled as styled

    return styled(frame, caption)


def show_moved(table: pd.DataFrame):
    """:func:`group_event_table` for the notebook: one row per event (date, short title, kind),
    one column per group: mean CAR % with stars read from the printed p, and its p; no index."""
    from analysis.report.event import test_stars

    rows = []
    test = table["test"].iloc[0] if len(table) else ""
    groups = [g for g in GROUP_ORDER if g in set(table["group"])]
    events: dict = {}  # event_id -> (its first row, {group: its first row}), in table order
    for rec in table[["event_id", "date", "short_title", "kind", "group", "n", "mean_car",
                      "p_value"]].to_dict("records"):
        if not pd.isna(rec["event_id"]):  # as groupby: rows without an event are left out
            events.setdefault(rec["event_id"], (rec, {}))[1].setdefault(rec["group"], rec)
    for first, x in events.values():
        row = {"Date": fmt.date_text(first["date"]), "Event": first["short_title"], "Kind": first["kind"]}
        for g in groups:
            r = x.get(g)
            if r is None:
                row[f"{group_label(g)} %"] = fmt.NA
                continue
            tested = int(r["n"]) >= min_firms(test) and np.isfinite(r["p_value"])
            row[f"{group_label(g)} %"] = (fmt.pct(r["mean_car"]) + (test_stars(test, r["p_value"])[0] if tested else "")
                                          + ("" if tested else f" (N = {int(r['n'])}, no test)"))
            row[f"{group_label(g)} p"] = fmt.pvalue(r["p_value"]) if tested else fmt.NA
        rows.append(row)
    w = table["window"].iloc[0] if len(table) else ""
    return _styled(pd.DataFrame(rows), f"Mean CAR{fmt.window_label(w)} in percent of each group's firms; p of the "
                   f"group test; {fmt.STAR_NOTE}; n/a: the group has no firm at this event.")


def show_targets_vs_suppliers(tvs: pd.DataFrame):
    """:func:`targets_vs_suppliers` for the notebook (percent, units, no index)."""
    rows = []
    for _, r in tvs.iterrows():
        rows.append({"Date": fmt.date_text(r["date"]), "Event": r.get("short_title", r["event_id"]),
                     "Named firms %": fmt.pct(r["targets_mean_car"]) + fmt.stars(r["targets_p"]),
                     "Named firms p": fmt.pvalue(r["targets_p"]),
                     "US suppliers %": fmt.pct(r["suppliers_mean_car"]) + fmt.stars(r["suppliers_p"]),
                     "US suppliers p": fmt.pvalue(r["suppliers_p"]),
                     "Difference (pp)": fmt.pct(r["difference"])})
    return _styled(pd.DataFrame(rows), f"Mean CAR in percent; difference = named firms minus US suppliers, in "
                   f"percentage points (descriptive); {fmt.STAR_NOTE}; n/a: the event named none of the firms.")


def show_pooled(frame: pd.DataFrame, by: str):
    """:func:`kind_table` / :func:`year_table` for the notebook (percent, units, no index)."""
    rows = []
    for _, r in frame.iterrows():
        rows.append({"Group": group_label(r["group"]), by.capitalize(): str(r[by]), "Events": int(r["events"]),
                     "Firm-events": int(r["firm_events"]), "Mean CAR %": fmt.pct(r["mean_car"]),
                     "Median CAR %": fmt.pct(r["median_car"]), "Share < 0 %": fmt.num(100 * r["share_negative"], 0),
                     "Events p < 0.10": f"{int(r['events_significant_10'])} of {int(r['events_tested'])}"})
    return _styled(pd.DataFrame(rows), "Pooled over the firm-events of each class (descriptive).")


def _pooled(res, window: str, by: str, test: str) -> pd.DataFrame:
    ev = events_frame(res)
    c = requested_windows(res.car)
    c = c[c["window"] == window].merge(ev, on="event_id")
    c = c[np.isfinite(c["car"].astype(float))]
    g = group_event_table(res, window, test)
    rows = []
    keys = sorted(set(ev[by]))
    empty = g.iloc[:0]
    for group in GROUP_ORDER:
        cg = c[_in_group(c, group)]
        cars = {k: x for k, x in cg["car"].astype(float).groupby(cg[by].to_numpy(), sort=False)}
        tests = {k: e for k, e in g[g["group"] == group].groupby(by, sort=False)}
        for key in keys:
            x = cars.get(key)
            e = tests.get(key, empty)
            if x is None or not len(x):
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
    """Per event: targets' and suppliers' CAR[window] (as :func:`group_event_table`: the
    portfolio CAR for ``portfolio``) with their group-test p-values and their adjusted values
    (``*_p_holm`` primary family, ``*_q_bh``, when the results have them), and the difference
    (targets minus suppliers). The targets of an event are the firms it named (group ``named``)
    when ``data/event_firms.csv`` describes it, else the role ``target``."""
    g = group_event_table(res, window, test)
    named_events = set(g.loc[g["group"] == NAMED, "event_id"])
    g = g[~((g["group"] == "target") & g["event_id"].isin(named_events))].replace({"group": {NAMED: "target"}})
    ev = events_frame(res)
    out = ev[["event_id", "date", "kind", "short_title"]].copy()
    for group, tag in (("target", "targets"), ("supplier", "suppliers")):
        sub = g[g["group"] == group].set_index("event_id")
        out[f"{tag}_n"] = out["event_id"].map(sub["n"])
        out[f"{tag}_mean_car"] = out["event_id"].map(sub["mean_car"])
        out[f"{tag}_p"] = out["event_id"].map(sub["p_value"])
        for col in ("p_holm", "q_bh"):
            if col in sub.columns:
                out[f"{tag}_{col}"] = out["event_id"].map(sub[col])
    out["difference"] = out["targets_mean_car"] - out["suppliers_mean_car"]
    return out.sort_values("date", kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- figures


def heatmap_figure(res, window: str = "-1:1"):
    """CAR[window] (percent) of every firm at every event, sized for a page: events (short titles)
    by firms (names), or firms by events when firms outnumber events (a page is taller than
    wide); stars from the firm t-test's printed p, a dagger on flagged CARs.

    Cell labels legible at print size (white on dark cells): where a cell is wide enough the
    number (:data:`HEATMAP_NUMBER_SIZE`) with its stars and dagger beside it, larger and bold
    (:data:`HEATMAP_MARK_SIZE`); where it is only tall enough, the marks below the number; where
    it is neither (e.g. 30 firms x 19 events on a page), the marks alone: the colour gives the
    CAR, and each event's table by firm prints it (the title says so)."""
    import matplotlib.pyplot as plt

    from analysis.plots import plot_car_heatmap

    n_events = len(res.event_ids)
    n_firms = res.car.loc[res.car["window"] == window, "symbol"].nunique() if len(res.car) else 0
    rows_are_firms = n_firms > n_events
    n_rows, n_cols = (n_firms, n_events) if rows_are_firms else (n_events, n_firms)
    height = min(HEATMAP_MAX_HEIGHT, 2.3 + 0.40 * n_rows) if not rows_are_firms else \
        min(HEATMAP_MAX_HEIGHT, 3.2 + 0.30 * n_rows)
    fig, ax = plt.subplots(figsize=(PRINT_WIDTH, height))
    cells: list = []  # the labels are drawn once their size is known: not laid out, then replaced
    plot_car_heatmap(res, window=window, ax=ax, firms_as_rows=rows_are_firms, cells=cells)
    # the cells' size at print size (inches), from the axes' place on the page after the layout
    box = ax.get_position()
    cell_w = box.width * PRINT_WIDTH / max(1, n_cols)
    cell_h = box.height * height / max(1, n_rows)
    beside, below = cell_w >= 0.75, cell_w >= 0.32 and cell_h >= 0.3
    image = ax.images[0] if ax.images else None
    vmax = max(abs(image.norm.vmin), abs(image.norm.vmax)) if image is not None else None
    mark_style = {"va": "center", "fontsize": HEATMAP_MARK_SIZE, "fontweight": "bold"}
    marked = []  # (x, y, marks, style): drawn after every number, over them
    for x, y, label in cells:
        number = label.rstrip("*\u2020")
        marks = label[len(number):]
        value = float(number)
        colour = "white" if vmax and abs(value) > 0.6 * vmax else "black"
        if not (beside or below):
            if marks:  # alone in a small cell: a size that fits four marks in it
                marked.append((x, y, marks, mark_style | {"ha": "center", "fontsize": HEATMAP_SMALL_MARK_SIZE,
                                                          "color": colour}))
            continue
        if marks and beside:  # the number ends just right of the centre, its marks follow
            ax.text(x + 0.03, y, fmt.num(value, 1), ha="right", va="center", fontsize=HEATMAP_NUMBER_SIZE,
                    color=colour)
            marked.append((x + 0.07, y, marks, mark_style | {"ha": "left", "color": colour}))
        else:
            ax.text(x, y - 0.17 if marks else y, fmt.num(value, 1), ha="center", va="center",
                    fontsize=HEATMAP_NUMBER_SIZE, color=colour)
            if marks:
                marked.append((x, y + 0.24, marks, mark_style | {"ha": "center", "color": colour}))
    for x, y, marks, style in marked:
        ax.text(x, y, marks, **style)
    title = ax.get_title() + ("" if beside or below else "\ncolour: the CAR; each event's table by firm prints it")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


#: The heatmap's largest height (inches): what a page holds below its heading, with the caption.
HEATMAP_MAX_HEIGHT = 8.0
#: Font sizes (points, at print size) of the heatmap's numbers and of their stars and daggers
#: (beside or below a number, and alone in a cell too small for the number).
HEATMAP_NUMBER_SIZE, HEATMAP_MARK_SIZE, HEATMAP_SMALL_MARK_SIZE = 6.5, 8.5, 7.0


def groups_figure(res, window: str = "-1:1"):
    """Named firms vs US suppliers (and peers): portfolio CAR[window] per event with its 95% interval."""
    import matplotlib.pyplot as plt

    from analysis.plots import plot_groups_by_event

    fig, ax = plt.subplots(figsize=(PRINT_WIDTH, 3.8))
    plot_groups_by_event(res, window=window, ax=ax)
    ax.set_title(ax.get_title(), fontsize=10)
    fig.tight_layout()
    return fig


def reaction_timeline_figure(res, window: str = "-1:1", groups=("named", "target", "supplier")):
    """Portfolio CAR[window] of each group at each event in date order, with the portfolio
    test's 95% interval; filled markers for actions, open markers for press reports."""
    import matplotlib.pyplot as plt

    from analysis.plots import first_rows

    ev = events_frame(res).sort_values("date", kind="stable").reset_index(drop=True)
    t = res.tests
    pf = t[(t["test"] == "portfolio") & (t["window"] == window)] if "estimate" in t.columns else t.iloc[:0]
    fig, ax = plt.subplots(figsize=(PRINT_WIDTH, 3.8))
    offsets = np.linspace(-0.12, 0.12, len(groups)) if len(groups) > 1 else [0.0]
    found = first_rows(pf, ("event_id", "group"), ("estimate", "ci_low", "ci_high"))
    for off, group in zip(offsets, groups):
        xs, ys, lo, hi, kinds = [], [], [], [], []
        for i, (ev_id, kind) in enumerate(zip(ev["event_id"], ev["kind"])):
            r = found.get((ev_id, group))
            if r is None or not np.isfinite(r[0]):
                continue
            est, ci_low, ci_high = r
            xs.append(i + off)
            ys.append(100 * est)
            lo.append(100 * (est - ci_low))
            hi.append(100 * (ci_high - est))
            kinds.append(kind)
        if not xs:
            continue
        color = group_color(group)
        ax.errorbar(xs, ys, yerr=[lo, hi], fmt="none", ecolor=color, alpha=0.6, capsize=2)
        ax.plot(xs, ys, color=color, lw=0.8, alpha=0.5)
        for x, y, k in zip(xs, ys, kinds):
            ax.plot([x], [y], marker="o", ms=5, color=color,
                    markerfacecolor=color if k == "action" else "white", markeredgewidth=1.5)
        ax.plot([], [], marker="o", color=color, lw=0.8, label=group_label(group))
    ax.plot([], [], marker="o", ls="none", color="black", label="action (filled)")
    ax.plot([], [], marker="o", ls="none", color="black", markerfacecolor="white", label="press report (open)")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(range(len(ev)), [f"{t}" for t in ev["short_title"]], fontsize=6.5, rotation=35, ha="right")
    ax.set_ylabel(f"portfolio CAR{fmt.window_label(window)} (%)")
    ax.set_title(f"Reaction by event date: portfolio CAR{fmt.window_label(window)} with 95% interval", fontsize=10)
    ax.legend(fontsize=7.5, loc="best", ncol=2)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig
