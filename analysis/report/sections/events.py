"""PDF section "Events": per event its CAR path, CAR by firm and window, the group tests and
abnormal volume (template block ``data.events``)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import fmt
from analysis.inference.battery import describe
from analysis.report.context import EventOutputs, ReportInputs
from analysis.report.sections.common import test_order, window_order
from analysis.report.typst_tables import cell, table
from analysis.vocab import GROUP_ORDER, ROLES, exchange_label, group_label


def firm_table_spec(firms: pd.DataFrame, windows: list[str], caption: str) -> dict:
    """CAR by firm (rows, grouped by role) and window (column groups: CAR % with s.e. below, t, p)."""
    header = [[cell("")] + [cell(f"CAR{fmt.window_label(w)}", colspan=3, align="center") for w in windows],
              [cell("Firm", align="left")] + [c for _ in windows for c in
                                                (cell("CAR %"), cell("t"), cell("p"))]]
    rows, lines = [], []
    notes = []
    records = firms.to_dict("records")
    at = {(r["symbol"], r["window"]): r for r in records}
    roles = list(dict.fromkeys(r["role"] for r in records))
    for role in [x for x in ROLES if x in roles] + sorted(set(roles) - set(ROLES)):
        symbols = list(dict.fromkeys(r["symbol"] for r in records if r["role"] == role))
        lines.append(len(rows))
        rows.append([cell(group_label(role), colspan=1 + 3 * len(windows), align="left", italic=True)])
        for sym in symbols:
            name = next(r["name"] for r in records if r["symbol"] == sym)
            mark = ""
            row = []
            for w in windows:
                r = at.get((sym, w))
                if r is None:
                    row += [cell("n/a"), cell(""), cell("")]
                    continue
                if r["note"]:
                    mark = "†"
                    notes.append(f"{sym} {fmt.window_label(w)}: {fmt.prose(r['note'])}")
                row += [cell(fmt.pct(r["car"]), sub=f"({fmt.pct(r['car_se'])})", sup=r["stars"] or None),
                        cell(fmt.num(r["t"])), cell(fmt.pvalue(r["p"]))]
            rows.append([cell(f"{name}{mark}", sub=sym, align="left")] + row)
    note = ("CAR and its standard error (in parentheses) in percent; t = CAR / s.e.; two-sided p from Student t "
            "with the estimation residual degrees of freedom. * p < 0.10, ** p < 0.05, *** p < 0.01.")
    if notes:
        note += " † " + "; ".join(dict.fromkeys(notes)) + "."
    width = f"{max(3.0, 17.4 - 1.17 * 3 * len(windows)):.2f}cm"
    return table([width] + ["1fr"] * (3 * len(windows)), ["left"] + ["right"] * (3 * len(windows)), header, rows,
                 caption=caption, size="7.5pt", note=note, lines=lines)


def test_table_spec(tests: pd.DataFrame, windows: list[str], caption: str) -> dict:
    """Group tests: rows (window, group), columns N, mean CAR %, then each registered test:
    statistic with stars, p below."""
    names = test_order(tests["test"])
    header = [[cell("Group", align="left"), cell("N"), cell("Mean CAR %")]
              + [cell(describe(t, "label")) for t in names]]
    rows, lines, untested = [], [], set()
    records = tests.to_dict("records")
    at = {(r["window"], r["group"], r["test"]): r for r in records}
    present = {(r["window"], r["group"]): int(r["n"]) for r in records}
    for w in windows:
        groups = [g for g in GROUP_ORDER if (w, g) in present]
        if not groups:
            continue
        lines.append(len(rows))
        rows.append([cell(f"Window {fmt.window_label(w)}", colspan=3 + len(names), align="left", italic=True)])
        for group in groups:
            n = present[(w, group)]
            if n < 2:
                untested.add(f"{group_label(group).lower()} (N = {n})")
                continue
            first = next(at[(w, group, t)] for t in names if (w, group, t) in at)
            row = [cell(group_label(group), align="left"), cell(str(n)), cell(fmt.pct(first["mean_car"]))]
            for t in names:
                r = at.get((w, group, t))
                if r is None or not np.isfinite(r["statistic"]):
                    row.append(cell("n/a"))
                else:
                    row.append(cell(fmt.num(r["statistic"]), sub=f"({fmt.pvalue(r['p_value'])})", sup=r["stars"] or None))
            rows.append(row)
    note = ("Statistic with its two-sided p-value in parentheses; * p < 0.10, ** p < 0.05, *** p < 0.01. "
            + "; ".join(f"{describe(t, 'label')}: {describe(t, 'description')}" for t in names) + ".")
    if untested:
        note += f" Not tested (fewer than 2 firms): {', '.join(sorted(untested))}."
    return table(["2.2cm", "0.7cm", "1.5cm"] + ["1fr"] * len(names), ["left", "right", "right"] + ["right"] * len(names),
                 header, rows, caption=caption, size="7.5pt", note=note, lines=lines)


def volume_table_spec(vol: pd.DataFrame | None, windows: list[str], caption: str) -> dict | None:
    """Mean cumulative abnormal log volume by group (rows) and window, test p below; None without data."""
    need = {"group", "window", "n", "mean_cav", "statistic", "p_value"}
    if vol is None or vol.empty or not need <= set(vol.columns):
        return None
    groups = [g for g in GROUP_ORDER if g in set(vol["group"])]
    header = [[cell("Group", align="left"), cell("N")] + [cell(f"{fmt.window_label(w)}") for w in windows]]
    rows = []
    for g in groups:
        vg = vol[vol["group"] == g]
        n = int(vg["n"].max()) if len(vg) else 0
        row = [cell(group_label(g), align="left"), cell(str(n))]
        for w in windows:
            r = vg[vg["window"] == w]
            if r.empty or not np.isfinite(r["mean_cav"].iloc[0]):
                row.append(cell("n/a"))
                continue
            r = r.iloc[0]
            p = r["p_value"]
            row.append(cell(fmt.num(r["mean_cav"]), sub=f"({fmt.pvalue(p)})" if np.isfinite(p) else "(no test)",
                            sup=fmt.stars(p) or None))
        rows.append(row)
    note = ("Mean cumulative abnormal log volume: the sum over the window's days of log(1 + volume) minus its "
            "estimation-window mean (on a one-day window 0.69 means twice the normal volume; over L days, "
            "exp(value / L) is the average daily multiple of normal volume). BMP-style test p in parentheses "
            "(Campbell & Wasley 1996).")
    return table(["2.6cm", "0.8cm"] + ["1fr"] * len(windows), ["left", "right"] + ["right"] * len(windows),
                 header, rows, caption=caption, size="7.5pt", note=note)


def event_windows(event: EventOutputs) -> list[str]:
    """The event's windows: as its notebook ran them (meta), else those of its firm table."""
    have = set(event.firms["window"])
    return [w for w in event.meta.get("windows", []) if w in have] or window_order(event.firms["window"])


def day0_text(event: EventOutputs) -> str:
    """'Shenzhen 2019-05-22; Nasdaq 2019-05-21' (empty without results)."""
    if not event.has_results:
        return ""
    return "; ".join(f"{exchange_label(k)} {v}" for k, v in sorted(event.meta.get("day0", {}).items()))


def event_section(event: EventOutputs) -> dict:
    """The data of one event's block: catalog entry, status, and its figure and tables (or the error)."""
    section = {k: (v if k != "date" else v.date().isoformat()) for k, v in event.info.items()}
    section["status"] = event.status
    if not event.has_results:
        section["error"] = event.error
        return section
    ev_id = event.event_id
    windows = event_windows(event)
    meta = event.meta
    section["windows"] = windows
    section["day0"] = day0_text(event)
    section["figure"] = event.figure
    section["firm_table"] = firm_table_spec(event.firms, windows, f"{ev_id}: CAR by firm and window")
    section["test_table"] = test_table_spec(event.tests, windows, f"{ev_id}: group tests")
    section["volume_table"] = volume_table_spec(event.volume, windows, f"{ev_id}: abnormal trading volume")
    skipped = meta.get("skipped", [])
    section["notes"] = [f"{s['symbol']} skipped: {s['reason']}" for s in skipped] + list(meta.get("notes", []))
    return section


def build(inputs: ReportInputs) -> list[dict]:
    """One block per event of the run, in run order."""
    return [event_section(e) for e in inputs.events]
