"""PDF section "Across events": which announcements moved which groups, targets versus
suppliers, reports versus actions, 2019 versus 2022 (template block ``data.compare``)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import fmt
from analysis.inference.battery import describe, min_firms
from analysis.inference.pooled import NAMED_MINUS_PEER, POOLED_LABELS, POOLED_TESTS, observations
from analysis.report import artifacts
from analysis.report.context import ReportInputs
from analysis.report.event import test_stars
from analysis.report.sections.common import records
from analysis.report.typst_tables import cell, table
from analysis.vocab import GROUP_ORDER, PRIMARY_WINDOW, group_label


def _title(frame: pd.DataFrame, ev_id: str) -> str:
    """The event's short title (from the saved table; the id only if the table has none)."""
    if "short_title" in frame.columns and isinstance(frame["short_title"].iloc[0], str):
        return frame["short_title"].iloc[0]
    return ev_id


#: How each across-events table reads its adjusted values (the note says which a cell shows).
ADJUSTED_NOTE = ("below it the multiplicity-adjusted value: Holm's p for the per-event family (the portfolio test over "
                 "{primary} for the named firms and the US suppliers of every event of the run; normal-tail, "
                 "exploratory: a single event is claimed only when its move stands out against the firms' own "
                 "price history after Holm, and the answer to each question is the average across events, The "
                 "answer), else the Benjamini-Hochberg q over every cell of the test (exploratory)")
#: Why a group's portfolio CAR and the mean of its firms' CARs can differ.
PORTFOLIO_NOTE = ("the CAR of the group's equal-weighted portfolio, as in The answer and in each event's group tests "
                  "(it spreads a return that spans a suspension over the sessions it covers, so where a firm was "
                  "suspended it differs from the mean of the firms' own CARs in the heatmap and the pooled tables)")


def equals(name: str, p) -> str:
    """'p = 0.041' or 'p < 0.001' (the value as :func:`analysis.fmt.pvalue` prints it)."""
    text = fmt.pvalue(p)
    return f"{name} {text[0]} {text[1:]}" if text.startswith("<") else f"{name} = {text}"


def adjusted_text(p_holm, q_bh) -> str:
    """'Holm p = 0.520' for a primary row (finite ``p_holm``), else 'BH q = 0.310' (stars read
    from the value as printed); '' when neither is finite."""
    for name, v in (("Holm p", p_holm), ("BH q", q_bh)):
        if v is not None and np.isfinite(v):
            return f"{equals(name, v)}{fmt.stars(v)}"
    return ""


def _what(test: str) -> str:
    """What the CAR beside ``test`` is, in a caption: the portfolio's CAR or the firms' mean."""
    return "portfolio CAR" if test == "portfolio" else "mean CAR"


def _p_lines(test: str, p, p_holm=np.nan, q_bh=np.nan, extra: str = "") -> str:
    """'(p = 0.046)**' (stars after the parenthesis, as in every table of the PDF), then ``extra``,
    and on the next line the adjusted value (:func:`adjusted_text`)."""
    adj = adjusted_text(p_holm, q_bh)
    return f"({equals('p', p)}){test_stars(test, p)[0]}{extra}" + (f"\n{adj}" if adj else "")


def moved_table(moved: pd.DataFrame, window: str, test: str) -> dict:
    """CAR of each group at each event (the portfolio's for the portfolio test), with the group
    test's p, its multiplicity-adjusted value (and the placebo p)."""
    wl = fmt.window_label(window)
    groups = [g for g in GROUP_ORDER if g in set(moved["group"])]
    has_placebo = "placebo_p" in moved.columns and moved["placebo_p"].notna().any()
    has_adj = any(c in moved.columns and moved[c].notna().any() for c in ("p_holm", "q_bh"))
    header = [[cell("Date", align="left"), cell("Event", align="left"), cell("Kind", align="left")]
              + [cell(f"{group_label(g)} %") for g in groups]]
    rows, absent = [], False
    first: dict = {}  # (event, group) -> its first row
    for r in records(moved):
        first.setdefault((r["event_id"], r["group"]), r)
    for ev_id, m in moved.groupby("event_id", sort=False):
        row = [cell(fmt.date_text(m["date"].iloc[0]), align="left"), cell(_title(m, ev_id), align="left"),
               cell(m["kind"].iloc[0], align="left")]
        for g in groups:
            r = first.get((ev_id, g))
            if r is None:
                row.append(cell(fmt.NA))
                absent = True
                continue
            if int(r["n"]) < min_firms(test) or not np.isfinite(r["p_value"]):
                row.append(cell(fmt.pct(r["mean_car"]), sub=f"(N = {int(r['n'])}, no test)"))
                continue
            extra = (f" (placebo {fmt.pvalue(r['placebo_p'])})"
                     if has_placebo and np.isfinite(r.get("placebo_p", np.nan)) else "")
            row.append(cell(fmt.pct(r["mean_car"]),
                            sub=_p_lines(test, r["p_value"], r.get("p_holm", np.nan), r.get("q_bh", np.nan), extra)))
        rows.append(row)
    what = PORTFOLIO_NOTE if test == "portfolio" else "the mean CAR of the group's firms"
    note = (f"CAR{wl} in percent: {what}. In parentheses the unadjusted p of the {describe(test, 'description')}"
            + ("; " + ADJUSTED_NOTE.format(primary=fmt.window_label(PRIMARY_WINDOW)) if has_adj
               else " (exploratory: only Holm-adjusted p on the answer page supports a claim)")
            + ("; placebo: two-sided p of the pseudo-event date test" if has_placebo else "")
            + f". {fmt.STAR_NOTE}, next to the value they come from."
            + (f" {fmt.NA}: the event has no firm in that group (e.g. it named none)." if absent else ""))
    return table(["1.8cm", "3.4cm", "1.1cm"] + ["1fr"] * len(groups),
                 ["left", "left", "left"] + ["right"] * len(groups), header, rows,
                 caption=f"Which announcements moved which groups: {_what(test)}{wl}", size="8pt", note=note)


def targets_vs_suppliers_table(tvs: pd.DataFrame, window: str, test: str) -> dict:
    """Per event: the named firms' and the US suppliers' CAR (the portfolio's for the portfolio
    test) with their p and adjusted p, and the difference."""
    header = [[cell("Date", align="left"), cell("Event", align="left"), cell("Named firms %"),
               cell("US suppliers %"), cell("Difference (pp)")]]
    rows, absent = [], False
    has_adj = any(c in tvs.columns and tvs[c].notna().any()
                  for c in ("targets_p_holm", "targets_q_bh", "suppliers_p_holm", "suppliers_q_bh"))

    def car_cell(r, tag):
        nonlocal absent
        m, p = r[f"{tag}_mean_car"], r[f"{tag}_p"]
        if not np.isfinite(m):
            absent = True
            return cell(fmt.NA)
        if not np.isfinite(p):
            return cell(fmt.pct(m), sub="(no test)")
        return cell(fmt.pct(m), sub=_p_lines(test, p, r.get(f"{tag}_p_holm", np.nan), r.get(f"{tag}_q_bh", np.nan)))

    for _, r in tvs.iterrows():
        rows.append([cell(fmt.date_text(r["date"]), align="left"), cell(_title(tvs.loc[[_]], r["event_id"]), align="left"),
                     car_cell(r, "targets"), car_cell(r, "suppliers"), cell(fmt.pct(r["difference"]))])
    what = PORTFOLIO_NOTE if test == "portfolio" else "the mean CAR of the group's firms"
    return table(["1.8cm", "4.6cm", "1fr", "1fr", "1fr"], ["left", "left", "right", "right", "right"],
                 header, rows, caption=f"Named firms versus US suppliers: {_what(test)}{fmt.window_label(window)}",
                 note=f"CAR in percent: {what}. In parentheses the unadjusted p of the {describe(test, 'description')}"
                      + ("; " + ADJUSTED_NOTE.format(primary=fmt.window_label(PRIMARY_WINDOW)) if has_adj else "")
                      + f". {fmt.STAR_NOTE}, next to the value they come from. Difference = named firms minus US "
                      "suppliers, in percentage points (descriptive)."
                      + (f" {fmt.NA}: the event named none of the studied firms." if absent else ""))


def pooled_table(frame: pd.DataFrame, by: str, title: str, window: str, test: str) -> dict:
    """Firm-events pooled by ``by`` (kind or year) per group: counts, mean and median of the
    firms' own CARs (not the portfolio's), share negative, events whose group test has an
    unadjusted p < 0.10 (descriptive)."""
    header = [[cell("Group", align="left"), cell(by.capitalize(), align="left"), cell("Events"), cell("Firm-events"),
               cell("Mean firm CAR %"), cell("Median firm CAR %"), cell("Share < 0 %"), cell("Events p < 0.10")]]
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
                      "for a test across classes). Mean and median of the firms' own CARs, in percent (not the "
                      "groups' portfolio CAR of the tables above: a firm suspended in the window counts with its "
                      f"whole return at resumption). Last column: events whose group {describe(test, 'label')} "
                      "has an unadjusted p < 0.10.", lines=lines[1:])


def computed_with(moved: pd.DataFrame | None, window: str, test: str) -> tuple[str, str]:
    """The window and test the comparison notebook computed its tables with (the ``window`` and
    ``test`` columns of its saved table), so every caption names the rows' own window and test;
    the headline's when the table does not say."""
    if moved is not None and len(moved) and {"window", "test"} <= set(moved.columns):
        return str(moved["window"].iloc[0]), str(moved["test"].iloc[0])
    return window, test


#: Groups of the pooled-answers table: the two questions of The answer.
POOLED_GROUPS = ("named", "supplier")


def pooled_answers_table(pooled: pd.DataFrame | None, window: str = PRIMARY_WINDOW) -> dict | None:
    """The pooled answers behind The answer (pooled.csv, ``window``): per question group and
    scope (attributable: the answer; all events: the sensitivity) every pooled test with its
    events (as independent observations), estimate and 95% interval, statistic (d.f.), p and,
    on the primary rows, Holm's p; ``named_minus_peer`` last. None without pooled rows."""
    if pooled is None or pooled.empty:
        return None
    p = pooled[pooled["window"] == window]
    rows, lines = [], []
    order = [(g, t) for g in POOLED_GROUPS for t in POOLED_TESTS] + [("named", NAMED_MINUS_PEER)]
    for scope in ("attributable", "all"):
        for group, test in order:
            r = p[(p["scope"] == scope) & (p["group"] == group) & (p["test"] == test)]
            if r.empty:
                continue
            r = r.iloc[0]
            if test in (POOLED_TESTS[0], NAMED_MINUS_PEER):  # a rule above each group's first row
                lines.append(len(rows))
            n_ev = sum(len(o) for o in observations(r.get("event_ids")))
            obs = int(r["n_events"])
            events = f"{n_ev}" + (f" ({obs})" if obs != n_ev else "")
            unit = (lambda x: fmt.num(x, 2)) if test == "pooled_bmp" else (lambda x: fmt.pct(x))
            est = unit(r["estimate"]) if np.isfinite(r["estimate"]) else fmt.NA
            ci = (f"{unit(r['ci_low'])} to {unit(r['ci_high'])}" if np.isfinite(r.get("ci_low", np.nan)) else "")
            stat = ("" if not np.isfinite(r["statistic"]) else
                    fmt.num(r["statistic"], 0 if test == "pooled_sign" else 2)
                    + (f" ({fmt.num(r['dof'], 0)})" if np.isfinite(r.get("dof", np.nan)) else ""))
            holm = fmt.pvalue(r["p_holm"]) if np.isfinite(r.get("p_holm", np.nan)) else ""
            i2 = f"I² {fmt.num(100 * r['i2'], 0)}%" if np.isfinite(r.get("i2", np.nan)) else ""
            label = "Named minus peers" if test == NAMED_MINUS_PEER else group_label(group)
            rows.append([cell(label, align="left"), cell("attributable" if scope == "attributable" else "all events",
                                                         align="left"),
                         cell(POOLED_LABELS.get(test, test), align="left"), cell(events), cell(est), cell(ci),
                         cell(stat), cell(fmt.pvalue(r["p_value"]) if np.isfinite(r["p_value"]) else fmt.NA),
                         cell(holm), cell(i2)])
    if not rows:
        return None
    header = [[cell("Group", align="left"), cell("Events", align="left"), cell("Test", align="left"),
               cell("N (obs.)"), cell("Estimate"), cell("95% CI"), cell("Statistic (d.f.)"), cell("p"),
               cell("Holm p"), cell("")]]
    note = (f"CAR{fmt.window_label(window)} in percent across events (BMP: in standard errors; sign test: the "
            "median CAR and the number of negative CARs). N: events; in parentheses the independent "
            "observations when events share sessions (they count once, with the mean of their CARs). "
            "Attributable: the events whose move can be attributed (The answer); all events: a sensitivity. "
            "Holm p: the two primary rows (mean across events, attributable, named firms and US suppliers). "
            "I²: the share of the spread across events beyond sampling error (random effects).")
    return table(["2.2cm", "1.6cm", "3.6cm", "1.1cm", "1.2cm", "2.2cm", "1.6cm", "1.0cm", "1.0cm", "1fr"],
                 ["left", "left", "left", "right", "right", "right", "right", "right", "right", "right"],
                 header, rows, caption=f"The answers across events, CAR{fmt.window_label(window)}", size="7.5pt",
                 note=note, lines=lines[1:])


def build(inputs: ReportInputs) -> dict:
    """Status, figures and tables of the comparison notebook (or its error)."""
    out = inputs.compare
    section = {"status": out.status}
    if out.error is not None:
        section["error"] = out.error
        return section
    window, test = computed_with(out.moved, inputs.headline.window, inputs.headline.test)
    from analysis.report.sections.answer import pooled as pooled_csv

    if getattr(inputs, "root", None) is not None:  # the run's study folder holds pooled.csv
        section["pooled_table"] = pooled_answers_table(pooled_csv(inputs))
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
