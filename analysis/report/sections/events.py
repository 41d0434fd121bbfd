"""PDF section "Events": per event who was named and the groups, a price figure and the
portfolio CAR path, CAR by firm and window, the group tests and abnormal volume (template block
``data.events``). Flags are short notes next to the numbers they concern, each note once per
table (:class:`~analysis.report.sections.common.Notes`)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import fmt
from analysis.inference.battery import describe
from analysis.report.context import EventOutputs, ReportInputs
from analysis.report.event import (
    OVERSIZED_RULE,
    RUN_OVERSIZED_RULE,
    oversized,
    oversized_in_cell,
    small_p,
    supplier_moves_line,
    test_stars,
)
from analysis.report.sections.common import Notes, records as _records, sup, test_order, window_order
from analysis.report.typst_tables import cell, table
from analysis.vocab import GROUP_ORDER, exchange_label, group_color, group_label

#: The pointer under each event table to what every table shares (the box before the first event).
SEE_GUIDE = "Tests and stars: see How to read the tables."
#: Note heads of the flags (the same letters' meaning is spelled out under each table).
OVERLAP = "the window also holds day 0 of another event of the catalog"
DRIVER = "most of this CAR is one day other than day 0 (|AR| above 3 estimation s.d. and half the CAR)"
NEWS = "other news in the window (the study's record of other news)"
SUSPENSION = "a trading suspension: the return at resumption spans the suspended sessions"
LIMIT = "a close at the daily price limit (the reaction is censored that day)"
INCOMPLETE = "incomplete window: fewer returns than sessions; left out of the group tests"
LIMIT_EXTENDED = ("day-0 close at the daily price limit: the day-0 CAR is censored; beside it, the CAR until the "
                  "first close off the limit")


def _titles(titles: dict | None, ids: str) -> str:
    found = [t for t in (x.strip() for x in str(ids).split(";")) if t]
    return ", ".join((titles or {}).get(e, e) for e in found)


def _flag_marks(r: dict, notes: Notes, titles: dict | None, firm: str) -> list[str]:
    """Letters of the flags of one firm-window row (car_by_firm), with their details noted once."""
    marks = []
    ov = r.get("overlaps")
    if isinstance(ov, str) and ov.strip():
        marks.append(notes.mark("overlap", OVERLAP, _titles(titles, ov)))
    if bool(r.get("off_day0_driver", False)) and np.isfinite(r.get("driver_day", np.nan)):
        marks.append(notes.mark("driver", DRIVER, f"{firm} day {fmt.num(r['driver_day'], 0, signed=True)} "
                                                  f"(AR {fmt.pct(r['driver_ar'], 1)}%)"))
    cf = r.get("confounders")
    if isinstance(cf, str) and cf.strip():
        for what in cf.split(" | "):
            marks.append(notes.mark("news", NEWS, fmt.prose(what.strip())))
    if bool(r.get("spans_suspension", False)):
        first, last = r.get("suspension_first"), r.get("suspension_last")
        span = (f" {fmt.date_text(first)} to {fmt.date_text(last)}" if isinstance(first, str) and first
                and isinstance(last, str) and last else "")
        marks.append(notes.mark("suspension", SUSPENSION, f"{firm},{span}" if span else firm))
    lf = r.get("limit_flag")
    if isinstance(lf, str) and lf.strip():
        days = "; ".join(x.split(" (")[0].strip() for x in lf.split(";"))
        marks.append(notes.mark("limit", LIMIT, f"{firm} {fmt.prose(days)}"))
    if not bool(r.get("complete", True)):
        marks.append(notes.mark("incomplete", INCOMPLETE))
    return marks


def firm_table_spec(firms: pd.DataFrame, windows: list[str], caption: str, titles: dict | None = None) -> dict:
    """CAR by firm (rows, grouped by group) and window (column groups: CAR % with s.e. below, and
    p); flags as lettered notes next to the CAR they concern, each note once; beside a censored
    day-0 CAR, the limit-extended window's CAR. The note holds the table's own flags and a
    pointer to the reading guide (:func:`reading_guide` explains CAR, s.e., p and stars)."""
    records = _records(firms)
    limit = firms["limit_window"] if "limit_window" in firms.columns else pd.Series(dtype=object)
    # a censored day-0 CAR has a limit-extended window ("0:k"); NaN where none (an all-NaN float column)
    extended = [w for w in windows if w == "0:0"] if (limit.notna() & (limit.astype(str) != "")).any() else []
    cols_of = {w: 3 if w in extended else 2 for w in windows}
    header = [[cell("")] + [cell(f"CAR{fmt.window_label(w)}", colspan=cols_of[w], align="center") for w in windows],
              [cell("Firm", align="left")] + [c for w in windows for c in
                                                ((cell("CAR %"), cell("p"))
                                                 + ((cell("to limit end %", sub="window, p"),) if w in extended else ()))]]
    rows, lines = [], []
    notes = Notes()
    at = {(r["symbol"], r["window"]): r for r in records}
    key = "group" if "group" in firms.columns else "role"
    groups = list(dict.fromkeys(r[key] for r in records))
    ordered = [g for g in GROUP_ORDER if g in groups] + [g for g in groups if g not in GROUP_ORDER]
    width = 1 + sum(cols_of.values())
    name_of: dict = {}  # symbol -> the name on its first row
    for r in records:
        name_of.setdefault(r["symbol"], r["name"])
    for g in ordered:
        symbols = list(dict.fromkeys(r["symbol"] for r in records if r[key] == g))
        lines.append(len(rows))
        rows.append([cell(group_label(g), colspan=width, align="left", italic=True)])
        for sym in symbols:
            name = name_of[sym]
            short = fmt.short_name(name)
            row = []
            for w in windows:
                r = at.get((sym, w))
                if r is None:
                    row += [cell(fmt.NA), cell("")] + ([cell("")] if w in extended else [])
                    notes.mark("na", "n/a: no return of the firm in the window")
                    continue
                marks = _flag_marks(r, notes, titles, short)
                row += [cell(fmt.pct(r["car"]), sub=f"({fmt.pct(r['car_se'])})", sup=sup(fmt.stars(r["p"]), marks)),
                        cell(fmt.pvalue(r["p"]))]
                if w in extended:
                    lw = r.get("limit_window")
                    if isinstance(lw, str) and lw:
                        m = notes.mark("extended", LIMIT_EXTENDED)
                        row.append(cell(fmt.pct(r["limit_car"]),
                                        sub=f"{fmt.window_label(lw)} p {fmt.pvalue(r['limit_p'])}",
                                        sup=sup(fmt.stars(r["limit_p"]), [m])))
                    else:
                        row.append(cell(""))
            rows.append([cell(name, sub=sym, align="left")] + row)
    note = " ".join(x for x in ((notes.text() if notes else ""), SEE_GUIDE) if x)
    first = f"{max(3.0, 17.4 - 1.3 * (sum(cols_of.values()))):.2f}cm"
    return table([first] + ["1fr"] * sum(cols_of.values()), ["left"] + ["right"] * sum(cols_of.values()), header, rows,
                 caption=caption, size="7.5pt", note=note, lines=lines, breakable=True)


def _cell_flag_marks(flags: str, notes: Notes) -> list[str]:
    """Letters of a test row's ``flags`` (tests.csv: names joined by ';')."""
    heads = {"overlaps": ("overlap", "a firm of the group has another event's day 0 in the window"),
             "off_day0_driver": ("driver", "most of a member firm's CAR is one day other than day 0"),
             "confounders": ("news", "other news in the window for a member firm")}
    out = []
    for f in str(flags or "").split(";"):
        f = f.strip()
        if f in heads:
            out.append(notes.mark(*heads[f]))
    return out


#: Which tests a group-test table shows: those that hold their size in this design (the event
#: tables), the oversized ones (the appendix), or all.
HELD, OVERSIZED, ALL_TESTS = "held", "oversized", "all"
#: Where the oversized tests go, named in the event tables' note.
OVERSIZED_WHERE = "Appendix A (one table for all events)"


def shown_tests(names, scope: str = HELD) -> list[str]:
    """The tests of ``names`` (registry order) a table of ``scope`` shows: :data:`HELD` those
    that hold their size here, :data:`OVERSIZED` those "oversized here"
    (:func:`analysis.inference.design.oversized_here`), :data:`ALL_TESTS` every one."""
    names = test_order(names)
    if scope == ALL_TESTS:
        return names
    return [t for t in names if oversized(t) == (scope == OVERSIZED)]


def _test_cells(at: dict, w: str, group: str, names: list[str], has_cal: bool,
                compact: bool = False) -> tuple[list, bool]:
    """One group's test cells: statistic, its p in parentheses (below it; beside it when
    ``compact``) and the calibrated p in brackets below, stars next to the p they come from
    (:func:`analysis.report.event.test_stars`); (cells, whether a test did not apply)."""
    cells, any_na = [], False
    for t in names:
        r = at.get((w, group, t))
        if r is None or not np.isfinite(r["statistic"]):
            cells.append(cell(fmt.NA))
            any_na = True
            continue
        pc = r.get("p_calibrated", np.nan)
        st, stc = test_stars(t, r["p_value"], pc, r.get("size_5pct", np.nan))
        own = f"({fmt.pvalue(r['p_value'])}){st}"
        if not oversized(t) and oversized_in_cell(r.get("size_5pct", np.nan)):
            own += "†"
        cal = (f"[{fmt.pvalue(pc)}]{stc}" if np.isfinite(pc) else f"[{fmt.NA}]") if has_cal else ""
        if compact:
            cells.append(cell(f"{fmt.num(r['statistic'])} {own}", sub=cal or None))
        else:
            cells.append(cell(fmt.num(r["statistic"]), sub=own + (f"\n{cal}" if cal else "")))
    return cells, any_na


def history_text(row) -> str:
    """The history p of a portfolio row, with its floor, as printed under its CAR ('' without
    one): '\\nhist. p 0.00061 (floor 0.00061)' (:mod:`analysis.inference.history`)."""
    ph = row.get("p_history", np.nan)
    if ph is None or not np.isfinite(ph):
        return ""
    return f"\nhist. p {small_p(ph)} (floor {small_p(row.get('p_history_floor', np.nan))})"


def _has_cal(tests: pd.DataFrame) -> bool:
    return "p_calibrated" in tests.columns and tests["p_calibrated"].notna().any()


def test_table_spec(tests: pd.DataFrame, windows: list[str], caption: str, scope: str = HELD) -> dict:
    """Group tests: rows (window, group); columns N, the portfolio CAR % with its 95% interval,
    then each registered test of ``scope`` (:func:`shown_tests`; the event tables show the
    tests that hold their size here, the oversized ones are in the appendix,
    :func:`oversized_table_spec`): statistic, its p and its calibrated p below; stars next to
    the p they come from (:func:`analysis.report.event.test_stars`: an oversized test only from
    its calibrated p); flags as lettered notes on the group, each note once. The note holds what
    is particular to the table (its flags, why a test is n/a); what the tests are and the star
    rule are in the reading guide (:func:`reading_guide`), once."""
    every = test_order(tests["test"])
    names = shown_tests(every, scope)
    left_out = [t for t in every if t not in names]
    over = [t for t in names if oversized(t)]
    header = [[cell("Group", align="left"), cell("N"), cell("Portfolio CAR %")]
              + [cell(describe(t, "label"), sup="°" if t in over else None) for t in names]]
    rows, lines, untested = [], [], set()
    notes = Notes()
    records = _records(tests)
    at = {(r["window"], r["group"], r["test"]): r for r in records}
    present = {(r["window"], r["group"]): int(r["n"]) for r in records}
    has_cal = _has_cal(tests)
    any_na = False
    for w in windows:
        groups = [g for g in GROUP_ORDER if (w, g) in present]
        if not groups:
            continue
        lines.append(len(rows))
        rows.append([cell(f"Window {fmt.window_label(w)}", colspan=3 + len(names), align="left", italic=True)])
        for group in groups:
            n = present[(w, group)]
            first = next(at[(w, group, t)] for t in every if (w, group, t) in at)
            marks = _cell_flag_marks(first.get("flags", ""), notes)
            pf = at.get((w, group, "portfolio"))
            if pf is not None and np.isfinite(pf.get("estimate", np.nan)):
                pcell = cell(fmt.pct(pf["estimate"]), sub=f"[{fmt.pct(pf['ci_low'])}, {fmt.pct(pf['ci_high'])}]"
                             + history_text(pf))
            else:
                pcell = cell(fmt.pct(first["mean_car"]),
                             sup=notes.mark("mean", "no portfolio fit: the mean of the firms' CARs instead"))
            cells, na = _test_cells(at, w, group, names, has_cal)
            any_na |= na
            rows.append([cell(group_label(group), align="left", sup=sup("", marks)), cell(str(n)), pcell] + cells)
            if n < 2 and na:
                untested.add(f"{group_label(group)} (N = {n})")
    parts = [f"° {OVERSIZED_RULE}." if over else ""]
    if any(not oversized(r["test"]) and oversized_in_cell(r.get("size_5pct", np.nan)) for r in records
           if r["test"] in names):
        parts.append(f"† {RUN_OVERSIZED_RULE}.")
    if any_na:
        parts.append(f"{fmt.NA}: the test needs more firms than the group has"
                     + (f" ({', '.join(sorted(untested))})" if untested else "") + ".")
    parts.append(notes.text() if notes else "")
    parts.append(SEE_GUIDE[:-1] + ("; the tests oversized in this design are in Appendix A."
                                   if left_out and scope == HELD else "."))
    note = " ".join(x for x in parts if x)
    return table(["2.0cm", "0.5cm", "1.45cm"] + ["1fr"] * len(names), ["left", "right", "right"] + ["right"] * len(names),
                 header, rows, caption=caption, size="7pt", note=note, lines=lines, breakable=True)


def oversized_table_spec(events: list[EventOutputs]) -> dict | None:
    """The tests oversized in this design (:func:`shown_tests` :data:`OVERSIZED`) of every
    studied event, in one table: an event's title row, then rows (window, group) with N and
    each test's statistic, its p in parentheses (no stars) and its calibrated p in brackets
    (stars from it). None when no event has such a test."""
    studied = [e for e in events if e.has_results and e.tests is not None and len(e.tests)]
    names = shown_tests([t for e in studied for t in dict.fromkeys(e.tests["test"])], OVERSIZED)
    if not names:
        return None
    header = [[cell("Window", align="left"), cell("Group", align="left"), cell("N")]
              + [cell(describe(t, "label")) for t in names]]
    rows, lines, any_na = [], [], False
    has_cal = any(_has_cal(e.tests) for e in studied)
    for e in studied:
        records = _records(e.tests)
        at = {(r["window"], r["group"], r["test"]): r for r in records}
        present = {(r["window"], r["group"]): int(r["n"]) for r in records}
        lines.append(len(rows))
        rows.append([cell(e.info.get("short_title") or "", colspan=3 + len(names), align="left", bold=True)])
        for w in event_windows(e):
            groups = [g for g in GROUP_ORDER if (w, g) in present]
            for i, group in enumerate(groups):
                cells, na = _test_cells(at, w, group, names, has_cal, compact=True)
                any_na |= na
                rows.append([cell(fmt.window_label(w) if i == 0 else "", align="left"),
                             cell(group_label(group), align="left"), cell(str(present[(w, group)]))] + cells)
    note = ("The tests whose size in this study's design exceeds 7% (Methods), left out of the event tables: "
            "statistic and its two-sided p in parentheses (no stars: in this design these p-values are too small)"
            + ("; calibrated p in brackets (the same test at pseudo-event dates of the firms' own histories), "
               f"with stars ({fmt.STAR_NOTE})" if has_cal else "")
            + ". " + "; ".join(f"{describe(t, 'label')}: {describe(t, 'description')}" for t in names) + "."
            + (f" {fmt.NA}: the test needs more firms than the group has." if any_na else ""))
    return table(["1.5cm", "2.0cm", "0.6cm"] + ["1fr"] * len(names), ["left", "left", "right"] + ["right"] * len(names),
                 header, rows, caption="Tests oversized in this design, every event", size="7pt", note=note,
                 lines=lines[1:], breakable=True)


def volume_table_spec(vol: pd.DataFrame | None, windows: list[str], caption: str) -> dict | None:
    """Mean cumulative abnormal log volume by group (rows) and window, test p below; None without
    data. What CAV is and its test are explained once, in the reading guide (:data:`VOLUME_NOTE`)."""
    need = {"group", "window", "n", "mean_cav", "statistic", "p_value"}
    if vol is None or vol.empty or not need <= set(vol.columns):
        return None
    groups = [g for g in GROUP_ORDER if g in set(vol["group"])]
    header = [[cell("Group", align="left"), cell("N")] + [cell(f"CAV{fmt.window_label(w)}", sub="log units")
                                                          for w in windows]]
    n_max = vol.groupby("group", sort=False)["n"].max().to_dict()
    first: dict = {}  # (group, window) -> its first row
    for r in vol[["group", "window", "mean_cav", "p_value"]].itertuples(index=False):
        first.setdefault((r.group, r.window), r)
    rows = []
    for g in groups:
        row = [cell(group_label(g), align="left"), cell(str(int(n_max[g])))]
        for w in windows:
            r = first.get((g, w))
            if r is None or not np.isfinite(r.mean_cav):
                row.append(cell(fmt.NA))
                continue
            p = r.p_value
            row.append(cell(fmt.num(r.mean_cav), sub=f"({fmt.pvalue(p)})" if np.isfinite(p) else "(no test)",
                            sup=fmt.stars(p) or None))
        rows.append(row)
    return table(["2.6cm", "0.8cm"] + ["1fr"] * len(windows), ["left", "right"] + ["right"] * len(windows),
                 header, rows, caption=caption, size="7.5pt", note="CAV: see How to read the tables.")


#: The abnormal-volume tables' legend, printed once in the reading guide.
VOLUME_NOTE = ("mean cumulative abnormal log volume of the group (abnormal-volume tables): the sum over the window's "
               "days of log(1 + volume) minus its estimation-window mean (on a one-day window 0.69 means twice the "
               "normal volume; over L days, exp(value / L) is the average daily multiple of normal volume); the p "
               "of a BMP-style test in parentheses (Campbell & Wasley 1996).")


def event_windows(event: EventOutputs) -> list[str]:
    """The event's windows: as its notebook ran them (meta), else those of its firm table."""
    have = set(event.firms["window"])
    return [w for w in event.meta.get("windows", []) if w in have] or window_order(event.firms["window"])


def day0_text(event: EventOutputs) -> str:
    """'Shenzhen 22 May 2019; Nasdaq 21 May 2019' (empty without results)."""
    if not event.has_results:
        return ""
    return "; ".join(f"{exchange_label(k)} {fmt.date_text(v)}" for k, v in sorted(event.meta.get("day0", {}).items()))


#: What each group is, in one line (the firms follow).
GROUP_DEFINITIONS = {
    "named": "the firms this event named",
    "target": "the study's Chinese target firms (universe role; no list of who this event named)",
    "peer": "the other Chinese firms of the study, not named by this event",
    "supplier": "US suppliers of the firms this event named (the study's record of supply links; for an event "
                "without recorded links, every US supplier of the study), not named",
    "supplier_other": "US suppliers of the study with no recorded link to a firm this event named",
    "removed": "firms this act took off a list they were on (reported, never in the primary family)",
    "all": "every firm above",
}


def named_text(meta: dict) -> str:
    """Who the event named, by name, and what says so (data/event_firms.csv)."""
    named = meta.get("named") or []
    unlisted = [f"{c} (not a listed firm of the study; its US suppliers form the supplier group)"
                for c in meta.get("named_unlisted") or []]
    source = "; ".join(meta.get("named_source") or [])
    if named or unlisted:
        who = fmt.and_list(named + unlisted)
    elif meta.get("described"):
        who = "none of the studied firms"
    else:
        return "Who this event named is not recorded (data/event_firms.csv); its firms are grouped by their role."
    return f"Named: {who}" + (f" (source: {source})" if source else "") + "."


def group_lines(meta: dict) -> list[dict]:
    """One line per group: label, size, definition, members by name."""
    out = []
    for g, members in (meta.get("groups") or {}).items():
        names = ", ".join(fmt.short_name(m["name"]) for m in members)
        out.append({"group": g, "label": group_label(g), "n": len(members), "color": _hex(group_color(g)),
                    "text": f"{GROUP_DEFINITIONS.get(g, '')}" + (f": {names}" if g != "all" else f" ({len(members)})")})
    return out


def _hex(color: str) -> str:
    from matplotlib.colors import to_hex

    return to_hex(color)


def event_section(event: EventOutputs, titles: dict | None = None, firm_names: dict | None = None) -> dict:
    """The data of one event's block: catalog entry, who was named, the groups, status, its
    figures and tables (or the error). ``titles``: event id -> short title (for overlap notes)."""
    info = dict(event.info)
    info["title"] = fmt.public_source(info.get("title", ""))
    info["source"] = fmt.public_source(info.get("source", ""))
    section = {k: (v if k != "date" else v.date().isoformat()) for k, v in info.items() if k != "event_id"}
    section["status"] = event.status
    if not event.has_results:
        section["error"] = event.error
        return section
    windows = event_windows(event)
    meta = event.meta
    name = event.info.get("short_title") or event.event_id
    section["windows"] = windows
    section["day0"] = day0_text(event)
    section["named"] = named_text(meta)
    section["groups"] = group_lines(meta)
    section["figure"] = event.figure
    section["price_figure"] = event.price_figure
    section["exposure_figure"] = event.exposure_figure
    section["supplier_moves"] = supplier_moves_line(event.firms)
    section["firm_table"] = firm_table_spec(event.firms, windows, f"{name}: CAR by firm and window", titles)
    section["test_table"] = test_table_spec(event.tests, windows, f"{name}: group tests")
    section["volume_table"] = volume_table_spec(event.volume, windows, f"{name}: abnormal trading volume")
    names = dict(firm_names or {})
    if len(event.firms):
        names.update(zip(event.firms["symbol"], event.firms["name"]))
    skipped = meta.get("skipped", [])
    # the notebook's robustness notes are the same for every event: the robustness section gives them once
    section["notes"] = [f"{names.get(s['symbol'], s['symbol'])} not studied: {s['reason']}" for s in skipped]
    return section


def build(inputs: ReportInputs) -> list[dict]:
    """One block per event of the run, in run order."""
    cat = inputs.run.catalog
    titles = dict(zip(cat["event_id"], cat["short_title"])) if "short_title" in cat.columns else {}
    names = dict(zip(inputs.universe["symbol"], inputs.universe["name"])) if inputs.universe is not None else {}
    return [event_section(e, titles, names) for e in inputs.events]


def oversized_appendix(inputs: ReportInputs) -> dict:
    """Appendix A: the oversized tests of every studied event (:func:`oversized_table_spec`)."""
    from analysis.inference.design import oversized_here

    return {"table": oversized_table_spec(inputs.events),
            "names": ", ".join(describe(t, "label") for t in shown_tests(oversized_here(), OVERSIZED))}


def present_groups(events: list[EventOutputs]) -> list[str]:
    """The groups of the tables of ``events`` (group tests, firms, volume), in display order."""
    have: set = set()
    for e in events:
        for frame in (e.tests, e.volume, e.firms, e.robust):
            if frame is not None and "group" in frame.columns:
                have.update(frame["group"].dropna())
    return [g for g in GROUP_ORDER if g in have] + sorted(str(g) for g in have - set(GROUP_ORDER))


def reading_guide(inputs: ReportInputs) -> dict:
    """The box "How to read the tables", printed before the first event table: what the
    numbers are (days, CAR, portfolio CAR, p, calibrated p, stars, adjusted p), the tests of the
    event tables in plain words (registry ``plain``), the oversized ones (appendix), the abnormal
    volume (when an event has it), and the groups of the run's tables with their colours
    (:mod:`analysis.vocab`; :func:`present_groups`)."""
    from analysis.inference.battery import REGISTRY
    from analysis.vocab import PRIMARY_WINDOW

    have = [t for e in inputs.studied if e.tests is not None for t in dict.fromkeys(e.tests["test"])]
    names = test_order(have) if have else list(REGISTRY)
    primary = fmt.window_label(PRIMARY_WINDOW)
    numbers = [
        ("Days", "day 0 is the first session after the news on the firm's own exchange; a window such as "
                 f"{primary} is day 0 and the next session; windows count sessions, not calendar days."),
        ("CAR %", "cumulative abnormal return in percent: the return beyond what the firm's market model predicts, "
                  "summed over the window; in the tables by firm, its standard error in parentheses below and the "
                  "two-sided p of t = CAR / s.e. (Student t with the estimation residual degrees of freedom) beside "
                  "it."),
        ("Portfolio CAR %", "the CAR of the group's equal-weighted portfolio, its 95% t-interval [low, high] below; "
                            "where a firm was suspended it differs from the mean of the firms' own CARs (the "
                            "portfolio spreads the return at resumption over the sessions it spans)."),
        ("(p)", "two-sided p-value of the test, in parentheses under its statistic; not adjusted for the number of "
                "tests."),
        ("[p]", "calibrated p, in brackets: how often the same test, run at pseudo-event dates drawn from the same "
                "firms' histories away from every catalog event, is at least as extreme; it stays valid on these "
                "few correlated firms where a test's own p does not."),
        ("hist. p", "history p, under the portfolio CAR: the share of all windows of the same length in the "
                    "group's whole price history (away from this event and from every catalog event's day 0) whose "
                    "abnormal return is at least as large in absolute value, counting this one; it assumes nothing "
                    "about the returns' tails, and cannot fall below its floor, 1 / (1 + the number of windows)."),
        ("Stars", f"{fmt.STAR_NOTE}, next to the value they come from; a test oversized here gets stars only from "
                  "its calibrated p."),
        ("Holm p, BH q", f"adjusted for the number of tests (Across events): Holm's p over the per-event family (the "
                         f"portfolio test over {primary} for the named firms and the US suppliers of every event); "
                         "a single event is claimed only when Holm's p on its history p (hist. p) is below 5% and "
                         "its move can be attributed; each question's answer is the average across events (The "
                         "answer); the Benjamini-Hochberg q of every other cell is exploratory."),
        (fmt.NA, "the test needs more firms than the group has, or the firm has no return in the window."),
    ]
    if any(e.volume is not None and len(e.volume) for e in inputs.studied):
        numbers.append(("CAV", VOLUME_NOTE))
    groups = [{"label": group_label(g), "color": _hex(group_color(g)), "text": GROUP_DEFINITIONS.get(g, "")}
              for g in present_groups(inputs.studied)]
    return {
        "numbers": [{"head": h, "text": t} for h, t in numbers],
        "tests": [{"label": describe(t, "label"), "text": describe(t, "plain") or describe(t, "description")}
                  for t in shown_tests(names, HELD)],
        "oversized": [{"label": describe(t, "label"), "text": describe(t, "plain") or describe(t, "description")}
                      for t in shown_tests(names, OVERSIZED)],
        "oversized_where": OVERSIZED_WHERE,
        "groups": groups,
    }
