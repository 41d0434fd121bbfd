"""PDF section "Across events": which announcements moved which groups, targets versus
suppliers, reports versus actions, 2019 versus 2022 (template block ``data.compare``)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import fmt
from analysis.inference.battery import describe, min_firms
from analysis.report import artifacts
from analysis.report.context import ReportInputs
from analysis.report.event import test_stars
from analysis.report.typst_tables import cell, table
from analysis.vocab import GROUP_ORDER, group_label


def _title(frame: pd.DataFrame, ev_id: str) -> str:
    """The event's short title (from the saved table; the id only if the table has none)."""
    if "short_title" in frame.columns and isinstance(frame["short_title"].iloc[0], str):
        return frame["short_title"].iloc[0]
    return ev_id


def moved_table(moved: pd.DataFrame, window: str, test: str) -> dict:
    """Mean CAR of each group at each event, with the group test's p (and the placebo p)."""
    wl = fmt.window_label(window)
    groups = [g for g in GROUP_ORDER if g in set(moved["group"])]
    has_placebo = "placebo_p" in moved.columns and moved["placebo_p"].notna().any()
    header = [[cell("Date", align="left"), cell("Event", align="left"), cell("Kind", align="left")]
              + [cell(f"{group_label(g)} %") for g in groups]]
    rows, absent = [], False
    for ev_id in dict.fromkeys(moved["event_id"]):
        m = moved[moved["event_id"] == ev_id]
        row = [cell(fmt.date_text(m["date"].iloc[0]), align="left"), cell(_title(m, ev_id), align="left"),
               cell(m["kind"].iloc[0], align="left")]
        for g in groups:
            r = m[m["group"] == g]
            if r.empty:
                row.append(cell(fmt.NA))
                absent = True
                continue
            r = r.iloc[0]
            if int(r["n"]) < min_firms(test) or not np.isfinite(r["p_value"]):
                row.append(cell(fmt.pct(r["mean_car"]), sub=f"(N = {int(r['n'])}, no test)"))
                continue
            sub = f"(p = {fmt.pvalue(r['p_value'])}{test_stars(test, r['p_value'])[0]}"
            if has_placebo and np.isfinite(r.get("placebo_p", np.nan)):
                sub += f"; placebo {fmt.pvalue(r['placebo_p'])}"
            row.append(cell(fmt.pct(r["mean_car"]), sub=sub + ")"))
        rows.append(row)
    what = ("CAR of the group's equal-weighted portfolio (as in The answer)" if test == "portfolio"
            else "mean CAR of the group's firms")
    note = (f"{what[0].upper() + what[1:]}{wl} in percent; unadjusted p-value of the {describe(test, 'description')} "
            f"(exploratory: only Holm-adjusted p on the answer page supports a claim)"
            + ("; placebo: two-sided p of the pseudo-event date test" if has_placebo else "")
            + f"; {fmt.STAR_NOTE}, next to the p they come from."
            + (f" {fmt.NA}: the event has no firm in that group (e.g. it named none)." if absent else ""))
    return table(["1.8cm", "3.4cm", "1.1cm"] + ["1fr"] * len(groups),
                 ["left", "left", "left"] + ["right"] * len(groups), header, rows,
                 caption=f"Which announcements moved which groups: mean CAR{wl}", size="8pt", note=note)


def targets_vs_suppliers_table(tvs: pd.DataFrame, window: str, test: str) -> dict:
    """Per event: the named firms' and the US suppliers' mean CAR with their p, and the difference."""
    header = [[cell("Date", align="left"), cell("Event", align="left"), cell("Named firms %"),
               cell("US suppliers %"), cell("Difference (pp)")]]
    rows, absent = [], False

    def car_cell(m, p):
        nonlocal absent
        if not np.isfinite(m):
            absent = True
            return cell(fmt.NA)
        return cell(fmt.pct(m), sub=f"(p = {fmt.pvalue(p)}{test_stars(test, p)[0]})" if np.isfinite(p) else "(no test)")

    for _, r in tvs.iterrows():
        rows.append([cell(fmt.date_text(r["date"]), align="left"), cell(_title(tvs.loc[[_]], r["event_id"]), align="left"),
                     car_cell(r["targets_mean_car"], r["targets_p"]), car_cell(r["suppliers_mean_car"], r["suppliers_p"]),
                     cell(fmt.pct(r["difference"]))])
    return table(["1.8cm", "4.6cm", "1fr", "1fr", "1fr"], ["left", "left", "right", "right", "right"],
                 header, rows, caption=f"Named firms versus US suppliers: mean CAR{fmt.window_label(window)}",
                 note=f"Group means in percent with the p-value of the {describe(test, 'description')} "
                      f"({fmt.STAR_NOTE}); difference = named firms minus US suppliers, in percentage points "
                      "(descriptive)." + (f" {fmt.NA}: the event named none of the studied firms." if absent else ""))


def pooled_table(frame: pd.DataFrame, by: str, title: str, window: str, test: str) -> dict:
    """Firm-events pooled by ``by`` (kind or year) per group: counts, mean and median CAR, share
    negative, events whose group test has p < 0.10 (descriptive)."""
    header = [[cell("Group", align="left"), cell(by.capitalize(), align="left"), cell("Events"), cell("Firm-events"),
               cell("Mean CAR %"), cell("Median CAR %"), cell("Share < 0 %"), cell("Events p < 0.10")]]
    rows, lines = [], []
    for g in [g for g in GROUP_ORDER if g in set(frame["group"])]:
        fg = frame[frame["group"] == g]
        lines.append(len(rows))
        for i, (_, r) in enumerate(fg.iterrows()):
            rows.append([cell(group_label(g) if i == 0 else "", align="left"), cell(str(r[by]), align="left"),
                         cell(str(int(r["events"]))), cell(str(int(r["firm_events"]))),
                         cell(fmt.pct(r["mean_car"])), cell(fmt.pct(r["median_car"])),
                         cell(fmt.num(100 * r['share_negative'], 0)),
                         cell(f"{int(r['events_significant_10'])} of {int(r['events_tested'])}")])
    return table(["2.4cm", "1.4cm", "1fr", "1fr", "1fr", "1fr", "1fr", "1.3fr"],
                 ["left", "left"] + ["right"] * 6, header, rows, caption=f"{title}: CAR{fmt.window_label(window)}",
                 note="Pooled over the firm-events of each class (descriptive: too few events per class "
                      f"for a test across classes). Last column: events whose group {describe(test, 'label')} "
                      "has p < 0.10.", lines=lines[1:])


def build(inputs: ReportInputs) -> dict:
    """Status, figures and tables of the comparison notebook (or its error)."""
    out = inputs.compare
    section = {"status": out.status}
    if out.error is not None:
        section["error"] = out.error
        return section
    window, test = inputs.headline.window, inputs.headline.test
    section["heatmap"] = out.figures.get(artifacts.HEATMAP.name)
    section["groups_figure"] = out.figures.get(artifacts.GROUPS_BY_EVENT.name)
    section["timeline_figure"] = out.figures.get(artifacts.REACTION_TIMELINE.name)
    if out.moved is not None and len(out.moved):
        section["moved_table"] = moved_table(out.moved, window, test)
    if out.tvs is not None and len(out.tvs):
        section["tvs_table"] = targets_vs_suppliers_table(out.tvs, window, test)
    for key, frame, by, title in (("kind_table", out.kinds, "kind", "Press reports versus government actions"),
                                  ("year_table", out.years, "year", "The reaction in 2019 and in 2022")):
        if frame is not None and not frame.empty:
            section[key] = pooled_table(frame, by, title, window, test)
    return section
